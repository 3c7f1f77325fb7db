// The per-packet stage of the relay. A PacketPath sees every batch read from one side and
// decides what goes out of the other side; wrappers (capture writer, fault injector, the TCP
// segment stage) compose by wrapping a PacketPath and/or the PacketOutput it writes to, in the
// manner of smoltcp's phy/ devices.
import type { PacketBatch } from '../tun/tun-device.js';

/** inbound: outer TUN → inner TUN (client → app); outbound: inner TUN → outer TUN (app → client). */
export type Direction = 'inbound' | 'outbound';

export const DIRECTIONS: readonly Direction[] = ['inbound', 'outbound'];

/**
 * Where a PacketPath sends packets. Everything sent during process() is written, in order,
 * before the batch memory is recycled; a packet held for later (delay/store) must be copied
 * by the path and sent through Relay.inject().
 */
export interface PacketOutput {
  /** Forwards packet `index` of the batch being processed (possibly modified in place). */
  transmit(batch: PacketBatch, index: number): void;
  /** Forwards every packet of the batch (the pass-through fast path: one batched write). */
  transmitAll(batch: PacketBatch): void;
  /** Sends bytes from any buffer (a rewritten or synthesized packet, incl. vnet header if any). */
  send(buffer: Buffer, offset: number, length: number): void;
}

export interface PacketPath {
  /** Called once per batch read from the `direction`'s source device. */
  process(batch: PacketBatch, direction: Direction, out: PacketOutput): void;
}

/** Forwards everything unchanged. */
export class PassThroughPath implements PacketPath {
  process(batch: PacketBatch, _direction: Direction, out: PacketOutput): void {
    out.transmitAll(batch);
  }
}
