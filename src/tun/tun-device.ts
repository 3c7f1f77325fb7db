// A TUN device read by a native thread (or the event loop) in batches and written in batches:
// synchronously, or through its writer thread while write-behind is on.
import { tunAddon, type NativeTunAddon, type NativeTunHandle } from './native-tun.js';
import { TunError } from './tun-error.js';

export interface TunOpenOptions {
  /** Interface name (1..15 bytes; `%d` lets the kernel pick a number). */
  name: string;
  /** Open the device inside /var/run/netns/<netns> (the caller's namespace is not changed). */
  netns?: string;
  /** MTU to set; the kernel default (1500) when omitted. */
  mtu?: number;
  /** IFF_VNET_HDR with checksum + TSO offload: packets carry a 12-byte virtio_net_hdr, up to 64 KiB. */
  vnetHdr?: boolean;
  /** Most packets per batch handed to JS (default 64). */
  batchPackets?: number;
  /** Batch buffers in the pool (default 4); when all are in use the reader waits (backpressure). */
  poolSize?: number;
  /** Bytes per batch buffer (default: batchPackets MTU-sized packets, or 1 MiB with vnetHdr). */
  batchBytes?: number;
  /** Kernel transmit queue length of the device (packets waiting to be read); kernel default 500. */
  txQueueLen?: number;
  /**
   * Who reads the fd. 'thread' (default): a dedicated native thread reads ahead while JS works
   * — best throughput. 'loop': the JS thread's event loop polls the fd and reads a batch when it
   * is readable — one thread wake-up less per packet crossing (lower latency at light load),
   * no read-ahead (lower throughput under load). The batch contract is the same.
   */
  reader?: 'thread' | 'loop';
  /**
   * With reader 'loop': after a batch, keep reading this thread's loop-read devices for up to
   * this many microseconds before going back to sleep, so a reply that follows closely is read
   * without a wake-up. Adaptive (0 on an idle relay; see docs/TUN.md). Default 0: never spin.
   */
  busyPollUs?: number;
}

/**
 * Packets read in one go. Packet i is buffer[offsets[i] .. offsets[i] + lengths[i]) and, with a
 * vnet header, starts with it. Valid only during the callback that receives it: the memory is
 * reused for a later batch as soon as the callback returns (copy what must outlive it).
 */
export interface PacketBatch {
  buffer: Buffer;
  offsets: Uint32Array;
  lengths: Uint32Array;
  count: number;
}

export interface TunStats {
  /** Packets the kernel refused in write/writeBatch (bad packet, device down...). */
  writeErrors: number;
  lastWriteError: string | null;
  /** Packets the writer thread wrote (write-behind). */
  writeBehindWritten: number;
  /** Packets write-behind dropped: its queue was full, or the kernel said EAGAIN. */
  writeBehindDropped: number;
}

export interface BusyPollStats {
  /** Spins started after a batch. */
  spins: number;
  /** Batches read while spinning (each saved a sleep and a wake-up). */
  hits: number;
  /** Spins that ran out of window and went to sleep. */
  misses: number;
  /** Spins that gave the event loop a turn (other I/O ready, timer due, 200 µs cap) and resumed. */
  yields: number;
  /** The current adaptive window. */
  windowUs: number;
}

const DEFAULT_BATCH_PACKETS = 64;
const DEFAULT_POOL_SIZE = 4;
const VNET_BATCH_BYTES = 1 << 20;

export class TunDevice {
  readonly name: string;
  readonly vnetHdr: boolean;
  /** 0 when no vnet header. */
  readonly vnetHdrLen: number;
  /** TUN_F_* offload flags the kernel accepted (0 without vnet header). */
  readonly offloads: number;
  /** Who reads the fd (see TunOpenOptions.reader). */
  readonly reader: 'thread' | 'loop';
  private readonly busyPollUs: number;
  private readonly handle: NativeTunHandle;
  private readonly addon: NativeTunAddon;
  private readonly pool: PacketBatch[];
  private started = false;
  private closed = false;
  /** Write-behind is on, and a kick of the writer thread is scheduled for this loop turn. */
  private writeBehind = false;
  private kickScheduled = false;
  private readonly kick = (): void => {
    this.kickScheduled = false;
    if (!this.closed) this.handle.kickWriteBehind();
  };

  private constructor(handle: NativeTunHandle, pool: PacketBatch[], reader: 'thread' | 'loop', busyPollUs: number) {
    this.handle = handle;
    this.addon = tunAddon();
    this.reader = reader;
    this.busyPollUs = busyPollUs;
    this.name = handle.name;
    this.vnetHdrLen = handle.vnetHdrLen;
    this.vnetHdr = handle.vnetHdrLen > 0;
    this.offloads = handle.offloads;
    this.pool = pool;
  }

  /** Opens (creates or attaches to) the device, sets the MTU, brings it up. Throws TunError. */
  static open(opts: TunOpenOptions): TunDevice {
    const batchPackets = positiveInt(opts.batchPackets, DEFAULT_BATCH_PACKETS, 'batchPackets');
    const reader = opts.reader ?? 'thread';
    if (reader !== 'thread' && reader !== 'loop') throw new RangeError(`TunDevice.open: reader must be 'thread' or 'loop'`);
    const busyPollUs = opts.busyPollUs ?? 0;
    if (!Number.isInteger(busyPollUs) || busyPollUs < 0 || busyPollUs > 1_000_000) {
      throw new RangeError('TunDevice.open: busyPollUs must be an integer 0..1000000');
    }
    // The loop reader fills one batch at a time and hands it over synchronously.
    const poolSize = reader === 'loop' ? 1 : positiveInt(opts.poolSize, DEFAULT_POOL_SIZE, 'poolSize');
    if (poolSize > 64) throw new RangeError('TunDevice.open: poolSize must be at most 64');
    const addon = tunAddon();
    const slotBytes = ((opts.mtu ?? 1500) + (opts.vnetHdr ? addon.vnetHdrLen : 0) + 7) & ~7;
    const batchBytes = Math.max(
      addon.packetReserve,
      opts.batchBytes ?? (opts.vnetHdr ? VNET_BATCH_BYTES : batchPackets * slotBytes + addon.packetReserve),
    );
    let handle: NativeTunHandle;
    try {
      handle = new addon.TunHandle({
        name: opts.name,
        ...(opts.netns !== undefined ? { netns: opts.netns } : {}),
        ...(opts.mtu !== undefined ? { mtu: opts.mtu } : {}),
        ...(opts.txQueueLen !== undefined ? { txQueueLen: opts.txQueueLen } : {}),
        vnetHdr: opts.vnetHdr === true,
      });
    } catch (err) {
      throw TunError.from(err);
    }
    const pool: PacketBatch[] = [];
    for (let i = 0; i < poolSize; i++) {
      pool.push({
        buffer: Buffer.allocUnsafeSlow(batchBytes),
        offsets: new Uint32Array(batchPackets),
        lengths: new Uint32Array(batchPackets),
        count: 0,
      });
    }
    return new TunDevice(handle, pool, reader, busyPollUs);
  }

  /**
   * Starts the reader thread. onBatch gets every batch (one call per batch, on the JS thread);
   * onError gets a read failure (the reader stops then) or an exception thrown by onBatch.
   */
  start(onBatch: (batch: PacketBatch) => void, onError: (err: Error) => void): void {
    if (this.closed) throw new TunError(`TUN device ${this.name} is closed`, 'EBADF', -9, 'start');
    if (this.started) throw new TunError(`TUN device ${this.name} is already started`, 'EBUSY', -16, 'start');
    const pool = this.pool;
    const dispatch = (slot: number, count: number, error?: Error): void => {
      if (slot < 0) {
        onError((TunError.from(error) as Error | undefined) ?? new Error(`TUN device ${this.name}: read failed`));
        return;
      }
      const batch = pool[slot]!;
      batch.count = count;
      try {
        onBatch(batch);
      } catch (err) {
        onError(err instanceof Error ? err : new Error(String(err)));
      }
    };
    try {
      this.handle.start(pool, dispatch, this.reader, this.busyPollUs);
    } catch (err) {
      throw TunError.from(err);
    }
    this.started = true;
  }

  /** Writes batch packets 0..count-1; returns how many went out (stops early only on EAGAIN). */
  writeBatch(batch: PacketBatch): number {
    return this.writePackets(batch.buffer, batch.offsets, batch.lengths, batch.count);
  }

  /** Same as writeBatch over loose arrays (packet i = buffer[offsets[i], +lengths[i])). */
  writePackets(buffer: Uint8Array, offsets: Uint32Array, lengths: Uint32Array, count: number): number {
    if (this.writeBehind) this.scheduleKick();
    try {
      return this.addon.writePackets(this.handle.id, buffer, offsets, lengths, count);
    } catch (err) {
      throw TunError.from(err);
    }
  }

  /** Writes one packet; false when the kernel would block (EAGAIN); throws TunError otherwise. */
  write(packet: Buffer): boolean {
    if (this.writeBehind) this.scheduleKick();
    try {
      return this.handle.write(packet);
    } catch (err) {
      throw TunError.from(err);
    }
  }

  /**
   * Write-behind: while on, writes copy the packets into a queue that the device's writer thread
   * writes (order kept), so a burst of writes overlaps the caller's work; each packet then leaves
   * a thread wake-up later (the thread is woken once per event-loop turn, in its check phase).
   * Off again, writes are synchronous once the queue has drained.
   * Queued packets count as written; refusals show in stats() afterwards.
   */
  setWriteBehind(on: boolean): void {
    try {
      this.handle.setWriteBehind(on);
    } catch (err) {
      throw TunError.from(err);
    }
    this.writeBehind = on;
  }

  /** The writer thread is woken once per event-loop turn, for everything written in it. */
  private scheduleKick(): void {
    if (this.kickScheduled) return;
    this.kickScheduled = true;
    setImmediate(this.kick);
  }

  /** Lets the process exit while the reader runs (like socket.unref()). */
  unref(): void {
    this.handle.unref();
  }

  ref(): void {
    this.handle.ref();
  }

  stats(): TunStats {
    return this.handle.stats();
  }

  /**
   * Loop reader only (undefined otherwise): busy-poll figures of the JS thread, shared by all of
   * its loop-read devices (they spin together).
   */
  busyPollStats(): BusyPollStats | undefined {
    return this.handle.busyPollStats() ?? undefined;
  }

  get isClosed(): boolean {
    return this.closed;
  }

  /** Stops the reader, closes the fd (a non-persistent device disappears). Safe to call twice. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.handle.close();
  }
}

function positiveInt(value: number | undefined, fallback: number, what: string): number {
  if (value === undefined) return fallback;
  if (!Number.isInteger(value) || value < 1) throw new RangeError(`TunDevice.open: ${what} must be a positive integer`);
  return value;
}
