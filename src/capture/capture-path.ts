// Capture mode on the relay's packet path (`ftcp capture NAME`): a PacketPath decorator around the
// daemon's real path (the second wrapper, or pass-through), in the manner of smoltcp's PcapWriter.
// With no capture attached it forwards each batch untouched: one null check per batch, no
// allocation. With one attached it feeds the inner path one packet at a time, so that it can
// record each packet as read (before) and as written (after), annotated with the wrapper's
// decisions (DecisionObserver) and the rewrite it sees between the two; packets the wrapper
// sends on its own are recorded as they are injected.
import type { Direction, PacketOutput, PacketPath } from '../relay/packet-path.js';
import type { PacketBatch } from '../tun/tun-device.js';
import { PacketParser } from '../wire/packet-parser.js';
import type { DecisionNote, DecisionObserver, InjectKind } from '../wrapper/second-wrapper.js';
import { injectedComment, processedComment, rewriteText, type NotedDecision, type SegmentFields } from './decision-comment.js';

/** outer: the TUN facing the clients (ft-NAME); inner: the app's (ftcp0 in its namespace). */
export type CaptureSide = 'outer' | 'inner';

/** Where a running capture writes. `data` is the IP packet (no vnet header); copy it to keep it. */
export interface CaptureSink {
  wants(side: CaptureSide): boolean;
  record(side: CaptureSide, ts: bigint, data: Uint8Array, comment: string): void;
}

/** The wrapper's side of the decision observer. */
export interface ObservableWrapper {
  setDecisionObserver(o: DecisionObserver | null): void;
}

export interface CapturePathOptions {
  /** Bytes of virtio_net_hdr in front of every packet (not written to the capture). */
  vnetHdrLen: number;
  /** The second wrapper, when the inner path is one (its decisions become comments). */
  wrapper?: ObservableWrapper;
  /** Nanoseconds since the epoch (tests). */
  now?: () => bigint;
}

interface Pending {
  side: CaptureSide;
  ts: bigint;
  data: Uint8Array;
  /** undefined: the processed packet's own comment (its "after" copy). */
  comment: string | undefined;
}

const NO_FIELDS: SegmentFields = { seq: 0, ack: 0, win: 0, tsval: -1, tsecr: -1, sack: '' };

function sideOfDestination(direction: Direction): CaptureSide {
  return direction === 'inbound' ? 'inner' : 'outer';
}

export class CapturePath implements PacketPath, DecisionObserver {
  private sink: CaptureSink | null = null;
  private readonly inner: PacketPath;
  private readonly vnet: number;
  private readonly wrapper: ObservableWrapper | undefined;
  private readonly now: () => bigint;
  private readonly parser = new PacketParser();
  /** A one-packet view of the batch being captured, reused. */
  private readonly one: PacketBatch = { buffer: Buffer.alloc(0), offsets: new Uint32Array(1), lengths: new Uint32Array(1), count: 1 };
  private readonly rec: RecordingOutput;
  // State of the packet being processed while capturing.
  private inPacket = false;
  private readonly notes: NotedDecision[] = [];
  private pending: Pending[] = [];
  private beforeFields: SegmentFields = NO_FIELDS;
  private transmitted = false;
  private rewrite = '';

  constructor(inner: PacketPath, opts: CapturePathOptions) {
    this.inner = inner;
    this.vnet = opts.vnetHdrLen;
    this.wrapper = opts.wrapper;
    const epochOffset = BigInt(Date.now()) * 1_000_000n - process.hrtime.bigint();
    this.now = opts.now ?? (() => epochOffset + process.hrtime.bigint());
    this.rec = new RecordingOutput(this);
  }

  get capturing(): boolean {
    return this.sink !== null;
  }

  /** Starts recording into `sink`; false if another capture is attached. */
  attach(sink: CaptureSink): boolean {
    if (this.sink !== null) return false;
    this.sink = sink;
    this.wrapper?.setDecisionObserver(this);
    return true;
  }

  detach(sink: CaptureSink): void {
    if (this.sink !== sink) return;
    this.sink = null;
    this.wrapper?.setDecisionObserver(null);
  }

  process(batch: PacketBatch, direction: Direction, out: PacketOutput): void {
    const sink = this.sink;
    if (sink === null) {
      this.inner.process(batch, direction, out);
      return;
    }
    const src: CaptureSide = direction === 'inbound' ? 'outer' : 'inner';
    const vnet = this.vnet;
    const one = this.one;
    one.buffer = batch.buffer;
    this.rec.out = out;
    this.rec.dst = sideOfDestination(direction);
    this.rec.sink = sink;
    for (let i = 0; i < batch.count; i++) {
      const off = batch.offsets[i]!;
      const len = batch.lengths[i]!;
      one.offsets[0] = off;
      one.lengths[0] = len;
      const ts = this.now();
      // The path rewrites in place: keep the packet as it was read.
      const before = Buffer.from(batch.buffer.subarray(off + vnet, off + len));
      const st = this.parser.parse(before, 0, before.length);
      const malformed = st === 'ok' || st === 'not-tcp' || st === 'fragment' ? undefined : st;
      this.beforeFields = st === 'ok' ? this.fields() : NO_FIELDS;
      this.notes.length = 0;
      this.pending = [];
      this.transmitted = false;
      this.rewrite = '';
      this.inPacket = true;
      try {
        this.inner.process(one, direction, this.rec);
      } finally {
        this.inPacket = false;
      }
      const comment = processedComment(this.notes, this.transmitted, this.rewrite, malformed);
      if (sink.wants(src)) sink.record(src, ts, before, comment);
      for (const p of this.pending) sink.record(p.side, p.ts, p.data, p.comment ?? comment);
      this.pending = [];
    }
  }

  /** The inner path transmitted the packet being processed (bytes as they leave). */
  onTransmit(buffer: Buffer, offset: number, length: number, dst: CaptureSide, sink: CaptureSink): void {
    const start = offset + this.vnet;
    if (this.inPacket && !this.transmitted && this.parser.parse(buffer, start, length - this.vnet) === 'ok') {
      this.rewrite = this.beforeFields === NO_FIELDS ? '' : rewriteText(this.beforeFields, this.fields());
    }
    this.transmitted = true;
    if (!sink.wants(dst)) return;
    const data = Buffer.from(buffer.subarray(start, offset + length));
    if (this.inPacket) this.pending.push({ side: dst, ts: this.now(), data, comment: undefined });
    else sink.record(dst, this.now(), data, 'passed');
  }

  decided(note: DecisionNote, a: number, b: number): void {
    if (this.inPacket) this.notes.push({ note, a, b });
  }

  injected(direction: Direction, packet: Buffer, kind: InjectKind): void {
    const sink = this.sink;
    const side = sideOfDestination(direction);
    if (sink === null || !sink.wants(side)) return;
    const data = Buffer.from(packet.subarray(this.vnet));
    const comment = injectedComment(kind);
    // Answers to the packet being processed go after it in the file.
    if (this.inPacket) this.pending.push({ side, ts: this.now(), data, comment });
    else sink.record(side, this.now(), data, comment);
  }

  private fields(): SegmentFields {
    const t = this.parser.tcp;
    let sack = '';
    if (t.sackOff >= 0) {
      for (let k = 0; k < t.sackCount; k++) sack += `${k > 0 ? ',' : ''}${t.sackLeft(k)}:${t.sackRight(k)}`;
    }
    const ts = t.tsOff >= 0;
    return { seq: t.seq, ack: t.ack, win: t.window, tsval: ts ? t.tsval : -1, tsecr: ts ? t.tsecr : -1, sack };
  }
}

/** The PacketOutput handed to the inner path while capturing: notes what leaves, then forwards. */
class RecordingOutput implements PacketOutput {
  out!: PacketOutput;
  dst: CaptureSide = 'inner';
  sink!: CaptureSink;

  constructor(private readonly owner: CapturePath) {}

  transmit(batch: PacketBatch, index: number): void {
    this.owner.onTransmit(batch.buffer, batch.offsets[index]!, batch.lengths[index]!, this.dst, this.sink);
    this.out.transmit(batch, index);
  }

  transmitAll(batch: PacketBatch): void {
    // One packet at a time while capturing; the real output still gathers them into one write.
    for (let k = 0; k < batch.count; k++) this.transmit(batch, k);
  }

  send(buffer: Buffer, offset: number, length: number): void {
    this.owner.onTransmit(buffer, offset, length, this.dst, this.sink);
    this.out.send(buffer, offset, length);
  }
}
