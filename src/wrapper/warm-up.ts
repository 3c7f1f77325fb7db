// JIT warm-up drill. A daemon restores connections rarely: when it must (an app crash, a host
// taken over), the restore path runs for the first time in the process, interpreted, while V8's
// compiler threads take a CPU to optimize it — measured on 2 vCPUs, 1000 connections: p50 487 ms
// for a first restore, 280–340 ms for the next ones in the same process. So, while idle, the
// daemon drives a private SecondWrapper through the same steps on synthetic connections: open,
// carry a request and its answer, crash, restore (forged handshake, replay, regenerated output
// verified), and adoption (probe, answer, restore). The packets go through the daemon's own relay
// objects (Relay, its batch outputs, the capture path), as on the live path: a standby relays no
// traffic before its takeover, and that code would be cold too. Nothing leaves the drill: its
// packets go to a scripted stack and client here, its log is in memory, its log lines go nowhere.
import { pino } from 'pino';
import { CapturePath } from '../capture/capture-path.js';
import type { Record as LogRecord } from '../log/gen/ftcp/v1/log.js';
import type { PacketDevice } from '../relay/packet-device.js';
import type { Direction } from '../relay/packet-path.js';
import { Relay } from '../relay/relay.js';
import type { PacketBatch } from '../tun/tun-device.js';
import { silentLogger, type Logger } from '../util/logger.js';
import { buildSegment, type SegmentSpec } from '../wire/builder.js';
import { buildTcpUnreachable } from '../wire/icmp.js';
import { PacketParser } from '../wire/packet-parser.js';
import { seqAdd, seqGe, seqLt } from '../wire/seq.js';
import { TCP_ACK, TCP_PSH, TCP_RST, TCP_SYN } from '../wire/tcp.js';
import { collectAdoptable } from './adopt.js';
import { SecondWrapper } from './second-wrapper.js';
import type { ReplayEntry, ReplayItem, WrapperLog } from './wrapper-log.js';

/** Addresses from the documentation ranges (RFC 5737): never on a real link, and never sent. */
const VIP = Uint8Array.from([192, 0, 2, 1]);
const CLIENT = '198.51.100.7';
/** Addresses of a bystander IPv6 packet (RFC 3849): not the service's, relayed untouched. */
const V6_OTHER = '2001:db8::7';
const V6_HOST = '2001:db8::1';
const PORT = 9;
const REQ = 100;
const RESP = 300;
/** The request and answer each connection carries once restored, as real clients' data flows again. */
const REQ2 = 60;
const RESP2 = 200;
/** The byte a nudged client of the adoption drill had in flight. */
const IN_FLIGHT = Buffer.from([0x2a]);
/**
 * Timestamp clocks of the scripted client, old stack and restarted stack. Real TSvals are random
 * 32-bit values, mostly above 2^30: V8 keeps such numbers as doubles, not small integers, and a
 * connection field that saw only small ones in the drill would change representation at the
 * first real restore, discarding the optimized code the drill made (a "wrong map" deopt).
 */
const CLIENT_TS = 0xb000_0000;
const STACK_TS = 0xd000_0000;
const RESTARTED_TS = 0xe000_0000;
/** Yield to the event loop this often: the daemon relays live traffic meanwhile. */
const SLICE_MS = 4;

/** An in-memory WrapperLog, durable on demand. */
class DrillLog implements WrapperLog {
  readonly records: LogRecord[] = [];
  durableSeq = 0;
  private readonly listeners: Array<(s: number) => void> = [];
  append(r: LogRecord): number {
    this.records.push(r);
    return this.records.length;
  }
  appendClientData(connId: string, _idBytes: Buffer, offset: number, data: Uint8Array): number {
    return this.append({ connId, kind: { $case: 'clientData', value: { offset, data: Buffer.from(data) } } });
  }
  onDurable(l: (s: number) => void): void {
    this.listeners.push(l);
  }
  makeDurable(): void {
    if (this.durableSeq === this.records.length) return;
    this.durableSeq = this.records.length;
    for (const l of this.listeners) l(this.durableSeq);
  }
  private *items(connId: string | undefined, from: number): Iterable<ReplayEntry> {
    for (const r of this.records.slice(0, this.durableSeq)) {
      if (connId !== undefined && r.connId !== connId) continue;
      const k = r.kind;
      if (k?.$case === 'clientData' && k.value.offset + k.value.data.length > from) {
        yield { connId: r.connId, item: { kind: 'data', offset: k.value.offset, data: Buffer.from(k.value.data) } };
      } else if (k?.$case === 'clientFin') yield { connId: r.connId, item: { kind: 'fin', offset: k.value.offset } };
    }
  }
  async *readClientStream(connId: string, from: number): AsyncIterable<ReplayItem> {
    for (const e of this.items(connId, from)) yield e.item;
  }
  async *readAllClientStreams(): AsyncIterable<ReplayEntry[]> {
    yield [...this.items(undefined, 0)];
  }
}

interface DrillConn {
  port: number;
  irs: number;
  iss: number;
  /** The restarted stack's ISS (new at each restore). */
  issK: number;
  req: Buffer;
  resp: Buffer;
  /** Bytes the client sent after its request (the adoption drill's byte in flight), 0 if none. */
  inFlight?: number;
}

const pattern = (n: number, seed: number): Buffer => {
  const b = Buffer.allocUnsafe(n);
  for (let i = 0; i < n; i++) b[i] = (i * 31 + seed) & 0xff;
  return b;
};

/**
 * A device of the drill's relay: what the relay writes to it goes to `sink` (the scripted stack,
 * or nowhere), and `deliver` hands it a batch as if read from the TUN.
 */
class DrillDevice implements PacketDevice {
  private onBatch: ((batch: PacketBatch) => void) | undefined;

  constructor(
    readonly name: string,
    readonly vnetHdrLen: number,
    private readonly sink: ((packet: Buffer) => void) | undefined,
  ) {}

  start(onBatch: (batch: PacketBatch) => void): void {
    this.onBatch = onBatch;
  }

  deliver(batch: PacketBatch): void {
    this.onBatch?.(batch);
  }

  writeBatch(batch: PacketBatch): number {
    return this.writePackets(batch.buffer, batch.offsets, batch.lengths, batch.count);
  }

  writePackets(buffer: Uint8Array, offsets: Uint32Array, lengths: Uint32Array, count: number): number {
    if (this.sink) {
      for (let i = 0; i < count; i++) {
        this.sink(Buffer.from(buffer.subarray(offsets[i]! + this.vnetHdrLen, offsets[i]! + lengths[i]!)));
      }
    }
    return count;
  }

  close(): void {
    this.onBatch = undefined;
  }
}

/**
 * The callbacks a drill's wrapper is given, made at one of two places in turn. The daemon's own
 * (inject, onRestoring, the lease's fence) are other functions: code compiled while the wrapper
 * had only ever called one function at a call site calls it directly, and is thrown away at the
 * first call of another — at a takeover. Two different ones make such call sites generic.
 */
let drillsMade = 0;
function callbacks(relay: () => Relay | undefined): {
  inject: (d: Direction, p: Buffer) => void;
  onRestoring: (on: boolean) => void;
  fence: { valid(): boolean };
  logger: Logger;
} {
  if (drillsMade++ % 2 === 0) {
    return { inject: (d, p) => void relay()?.inject(d, p), onRestoring: () => undefined, fence: { valid: () => true }, logger: silentLogger() };
  }
  return {
    inject: (direction, packet) => {
      relay()?.inject(direction, packet);
    },
    onRestoring: (on) => void on,
    fence: { valid: () => drillsMade > 0 },
    // The daemon's wrapper logs at info ("connection restored" per connection): a logger that
    // writes its lines nowhere, so that call is compiled for more than pino's no-op.
    logger: pino({ level: 'info', base: null }, { write: () => undefined }).child({ component: 'warm-up' }),
  };
}

/** One drill: a wrapper behind a relay, its log, a scripted client and stack. */
class Drill {
  readonly log = new DrillLog();
  readonly w: SecondWrapper;
  private readonly relay: Relay;
  private readonly outer: DrillDevice;
  private readonly inner: DrillDevice;
  private readonly parser = new PacketParser({ verifyChecksums: false });
  private readonly toStack: Buffer[] = [];
  private readonly byPort = new Map<number, DrillConn>();
  private readonly clientParser = new PacketParser({ verifyChecksums: false });
  /** Second answers (after the restore) the client received. */
  answersAfterRestore = 0;
  /** Answers given after their connection's restore so far. */
  lateAnswers = 0;
  /** Echoes of the clients' bytes in flight that reached them. */
  echoes = 0;
  /** Regenerated answers the scripted app gives only after its connection's restore (stackAnswers). */
  private readonly lagging = new Map<number, { c: DrillConn; ack: number; answers: Buffer[] }>();

  constructor(
    private readonly vnet: number,
    log?: DrillLog,
  ) {
    if (log) this.log = log;
    this.outer = new DrillDevice('drill-outer', vnet, (p) => this.toClient(p));
    this.inner = new DrillDevice('drill-inner', vnet, (p) => this.toStack.push(p));
    let relay: Relay | undefined;
    const cb = callbacks(() => relay);
    this.w = new SecondWrapper({
      vip: VIP,
      ports: [PORT],
      log: this.log,
      vnetHdrLen: vnet,
      // As the daemon wires it: forged packets leave through the relay.
      inject: cb.inject,
      liveness: { isAlive: () => false },
      logger: cb.logger,
      holdIntervalMs: 1e9,
      checkpoints: { latest: () => undefined },
      icmpNudge: true,
      // As the daemon's: the wrapper's fields then keep the kinds of value a real restore sees.
      fence: cb.fence,
      onRestoring: cb.onRestoring,
      restoresAtOnce: 64,
      maxReplayBytes: 1 << 30,
    });
    relay = new Relay({ outer: this.outer, inner: this.inner, path: new CapturePath(this.w, { vnetHdrLen: vnet, wrapper: this.w }) });
    relay.start();
    this.relay = relay;
  }

  feed(dir: Direction, c: DrillConn, spec: Omit<SegmentSpec, 'src' | 'dst' | 'srcPort' | 'dstPort'>): void {
    this.feedBatch(dir, c, [spec]);
  }

  /** Segments read together (one batch, one buffer), as a TUN read hands over several. */
  feedBatch(dir: Direction, c: DrillConn, specs: Array<Omit<SegmentSpec, 'src' | 'dst' | 'srcPort' | 'dstPort'>>, bystander = false): void {
    const inbound = dir === 'inbound';
    const pkts = specs.map((spec) => buildSegment({ src: inbound ? CLIENT : VIP, dst: inbound ? VIP : CLIENT, srcPort: inbound ? c.port : PORT, dstPort: inbound ? PORT : c.port, ...spec }));
    // A packet that is none of the service's (IPv6, another address, TCP or not): relayed untouched.
    if (bystander) {
      pkts.push(
        c.port & 16
          ? buildSegment({ src: V6_OTHER, dst: V6_HOST, srcPort: 7, dstPort: 7, seq: c.irs, flags: TCP_SYN, window: 64800 })
          : buildTcpUnreachable({ reporter: V6_OTHER, quoted: { src: V6_HOST, dst: V6_OTHER, srcPort: 7, dstPort: 7, seq: c.irs } }),
      );
    }
    this.deliver(inbound, pkts);
  }

  private deliver(inbound: boolean, pkts: Buffer[]): void {
    const offsets = new Uint32Array(pkts.length);
    const lengths = new Uint32Array(pkts.length);
    let at = 0;
    for (let i = 0; i < pkts.length; i++) {
      offsets[i] = at;
      lengths[i] = this.vnet + pkts[i]!.length;
      at += lengths[i]!;
    }
    const buffer = Buffer.alloc(at);
    for (let i = 0; i < pkts.length; i++) pkts[i]!.copy(buffer, offsets[i]! + this.vnet);
    // Filled as a TUN device fills a pooled batch (its count is stored again at each read): a
    // count only ever stored once would be compiled as a constant, and the daemon's first real
    // read would throw away the relay's and the wrapper's optimized code.
    const batch: PacketBatch = { buffer, offsets, lengths, count: 0 };
    batch.count = pkts.length;
    // Read from the outer TUN travels inbound, from the inner one outbound.
    (inbound ? this.outer : this.inner).deliver(batch);
  }

  add(c: DrillConn): void {
    this.byPort.set(c.port, c);
  }

  private toClient(p: Buffer): void {
    if (this.clientParser.parse(p, 0, p.length) !== 'ok') return;
    const t = this.clientParser.tcp;
    if (t.payloadLen === RESP2) this.answersAfterRestore++;
    // The echo of a byte in flight, alone or after the answer (a probe's byte is a zero).
    else if (t.payloadLen > 0 && t.payloadLen !== RESP && p[t.payloadOffset + t.payloadLen - 1] === IN_FLIGHT[0]) this.echoes++;
  }

  /**
   * A restored connection carries a second request and answer, as a real one's data flows again
   * after a takeover: the client's segments rewritten into the restarted stack's sequence space,
   * the stack's ACK held until the request is durable, its answer rewritten back. `inFlight`: the
   * bytes the client had resent while held (logged, replayed).
   */
  exchange(port: number, inFlight: number): void {
    const c = this.byPort.get(port);
    if (!c) return;
    const cl = CLIENT_TS + c.port + 10;
    const st = RESTARTED_TS + c.port + 10;
    const reqAt = seqAdd(c.irs, 1 + REQ + inFlight);
    const reqEnd = seqAdd(reqAt, REQ2);
    // What the client saw (the old stack's numbers), and the echo of its byte in flight.
    const ackForClient = seqAdd(c.iss, 1 + RESP + inFlight);
    const stackNext = seqAdd(c.issK, 1 + RESP + inFlight); // the restarted stack regenerated both
    this.feed('inbound', c, { flags: TCP_ACK | TCP_PSH, seq: reqAt, ack: ackForClient, window: 502, payload: c.req.subarray(0, REQ2), timestamps: { tsval: cl, tsecr: STACK_TS + c.port + 2 } });
    // The stack's ACK before the request is durable (held, then synthesized) or after (passes).
    const durableFirst = (c.port & 2) !== 0;
    if (durableFirst) this.log.makeDurable();
    this.feed('outbound', c, { flags: TCP_ACK, seq: stackNext, ack: reqEnd, window: 509, timestamps: { tsval: st, tsecr: cl } });
    this.log.makeDurable();
    this.feed('outbound', c, { flags: TCP_ACK | TCP_PSH, seq: stackNext, ack: reqEnd, window: 509, payload: c.resp.subarray(0, RESP2), timestamps: { tsval: st + 1, tsecr: cl } });
    // Some clients report a block above what they acknowledge (SACK), as after a reordering.
    const sack: Array<[number, number]> | undefined = (c.port & 4) !== 0 ? [[seqAdd(ackForClient, RESP2 / 2), seqAdd(ackForClient, RESP2)]] : undefined;
    this.feed('inbound', c, { flags: TCP_ACK, seq: reqEnd, ack: seqAdd(ackForClient, sack ? RESP2 / 4 : RESP2), window: 502, timestamps: { tsval: cl + 1, tsecr: STACK_TS + c.port + 3 }, ...(sack ? { sack } : {}) });
    if (sack) this.feed('inbound', c, { flags: TCP_ACK, seq: reqEnd, ack: seqAdd(ackForClient, RESP2), window: 502, timestamps: { tsval: cl + 2, tsecr: STACK_TS + c.port + 3 } });
    this.toStack.length = 0;
  }

  /** A connection carries one request and its answer, all logged. */
  carry(c: DrillConn): void {
    const ts = (v: number, e: number): { timestamps: { tsval: number; tsecr: number } } => ({ timestamps: { tsval: v, tsecr: e } });
    const cl = CLIENT_TS + c.port;
    const st = STACK_TS + c.port;
    this.feed('inbound', c, { flags: TCP_SYN, seq: c.irs, window: 64240, mss: 1460, wscale: 7, sackPermitted: true, ...ts(cl, 0) });
    this.feed('outbound', c, { flags: TCP_SYN | TCP_ACK, seq: c.iss, ack: seqAdd(c.irs, 1), window: 65160, mss: 1460, wscale: 7, sackPermitted: true, ...ts(st, cl) });
    this.log.makeDurable();
    this.feedBatch(
      'inbound',
      c,
      [
        { flags: TCP_ACK, seq: seqAdd(c.irs, 1), ack: seqAdd(c.iss, 1), window: 502, ...ts(cl + 1, st) },
        { flags: TCP_ACK | TCP_PSH, seq: seqAdd(c.irs, 1), ack: seqAdd(c.iss, 1), window: 502, payload: c.req, ...ts(cl + 2, st) },
      ],
      (c.port & 15) === 0,
    );
    this.feed('outbound', c, { flags: TCP_ACK, seq: seqAdd(c.iss, 1), ack: seqAdd(c.irs, 1 + REQ), window: 509, ...ts(st + 1, cl + 2) });
    this.log.makeDurable();
    this.feed('outbound', c, { flags: TCP_ACK | TCP_PSH, seq: seqAdd(c.iss, 1), ack: seqAdd(c.irs, 1 + REQ), window: 509, payload: c.resp, ...ts(st + 2, cl + 2) });
    this.feed('inbound', c, { flags: TCP_ACK, seq: seqAdd(c.irs, 1 + REQ), ack: seqAdd(c.iss, 1 + RESP), window: 502, ...ts(cl + 3, st + 2) });
    this.toStack.length = 0; // the script played the stack: what the relay passed it needs no answer
  }

  /** The adopted client answers a probe: it has the whole answer; every other one has a byte in flight (nudged). */
  answer(c: DrillConn): void {
    // Held: nothing of it reaches the stack (what is queued for the stack, restores' SYNs, stays).
    this.feed('inbound', c, { flags: TCP_ACK, seq: seqAdd(c.irs, 1 + REQ + (c.port & 1)), ack: seqAdd(c.iss, 1 + RESP), window: 502, timestamps: { tsval: CLIENT_TS + c.port + 4, tsecr: STACK_TS + c.port + 2 } });
  }

  /** A nudged client resends its byte in flight (RFC 6069): logged while the connection is held. */
  resend(c: DrillConn): void {
    const req = seqAdd(c.irs, 1 + REQ);
    // Held: nothing of it reaches the stack (what is queued for the stack, restores' SYNs, stays).
    this.feed('inbound', c, { flags: TCP_ACK | TCP_PSH, seq: req, ack: seqAdd(c.iss, 1 + RESP), window: 502, payload: IN_FLIGHT, timestamps: { tsval: CLIENT_TS + c.port + 5, tsecr: STACK_TS + c.port + 2 } });
  }

  /** The scripted restarted stack answers what the wrapper sent it: SYN-ACK, ACKs, the regenerated answer. */
  stackAnswers(): number {
    let n = 0;
    while (this.toStack.length > 0) {
      const pkt = this.toStack.shift()!;
      if (this.parser.parse(pkt, 0, pkt.length) !== 'ok') continue;
      const t = this.parser.tcp;
      const c = this.byPort.get(t.srcPort);
      if (!c || t.flags & TCP_RST) continue;
      n++;
      const ts = { timestamps: { tsval: RESTARTED_TS + n, tsecr: t.tsval } };
      if (t.flags & TCP_SYN) {
        this.feed('outbound', c, { flags: TCP_SYN | TCP_ACK, seq: c.issK, ack: seqAdd(t.seq, 1), window: 65160, mss: 1460, wscale: 7, sackPermitted: true, ...ts });
        // Some clients' segments arrive while the replay runs (the new stack's handshake done):
        // their ACKs reach the stack as forged ones, and they are answered with a hold ACK in
        // the new stack's clock.
        if ((c.port & 16) !== 0) this.clientAck(c, 6);
      } else if (t.payloadLen > 0) {
        const end = seqAdd(t.seq, t.payloadLen);
        this.feed('outbound', c, { flags: TCP_ACK, seq: seqAdd(c.issK, 1), ack: end, window: 509, ...ts });
        // The request complete (with or without the byte that followed it): the answer. Some
        // apps give it only after the restore is over, as a real one does: its kernel
        // acknowledged the replay before the app accepted and read it (answerLagging).
        const reqEnd = seqAdd(c.irs, 1 + REQ);
        const answers: Buffer[] = [];
        if (seqLt(t.seq, reqEnd) && seqGe(end, reqEnd)) answers.push(c.resp);
        // The byte the client had in flight, echoed: output beyond what the client had seen, sent
        // to it once what precedes it is verified.
        const flightEnd = seqAdd(reqEnd, 1);
        if ((c.inFlight ?? 0) > 0 && seqLt(t.seq, flightEnd) && seqGe(end, flightEnd)) answers.push(IN_FLIGHT);
        if (answers.length > 0 && (c.port & 8) !== 0) {
          // What a lagging app has read by the time it answers, it answers at once (one segment).
          const l = this.lagging.get(c.port);
          if (l) {
            l.answers.push(...answers);
            l.ack = end;
          } else this.lagging.set(c.port, { c, ack: end, answers });
        } else if (answers.length > 0) this.appAnswers(c, end, answers, ts);
      }
    }
    return n;
  }

  /**
   * The scripted app's answers, in one segment as an app writes what it read at once: the answer
   * (RESP) at the stream's start and/or the echo after it. Answer and echo together are a segment
   * that starts inside what the client saw and ends past it.
   */
  private appAnswers(c: DrillConn, ack: number, answers: Buffer[], ts: { timestamps: { tsval: number; tsecr: number } }): void {
    const at = answers[0] === c.resp ? 0 : RESP;
    const payload = answers.length === 1 ? answers[0]! : Buffer.concat(answers);
    this.feed('outbound', c, { flags: TCP_ACK | TCP_PSH, seq: seqAdd(c.issK, 1 + at), ack, window: 509, payload, ...ts });
  }

  /** A pure ACK of the client: where it stands (its request, its byte in flight; the whole answer). */
  private clientAck(c: DrillConn, tsStep: number): void {
    this.feed('inbound', c, { flags: TCP_ACK, seq: seqAdd(c.irs, 1 + REQ + (c.inFlight ?? 0)), ack: seqAdd(c.iss, 1 + RESP), window: 502, timestamps: { tsval: CLIENT_TS + c.port + tsStep, tsecr: STACK_TS + c.port + 2 } });
  }

  /**
   * The lagging apps answer now, their connections restored: meanwhile a client ACK and a pure
   * ACK of the stack pass while the regenerated output is still being verified.
   */
  answerLagging(sliceEnd: number): number {
    let n = 0;
    for (const [port, { c, ack, answers }] of this.lagging) {
      this.lagging.delete(port);
      this.lateAnswers += answers.length;
      this.clientAck(c, 7);
      const ts = (k: number): { timestamps: { tsval: number; tsecr: number } } => ({ timestamps: { tsval: RESTARTED_TS + c.port + k, tsecr: CLIENT_TS + c.port + 7 } });
      this.feed('outbound', c, { flags: TCP_ACK, seq: seqAdd(c.issK, 1), ack, window: 509, ...ts(8) });
      this.appAnswers(c, ack, answers, ts(9));
      n++;
      if (performance.now() > sliceEnd) break; // the rest in the next slice
    }
    return n;
  }

  close(): void {
    this.w.close();
    this.relay.close();
  }
}

const slice = (): Promise<void> => new Promise((r) => setImmediate(r));

async function restoreAll(d: Drill, conns: DrillConn[], stop: () => boolean): Promise<void> {
  for (let round = 0; round < 20 && d.w.counters.recovered < conns.length && !stop(); round++) {
    let t = performance.now();
    // The replay reads are asynchronous: let them land, then answer.
    await slice();
    while (d.stackAnswers() > 0) {
      if (performance.now() - t > SLICE_MS) {
        await slice();
        if (stop()) return;
        t = performance.now();
      }
    }
  }
  // The apps that answer after their restore, in slices too.
  while (!stop() && d.answerLagging(performance.now() + SLICE_MS) > 0) {
    d.stackAnswers();
    await slice();
  }
}

/** Every restored connection carries its second request and answer, in slices. */
async function exchangeAll(d: Drill, conns: DrillConn[], inFlight: (c: DrillConn) => number, stop: () => boolean): Promise<void> {
  let t = performance.now();
  for (const c of conns) {
    d.exchange(c.port, inFlight(c));
    if (performance.now() - t > SLICE_MS) {
      await slice();
      if (stop()) return;
      t = performance.now();
    }
  }
}

export interface DrillResult {
  connections: number;
  restored: number;
  adopted: number;
  /** ICMP errors the adoption sent (half the drill's clients have a byte in flight). */
  nudges: number;
  /** Second answers that reached the clients once their connections were restored (both phases). */
  exchanged: number;
  /** Regenerated answers the scripted apps gave only after their connection's restore (both phases). */
  lateAnswers: number;
  /** Connections reset as divergent (both phases): 0 unless the drill or the wrapper is wrong. */
  divergences: number;
  /** Echoes of the adopted clients' bytes in flight that reached them (output new to the client). */
  echoes: number;
  ms: number;
}

/**
 * Runs the drill on `connections` synthetic connections (crash restore, then adoption) and
 * resolves with what it did. `vnetHdrLen`: as the live devices carry (the same code paths).
 * `stop()` is asked between slices: true ends the drill early (the daemon has real work).
 */
export async function warmUpWrapper(opts: { vnetHdrLen: number; connections?: number; stop?: () => boolean }): Promise<DrillResult> {
  const stop = opts.stop ?? ((): boolean => false);
  const started = performance.now();
  const n = opts.connections ?? 200;
  const conns: DrillConn[] = [];
  for (let i = 0; i < n; i++) {
    conns.push({ port: 20000 + i, irs: (0xfffff000 + i * 7919) >>> 0, iss: (0x7ffff000 + i * 104729) >>> 0, issK: (i * 15485863 + 12345) >>> 0, req: pattern(REQ, i), resp: pattern(RESP, i + 1) });
  }
  // A crash and its restore.
  const a = new Drill(opts.vnetHdrLen);
  let restored = 0;
  let adopted = 0;
  let nudges = 0;
  let exchanged = 0;
  let lateAnswers = 0;
  let divergences = 0;
  let echoes = 0;
  let adoptable: LogRecord[] = [];
  try {
    let t = performance.now();
    for (const c of conns) {
      a.add(c);
      a.carry(c);
      if (performance.now() - t > SLICE_MS) {
        await slice();
        if (stop()) return { connections: n, restored, adopted, nudges, exchanged, lateAnswers, divergences, echoes, ms: performance.now() - started };
        t = performance.now();
      }
    }
    a.log.makeDurable();
    a.w.appCrashed('warm-up drill');
    a.w.appListening();
    await restoreAll(a, conns, stop);
    restored = a.w.counters.recovered;
    // The adoption below starts from the log as it stands here (the clients' view matches it).
    adoptable = a.log.records.slice(0, a.log.durableSeq);
    await exchangeAll(a, conns, () => 0, stop);
    exchanged = a.answersAfterRestore;
  } finally {
    lateAnswers = a.lateAnswers;
    divergences = a.w.counters.divergences;
    a.close();
  }
  if (stop()) return { connections: n, restored, adopted, nudges, exchanged, lateAnswers, divergences, echoes, ms: performance.now() - started };
  // The same connections adopted by a new daemon (its restart, a takeover) from the same log.
  const log = new DrillLog();
  log.records.push(...adoptable);
  log.durableSeq = log.records.length;
  const b = new Drill(opts.vnetHdrLen, log);
  try {
    b.w.adopt(await collectAdoptable(log.records));
    b.w.probeHeld(1000);
    // A quarter of the clients answer the probe only once the app listens again (their restores
    // start from that answer).
    const late = (c: DrillConn): boolean => (c.port & 3) === 3;
    for (const c of conns) {
      b.add({ ...c, issK: (c.issK + 1) >>> 0, inFlight: c.port & 1 });
      if (late(c)) continue;
      b.answer(c);
      if (c.port & 1) b.resend(c);
    }
    b.log.makeDurable();
    b.w.appListening();
    for (const c of conns) if (late(c)) b.answer(c);
    // Clients resend again while their restores wait for a slot (a real takeover's first ones).
    for (const c of conns) if (c.port & 1) b.resend(c);
    await restoreAll(b, conns, stop);
    adopted = b.w.counters.recovered;
    nudges = b.w.counters.clientNudges;
    await exchangeAll(b, conns, (c) => c.port & 1, stop);
    exchanged += b.answersAfterRestore;
  } finally {
    lateAnswers += b.lateAnswers;
    divergences += b.w.counters.divergences;
    echoes = b.echoes;
    b.close();
  }
  return { connections: n, restored, adopted, nudges, exchanged, lateAnswers, divergences, echoes, ms: performance.now() - started };
}
