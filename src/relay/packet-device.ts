// What the relay needs from a device: TunDevice provides it, and device wrappers (capture,
// fault injection, smoltcp phy/ style) can provide it around another device.
import type { PacketBatch } from '../tun/tun-device.js';

export interface PacketWriter {
  /** Writes batch packets 0..count-1; returns how many were written. */
  writeBatch(batch: PacketBatch): number;
  /** Writes packets i = buffer[offsets[i], +lengths[i]) for i < count; returns how many were written. */
  writePackets(buffer: Uint8Array, offsets: Uint32Array, lengths: Uint32Array, count: number): number;
}

export interface PacketDevice extends PacketWriter {
  readonly name: string;
  /** Bytes of virtio_net_hdr in front of every packet (0: none). */
  readonly vnetHdrLen: number;
  start(onBatch: (batch: PacketBatch) => void, onError: (err: Error) => void): void;
  /** Queue writes to a writer thread of the device's own while on (TunDevice.setWriteBehind). */
  setWriteBehind?(on: boolean): void;
  close(): void;
}
