// Joins the outer and the inner TUN: every batch read from one is run through the PacketPath
// and written to the other. Pass-through costs one native read hand-over and one batched write
// per batch; the path decides per packet when one is plugged in.
import type { PacketBatch } from '../tun/tun-device.js';
import type { PacketDevice } from './packet-device.js';
import { BatchOutput } from './batch-output.js';
import { PassThroughPath, type Direction, type PacketPath } from './packet-path.js';
import { countersOf, newRelayCounters, type RelayCounters } from './relay-counters.js';

export interface RelayOptions {
  /** The device facing the network (clients). */
  outer: PacketDevice;
  /** The device facing the protected app's namespace. */
  inner: PacketDevice;
  /** Per-packet stage; forwards everything unchanged when omitted. */
  path?: PacketPath;
  /** A device read failure (that reader stops) or an exception thrown by the path. */
  onError?: (err: Error, direction: Direction) => void;
}

export class RelayConfigError extends Error {
  override readonly name = 'RelayConfigError';
}

export class Relay {
  readonly outer: PacketDevice;
  readonly inner: PacketDevice;
  readonly counters: RelayCounters = newRelayCounters();
  private readonly path: PacketPath;
  private readonly onError: (err: Error, direction: Direction) => void;
  private readonly toInner: BatchOutput;
  private readonly toOuter: BatchOutput;
  private started = false;

  constructor(opts: RelayOptions) {
    if (opts.outer === opts.inner) throw new RelayConfigError('relay: outer and inner must be different devices');
    // A vnet header cannot be added or removed in flight without segmenting GSO packets and
    // completing checksums in software, so both sides must agree.
    if (opts.outer.vnetHdrLen !== opts.inner.vnetHdrLen) {
      throw new RelayConfigError(
        `relay: outer ${opts.outer.name} and inner ${opts.inner.name} must both use vnet headers or neither ` +
          `(vnetHdrLen ${opts.outer.vnetHdrLen} vs ${opts.inner.vnetHdrLen})`,
      );
    }
    this.outer = opts.outer;
    this.inner = opts.inner;
    this.path = opts.path ?? new PassThroughPath();
    this.onError = opts.onError ?? (() => {});
    this.toInner = new BatchOutput(this.inner, this.counters.inbound);
    this.toOuter = new BatchOutput(this.outer, this.counters.outbound);
  }

  /** Starts both readers. */
  start(): void {
    if (this.started) throw new RelayConfigError('relay: already started');
    this.started = true;
    this.outer.start(
      (batch) => this.relay(batch, 'inbound', this.toInner),
      (err) => this.fail(err, 'inbound'),
    );
    this.inner.start(
      (batch) => this.relay(batch, 'outbound', this.toOuter),
      (err) => this.fail(err, 'outbound'),
    );
  }

  /**
   * Writes a packet that is not part of the batch being processed (a delayed packet released,
   * a synthesized ACK) towards `direction`'s destination. False if it was dropped (EAGAIN).
   */
  inject(direction: Direction, packet: Buffer): boolean {
    const out = direction === 'inbound' ? this.toInner : this.toOuter;
    out.flush();
    out.send(packet, 0, packet.length);
    const before = countersOf(this.counters, direction).droppedPackets;
    out.flush();
    return countersOf(this.counters, direction).droppedPackets === before;
  }

  /**
   * Write-behind on both devices (see TunDevice.setWriteBehind): for bursts, such as a restore of
   * many connections, where the writes would otherwise take a quarter of the relay thread.
   */
  setWriteBehind(on: boolean): void {
    this.outer.setWriteBehind?.(on);
    this.inner.setWriteBehind?.(on);
  }

  /** Closes both devices (their readers stop; queued batches are discarded). Idempotent. */
  close(): void {
    this.outer.close();
    this.inner.close();
  }

  private relay(batch: PacketBatch, direction: Direction, out: BatchOutput): void {
    const c = countersOf(this.counters, direction);
    c.readBatches++;
    c.readPackets += batch.count;
    let bytes = 0;
    for (let i = 0; i < batch.count; i++) bytes += batch.lengths[i]!;
    c.readBytes += bytes;
    try {
      this.path.process(batch, direction, out);
    } catch (err) {
      this.fail(err instanceof Error ? err : new Error(String(err)), direction);
    } finally {
      // Whatever the path sent must leave before the batch memory goes back to the reader.
      out.flush();
    }
  }

  private fail(err: Error, direction: Direction): void {
    this.counters.errors++;
    this.onError(err, direction);
  }
}
