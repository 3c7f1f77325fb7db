// Types of the ftcp_tun addon (native/src/tun); only tun-device.ts talks to it.
import { loadAddon } from '../native/load.js';

export interface NativePoolSlot {
  buffer: Uint8Array;
  offsets: Uint32Array;
  lengths: Uint32Array;
}

export interface NativeTunHandle {
  readonly name: string;
  readonly vnetHdrLen: number;
  readonly offloads: number;
  readonly fd: number;
  /** Index of the handle among this thread's open handles (for NativeTunAddon.writePackets). */
  readonly id: number;
  start(
    pool: NativePoolSlot[],
    dispatch: (slot: number, count: number, error?: Error) => void,
    mode?: 'thread' | 'loop',
    busyPollUs?: number,
  ): void;
  writeBatch(buffer: Uint8Array, offsets: Uint32Array, lengths: Uint32Array, count: number): number;
  write(packet: Uint8Array): boolean;
  close(): void;
  ref(): void;
  unref(): void;
  stats(): { writeErrors: number; lastWriteError: string | null; writeBehindWritten: number; writeBehindDropped: number };
  setWriteBehind(on: boolean): void;
  kickWriteBehind(): void;
  busyPollStats(): { spins: number; hits: number; misses: number; yields: number; windowUs: number } | null;
}

export interface NativeTunAddon {
  TunHandle: new (options: {
    name: string;
    netns?: string;
    mtu?: number;
    vnetHdr?: boolean;
    txQueueLen?: number;
  }) => NativeTunHandle;
  /** handle.writeBatch as a plain function of the handle's id: the hot write path, cheaper per call. */
  writePackets(id: number, buffer: Uint8Array, offsets: Uint32Array, lengths: Uint32Array, count: number): number;
  /** Size of the vnet header the addon configures (TUNSETVNETHDRSZ). */
  vnetHdrLen: number;
  /** Free room the reader keeps at the end of a batch buffer so no packet is truncated. */
  packetReserve: number;
}

let addon: NativeTunAddon | undefined;

export function tunAddon(): NativeTunAddon {
  addon ??= loadAddon<NativeTunAddon>('ftcp_tun');
  return addon;
}
