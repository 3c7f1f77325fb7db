// A SecondWrapper fed synthetic segments of one IPv4 connection (no TUN, no kernel), over an
// in-memory log, for the tests of close intents and checkpoint restores.
import type { CheckpointInfo, Record as LogRecord } from '../../../src/log/gen/ftcp/v1/log.js';
import type { Direction, PacketOutput } from '../../../src/relay/packet-path.js';
import type { PacketBatch } from '../../../src/tun/tun-device.js';
import { silentLogger } from '../../../src/util/logger.js';
import { buildSegment, type SegmentSpec } from '../../../src/wire/builder.js';
import { parsePacket, type TcpFacts } from '../../../src/wire/packet-parser.js';
import { SecondWrapper, type SecondWrapperOptions } from '../../../src/wrapper/second-wrapper.js';
import type { ReplayEntry, ReplayItem, WrapperLog } from '../../../src/wrapper/wrapper-log.js';

export class MemoryLog implements WrapperLog {
  records: LogRecord[] = [];
  durableSeq = 0;
  private listeners: ((s: number) => void)[] = [];
  append(r: LogRecord): number {
    this.records.push(structuredClone(r));
    return this.records.length;
  }
  appendClientData(connId: string, _idBytes: Buffer, offset: number, data: Uint8Array): number {
    return this.append({ connId, kind: { $case: 'clientData', value: { offset, data } } });
  }
  onDurable(l: (s: number) => void): void {
    this.listeners.push(l);
  }
  makeDurable(): void {
    this.durableSeq = this.records.length;
    for (const l of this.listeners) l(this.durableSeq);
  }
  async *readAllClientStreams(): AsyncIterable<ReplayEntry[]> {
    const ids = new Set(this.records.map((r) => r.connId));
    for (const connId of ids) {
      const batch: ReplayEntry[] = [];
      for await (const item of this.readClientStream(connId, 0)) batch.push({ connId, item });
      yield batch;
    }
  }
  async *readClientStream(connId: string, from: number): AsyncIterable<ReplayItem> {
    for (const r of this.records.slice(0, this.durableSeq)) {
      if (r.connId !== connId) continue;
      if (r.kind?.$case === 'clientData' && r.kind.value.offset + r.kind.value.data.length > from) {
        yield { kind: 'data', offset: r.kind.value.offset, data: Buffer.from(r.kind.value.data) };
      } else if (r.kind?.$case === 'clientFin') yield { kind: 'fin', offset: r.kind.value.offset };
    }
  }
}

export const CLIENT = '10.0.0.9';
export const VIP = '10.77.0.2';
export const PORT = 9000;
export const CPORT = 40000;
export const TUPLE = `${CLIENT}:${CPORT}>${PORT}`;

export interface Harness {
  w: SecondWrapper;
  log: MemoryLog;
  alive: { v: boolean };
  /** The latest checkpoint the wrapper reads at appListening(). */
  ckpt: { v: CheckpointInfo | undefined };
  /** Feeds one packet; returns whether the wrapper transmitted it (and the packet, maybe modified). */
  feed(dir: Direction, spec: Partial<SegmentSpec> & { flags: number; seq: number }, cport?: number): { passed: boolean; facts: TcpFacts };
  /** Packets the wrapper made or released towards `dir` since the last call. */
  injected(dir: Direction): TcpFacts[];
  /** The same, as the IP packets themselves (ICMP too). */
  injectedRaw(dir: Direction): Buffer[];
}

export function harness(extra: Partial<SecondWrapperOptions> = {}): Harness {
  const log = new MemoryLog();
  const sent: { dir: Direction; pkt: Buffer }[] = [];
  const alive = { v: true };
  const ckpt: { v: CheckpointInfo | undefined } = { v: undefined };
  const w = new SecondWrapper({
    vip: Uint8Array.from([10, 77, 0, 2]),
    ports: [PORT],
    log,
    vnetHdrLen: 0,
    inject: (dir, pkt) => sent.push({ dir, pkt: Buffer.from(pkt) }),
    liveness: { isAlive: () => alive.v },
    logger: silentLogger(),
    holdIntervalMs: 1_000_000,
    checkpoints: { latest: () => ckpt.v },
    ...extra,
  });
  const feed: Harness['feed'] = (dir, spec, cport = CPORT) => {
    const inbound = dir === 'inbound';
    const pkt = buildSegment({
      src: inbound ? CLIENT : VIP,
      dst: inbound ? VIP : CLIENT,
      srcPort: inbound ? cport : PORT,
      dstPort: inbound ? PORT : cport,
      window: 500,
      ...spec,
    });
    const batch: PacketBatch = { buffer: pkt, offsets: Uint32Array.of(0), lengths: Uint32Array.of(pkt.length), count: 1 };
    let passed = false;
    const out: PacketOutput = { transmit: () => (passed = true), transmitAll: () => (passed = true), send: () => undefined };
    w.process(batch, dir, out);
    const facts = parsePacket(pkt);
    if (!facts.ok) throw new Error(facts.error);
    return { passed, facts };
  };
  const injectedRaw = (dir: Direction): Buffer[] => {
    const got = sent.filter((s) => s.dir === dir).map((s) => s.pkt);
    sent.splice(0, sent.length, ...sent.filter((s) => s.dir !== dir));
    return got;
  };
  const injected = (dir: Direction): TcpFacts[] =>
    injectedRaw(dir).map((pkt) => {
      const f = parsePacket(pkt);
      if (!f.ok) throw new Error(f.error);
      return f;
    });
  return { w, log, alive, ckpt, feed, injected, injectedRaw };
}

export const bytes = (n: number, seed: number): Buffer => Buffer.from(Array.from({ length: n }, (_, i) => (i * 31 + seed) & 0xff));
