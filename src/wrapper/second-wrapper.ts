// The second wrapper (claims 1-5, 14): sits on the relay's packet path between the network and
// the app's protocol stack, and for every segment of a protected connection decides to store,
// delay, discard, modify or transmit it. After an app crash it holds the clients and restores
// each connection into the restarted stack. The per-segment decisions are in `inbound` and
// `outbound`; recovery is in the section at the end.
import type { CheckpointInfo, ConnPosition, Record as LogRecord } from '../log/gen/ftcp/v1/log.js';
import { CloseIntent_How, ConnectionClosed_Reason, IpVersion } from '../log/gen/ftcp/v1/log.js';
import { daemonConnId, tupleKey, tupleKeyOfConnId } from '../log/conn-key.js';
import type { Direction, PacketOutput, PacketPath } from '../relay/packet-path.js';
import type { PacketBatch } from '../tun/tun-device.js';
import { VnetFlags } from '../tun/vnet-hdr.js';
import type { Logger } from '../util/logger.js';
import { PacketParser, type ParseStatus } from '../wire/packet-parser.js';
import { seqAdd, seqDiff } from '../wire/seq.js';
import { TCP_ACK, TCP_FIN, TCP_RST, TCP_SYN, type TcpPacket } from '../wire/tcp.js';
import { clampAck, rescaleWindow, type ClampResult } from './ack-clamp.js';
import type { Range } from './client-stream.js';
import { TcpConn } from './conn.js';
import { ConnTable } from './conn-table.js';
import { widenConnClasses } from './widen-fields.js';
import { Forge, FLAGS } from './forge.js';
import { ReplaySource } from './replay-source.js';
import { StreamVerifier } from './server-stream-hash.js';
import type { WrapperLog } from './wrapper-log.js';
import type { AdoptedConn } from './adopt.js';
import { ClientStream } from './client-stream.js';
import { ServerStreamHasher } from './server-stream-hash.js';
import { newWrapperCounters, type WrapperCounters } from './wrapper-counters.js';

export type { WrapperCounters };

// ------------------------------------------------------------------------------------------
// Decision observer (capture mode, `ftcp capture NAME`, src/capture/capture-path.ts). Set only
// while a capture runs; otherwise the packet path pays one null check per decision, nothing else.
// What was passed or modified the capture sees itself (it compares the packet before and after).
// ------------------------------------------------------------------------------------------

/** A decision about the segment being processed, beyond "transmitted" (a, b: stream offsets). */
export type DecisionNote =
  | 'stored-data' // client bytes [a, b) appended to the log
  | 'stored-fin' // the client's FIN at offset a
  | 'stored-opened' // the connection record (handshake parameters)
  | 'delayed-synack' // held until the connection record is durable
  | 'delayed-ack' // pure ACK above the durable point
  | 'delayed-close' // FIN/RST of the stack, until the app's liveness is known
  | 'delayed-regenerated' // regenerated output, sent once verified
  | 'discarded-app-down-syn'
  | 'discarded-app-down-refusal' // the dying stack's RST to a SYN: the client retries its SYN
  | 'discarded-log-refused'
  | 'discarded-outside-window'
  | 'discarded-held' // client segment while the app is down: answered by a hold ACK
  | 'discarded-dead-stack'
  | 'discarded-restore-synack'
  | 'discarded-replay' // the restarted stack's ACKs: the daemon answers them itself
  | 'discarded-regenerated' // regenerated output the client already has
  | 'discarded-divergence'
  | 'discarded-replay-rst';

/** What a packet the wrapper sends on its own is: made by the daemon, or a held one let go. */
export type InjectKind =
  | 'forged-syn'
  | 'forged-handshake-ack'
  | 'forged-replay'
  | 'forged-replay-fin'
  | 'forged-stack-ack'
  | 'forged-purge-rst'
  | 'forged-abort-rst'
  | 'forged-client-rst'
  | 'forged-hold-ack'
  | 'forged-unreachable'
  | 'forged-ack'
  | 'released-synack'
  | 'released-close'
  | 'released-regenerated';

export interface DecisionObserver {
  /** Called during process(), for the segment being processed. */
  decided(note: DecisionNote, a: number, b: number): void;
  /** Called before the packet (with its vnet header, if any) is written towards `direction`. */
  injected(direction: Direction, packet: Buffer, kind: InjectKind): void;
}

export interface AppLiveness {
  /** False once the supervised app has exited or is exiting. */
  isAlive(): boolean;
}

/** Where the restore finds the service's latest checkpoint (the shim's). */
export interface CheckpointSource {
  latest(): CheckpointInfo | undefined | Promise<CheckpointInfo | undefined>;
}

export interface SecondWrapperOptions {
  /** The service address (VIP) bytes, 4 or 16. */
  vip: Uint8Array;
  ports: readonly number[];
  log: WrapperLog;
  /** Bytes of virtio_net_hdr in front of every packet (0 without). */
  vnetHdrLen: number;
  /** Writes a packet the wrapper made or released towards `direction`'s destination. */
  inject: (direction: Direction, packet: Buffer) => void;
  liveness: AppLiveness;
  logger: Logger;
  /** Without the shim the whole client stream is replayed; past this a connection is unprotected. */
  maxReplayBytes?: number;
  /** Interval of the zero-window ACKs that keep held clients connected (claim 6). */
  holdIntervalMs?: number;
  /** Restores under way at once (default MAX_RESTORES_AT_ONCE; the daemon reads FTCP_RESTORES_AT_ONCE). */
  restoresAtOnce?: number;
  /** How long a FIN/RST of the stack waits for the app-liveness verdict. */
  closeGraceMs?: number;
  /** Without one, every restore replays from the stream's start. */
  checkpoints?: CheckpointSource;
  /**
   * Host failover: the primary lease. While it is not valid (its deadline passed unrenewed) the
   * wrapper is silent, exactly from the deadline on (checked per batch, not on a timer).
   */
  fence?: { valid(): boolean };
  /**
   * Adopted connections: after the first probe, ICMP unreachable errors about the client's
   * unacknowledged bytes, so that a client in retransmission backoff resends them at once
   * (RFC 6069) instead of after its backed-off timer. Off by default; the daemon follows its config.
   */
  icmpNudge?: boolean;
  /**
   * Told when the wrapper starts and stops restoring (app down, restores running or waiting): a
   * burst of forged and replayed packets, which the daemon hands to the devices' writer threads.
   */
  onRestoring?: (restoring: boolean) => void;
  now?: () => number;
}


/** Largest replay segment: the stacks exchange up to 64 KiB packets over the TUN. */
const REPLAY_SEGMENT = 32 * 1024;
const CLOSED_LINGER_MS = 30_000;
/** Window offered to a restarted stack while it regenerates output the client already has. */
const REGEN_WINDOW_BYTES = 4 << 20;
/** Replayed bytes the stack has not acknowledged for this long are sent again (lost at the TUN). */
const REPLAY_RTO_MS = 300;
/** How far a checkpoint's creation time (the log server's clock) may lag a connection's opening. */
const CKPT_CLOCK_SLACK_MS = 1000;
/** A handshake the client never completed (spoofed or abandoned SYN) is forgotten after this. */
const SYN_RCVD_TIMEOUT_MS = 75_000;
/** Most client bytes an adopted connection logs beyond its durable point before its restore. */
const ADOPTED_ACCEPT_MAX = 8 << 20;
/** The payload of a learning probe (see sendHoldAck). */
const PROBE_BYTE = Buffer.alloc(1);
/**
 * Unreachable errors per adopted connection when the outage is unknown: each undoes one step of
 * the client's backoff (RFC 6069), and 8 undo a client's whole backoff after an outage of up to
 * ~50 s (RTO 200 ms doubled 8 times). Errors past the last step are ignored by the client.
 */
const NUDGES_MAX = 8;
/** Linux's lowest retransmission timeout: the most backoff steps an outage can have caused. */
const CLIENT_RTO_MIN_MS = 200;

/**
 * Errors enough to undo every backoff step an outage of `outageMs` can have caused (timers of
 * 200 ms doubling: b steps take 200·(2^b − 1) ms), plus one for the step a retransmission racing
 * the errors adds.
 */
export function nudgesFor(outageMs: number | undefined): number {
  if (outageMs === undefined || !Number.isFinite(outageMs)) return NUDGES_MAX;
  const steps = Math.ceil(Math.log2(1 + Math.max(0, outageMs) / CLIENT_RTO_MIN_MS));
  return Math.min(NUDGES_MAX, Math.max(2, steps + 1));
}
/**
 * A held client's segment is not answered when a hold ACK with the same ack went out this
 * recently: that one said it all (a takeover's probe burst draws an answer and a retransmission
 * from every client at once). Zero-window probes come 200 ms apart at least: each is answered.
 */
const HOLD_ACK_REPEAT_MS = 50;
/** After the first probes, adopted connections still silent are probed again this long after. */
const REPROBE_MS = [20, 200];
/**
 * ... but only once no client has answered for this long: while answers still come in, the
 * relay is working through them (a takeover of 1000 connections took ~0.5 s to read every
 * answer), and probing the clients whose answer waits in its queue only doubles the work.
 */
const REPROBE_QUIET_MS = 20;
/** A re-probe waits for quiet at most this long after it was due. */
const REPROBE_MAX_WAIT_MS = 1000;
/**
 * Restores under way at once; the others wait for a slot, in the order they became ready. A
 * thousand restores started together share the relay thread and the app, and nearly all finish
 * near the end (processor sharing); a bounded number finish one after the other, so the median
 * connection is back about halfway through instead of at the end (docs/PERFORMANCE.md, issue 8).
 */
const MAX_RESTORES_AT_ONCE = 64;

/** Restores at once from FTCP_RESTORES_AT_ONCE (default MAX_RESTORES_AT_ONCE; 1–100000). */
export function restoresAtOnce(env: string | undefined): number {
  if (env === undefined || env === '') return MAX_RESTORES_AT_ONCE;
  const n = Number(env);
  if (!Number.isInteger(n) || n < 1 || n > 100_000) throw new Error(`FTCP_RESTORES_AT_ONCE must be a whole number from 1 to 100000, not "${env}"`);
  return n;
}
/** holdClose looks at the app's liveness at most this often (shorter than any close grace). */
const ALIVE_LOOK_MS = 1;
/** An adopted connection whose client never answers a probe (it is gone) is dropped after this. */
const ADOPT_LEARN_TIMEOUT_MS = 120_000;

export class SecondWrapper implements PacketPath {
  readonly conns = new ConnTable();
  readonly counters: WrapperCounters = newWrapperCounters();
  /** True between a crash and the app listening again. */
  appDown = false;
  /** The service is being stopped on purpose (see shutdown()). */
  private stopping = false;
  /**
   * Fenced (host failover): this daemon may no longer hold the service — its lease lapsed or a
   * newer primary owns the log — so nothing reaches a client or the app, made or relayed.
   */
  silenced = false;

  private readonly parser = new PacketParser();
  private readonly parser2 = new PacketParser();
  private readonly ports: Set<number>;
  private readonly vip: Uint8Array;
  private readonly log: WrapperLog;
  private readonly forge: Forge;
  private readonly vnet: number;
  private readonly inject: (direction: Direction, packet: Buffer) => void;
  private readonly liveness: AppLiveness;
  private readonly logger: Logger;
  private readonly maxReplayBytes: number;
  private readonly closeGraceMs: number;
  private readonly checkpoints: CheckpointSource | undefined;
  private readonly fence: { valid(): boolean } | undefined;
  private readonly icmpNudge: boolean;
  private readonly holdIntervalMs: number;
  /** holdClose's last look at the app's liveness, and when (daemon clock). */
  private aliveLook = true;
  private aliveLookAt = -Infinity;
  private readonly now: () => number;
  /** Connections with something waiting for the log (pieces, FIN, held SYN-ACK, held ACK). */
  private readonly waiting = new Set<TcpConn>();
  private readonly clamp: ClampResult = { ackOff: 0, windowField: 0, rightEdgeOff: 0, clamped: false };
  private readonly ranges: Range[] = [];
  private readonly cur: PacketRef = { buf: Buffer.alloc(0), off: 0, len: 0 };
  private holdTimer: NodeJS.Timeout | undefined;
  private readonly reprobeTimers: NodeJS.Timeout[] = [];
  /** Restores holding a slot (MAX_RESTORES_AT_ONCE), and the connections waiting for one. */
  private restoresRunning = 0;
  private readonly restoresAtOnce: number;
  private restoreQueue: TcpConn[] = [];
  /** What onRestoring was last told. */
  private restoringNow = false;
  private readonly onRestoring: ((restoring: boolean) => void) | undefined;
  /** When an adopted connection's client last answered a probe (REPROBE_QUIET_MS). */
  private lastLearnedAt = -Infinity;
  private closeTimer: NodeJS.Timeout | undefined;
  private observer: DecisionObserver | null = null;
  /** The checkpoint the last restore started from: adopted connections learned later use it too. */
  private restoreCkpt: CheckpointInfo | undefined;
  /** Its positions by tuple key. */
  private restorePositions = new Map<string, ConnPosition>();

  constructor(opts: SecondWrapperOptions) {
    widenConnClasses();
    this.vip = opts.vip;
    this.ports = new Set(opts.ports);
    this.log = opts.log;
    this.vnet = opts.vnetHdrLen;
    this.forge = new Forge(opts.vnetHdrLen);
    this.inject = opts.inject;
    this.liveness = opts.liveness;
    this.logger = opts.logger;
    this.maxReplayBytes = opts.maxReplayBytes ?? 1 << 30;
    this.closeGraceMs = opts.closeGraceMs ?? 30;
    this.checkpoints = opts.checkpoints;
    this.fence = opts.fence;
    this.icmpNudge = opts.icmpNudge ?? false;
    this.onRestoring = opts.onRestoring;
    this.now = opts.now ?? (() => performance.now());
    this.log.onDurable((seq) => this.onDurable(seq));
    this.holdIntervalMs = opts.holdIntervalMs ?? 1000;
    this.restoresAtOnce = opts.restoresAtOnce ?? MAX_RESTORES_AT_ONCE;
    this.holdTimer = setInterval(() => this.sendHoldAcks(), this.holdIntervalMs);
    this.holdTimer.unref();
  }

  /**
   * The operator is stopping the service: from now on a FIN/RST of the stack is a close the app
   * was asked for, not a crash, and goes to the client at once.
   */
  shutdown(): void {
    this.stopping = true;
    // Closes held for a liveness verdict are the app's own (it was alive when it closed them): the
    // app is about to be stopped, so the verdict would read "dead" and call it a crash.
    if (this.closeTimer) clearTimeout(this.closeTimer);
    this.closeTimer = undefined;
    this.releaseHeldCloses();
  }

  /** The app is down, or restores are running or waiting for a slot. */
  get restoring(): boolean {
    return this.appDown || this.restoresRunning > 0 || this.restoreQueue.length > 0;
  }

  /** Tells onRestoring when `restoring` changed. */
  private noteRestoring(): void {
    const now = this.restoring;
    if (now === this.restoringNow) return;
    this.restoringNow = now;
    this.onRestoring?.(now);
  }

  close(): void {
    if (this.holdTimer) clearInterval(this.holdTimer);
    for (const t of this.reprobeTimers.splice(0)) clearTimeout(t);
    if (this.closeTimer) clearTimeout(this.closeTimer);
  }

  private isSilent(): boolean {
    return this.silenced || (this.fence !== undefined && !this.fence.valid());
  }

  /** Capture mode: report decisions to `o` from now on (null: stop). */
  setDecisionObserver(o: DecisionObserver | null): void {
    this.observer = o;
  }

  private note(note: DecisionNote, a = 0, b = 0): void {
    if (this.observer !== null) this.observer.decided(note, a, b);
  }

  /** Every packet the wrapper sends on its own goes through here. */
  private emit(direction: Direction, packet: Buffer, kind: InjectKind): void {
    if (this.isSilent()) {
      this.counters.silencedDrops++;
      return;
    }
    if (this.observer !== null) this.observer.injected(direction, packet, kind);
    this.inject(direction, packet);
  }

  // ------------------------------------------------------------------------------------------
  // Packet path
  // ------------------------------------------------------------------------------------------

  process(batch: PacketBatch, direction: Direction, out: PacketOutput): void {
    if (this.isSilent()) {
      this.counters.silencedDrops += batch.count;
      return;
    }
    const { buffer, offsets, lengths } = batch;
    const p = this.parser;
    const vnet = this.vnet;
    for (let i = 0; i < batch.count; i++) {
      const pktOff = offsets[i]!;
      const st = p.parse(buffer, pktOff + vnet, lengths[i]! - vnet);
      if (st !== 'ok') {
        if (this.malformedDrop(st)) continue;
        this.counters.passed++;
        out.transmit(batch, i);
        continue;
      }
      const tcp = p.tcp;
      const inbound = direction === 'inbound';
      const servicePort = inbound ? tcp.dstPort : tcp.srcPort;
      const serviceAddrOff = p.ipVersion === 4 ? p.ipOffset + (inbound ? 16 : 12) : p.ipOffset + (inbound ? 24 : 8);
      if (!this.ports.has(servicePort) || !this.isVip(buffer, serviceAddrOff, p.ipVersion)) {
        this.counters.passed++;
        out.transmit(batch, i);
        continue;
      }
      tcp.checksumMode = vnet > 0 && (buffer[pktOff]! & VnetFlags.NEEDS_CSUM) !== 0 ? 'partial' : 'full';
      const clientAddrOff = p.ipVersion === 4 ? p.ipOffset + (inbound ? 12 : 16) : p.ipOffset + (inbound ? 8 : 24);
      const clientPort = inbound ? tcp.srcPort : tcp.dstPort;
      const conn = this.conns.get(p.ipVersion, buffer, clientAddrOff, clientPort, servicePort);
      // Where the packet is (no per-packet view is allocated; copies are made only to hold one).
      const pkt = this.cur;
      pkt.buf = buffer;
      pkt.off = pktOff;
      pkt.len = lengths[i]!;
      if (inbound) {
        this.counters.protectedIn++;
        if (this.inbound(conn, tcp, pkt, clientAddrOff - pktOff, p.ipVersion)) out.transmit(batch, i);
      } else {
        this.counters.protectedOut++;
        if (conn === undefined) out.transmit(batch, i);
        else if (this.outbound(conn, tcp, pkt)) out.transmit(batch, i);
      }
    }
  }

  /** Malformed TCP is dropped and counted; what is not TCP at all passes through untouched. */
  private malformedDrop(st: ParseStatus): boolean {
    if (st === 'not-tcp' || st === 'fragment') return false;
    this.counters.malformed++;
    this.counters.malformedByReason[st] = (this.counters.malformedByReason[st] ?? 0) + 1;
    return true;
  }

  private isVip(buf: Buffer, off: number, ipVersion: number): boolean {
    const vip = this.vip;
    if ((ipVersion === 4) !== (vip.length === 4)) return false;
    for (let k = 0; k < vip.length; k++) if (buf[off + k] !== vip[k]) return false;
    return true;
  }

  // ------------------------------------------------------------------------------------------
  // Client → app
  // ------------------------------------------------------------------------------------------

  /** Returns true when the segment is to be transmitted (after in-place modification). */
  private inbound(conn: TcpConn | undefined, tcp: TcpPacket, pkt: PacketRef, clientAddrOff: number, ipVersion: number): boolean {
    const flags = tcp.flags;
    const isSyn = (flags & (TCP_SYN | TCP_ACK)) === TCP_SYN;
    if (conn === undefined || (isSyn && conn.state === 'CLOSED') || (isSyn && conn.state === 'SYN_RCVD' && tcp.seq !== conn.irs)) {
      if (!isSyn) return true; // not ours: established before the daemon, or long closed
      if (this.appDown) {
        this.note('discarded-app-down-syn');
        return false; // the app is down: the client retries its SYN
      }
      if (conn) this.dropConn(conn);
      this.openConn(tcp, pkt, clientAddrOff, ipVersion);
      return true;
    }
    switch (conn.state) {
      case 'SYN_RCVD':
        if (flags & TCP_RST) this.dropConn(conn); // the client gave up (or never existed)
        return true;
      case 'NORMAL':
        return this.inboundNormal(conn, tcp);
      case 'RECOVERING':
      case 'REPLAYING':
        this.inboundHeld(conn, tcp);
        this.note('discarded-held');
        return false;
      case 'CLOSED':
        this.rewriteInbound(conn, tcp);
        return true;
    }
  }

  /**
   * Forgets a connection: out of the table, and out of what waits for the log — a SYN-ACK held
   * there must never go out once the connection is dropped (a dead stack's SYN-ACK would make the
   * client's ACK meet a stack without the socket, which resets it).
   */
  private dropConn(conn: TcpConn): void {
    conn.heldSynAck = null;
    this.waiting.delete(conn);
    this.conns.delete(conn);
  }

  private openConn(tcp: TcpPacket, pkt: PacketRef, clientAddrOff: number, ipVersion: number): void {
    const alen = ipVersion === 4 ? 4 : 16;
    const at = pkt.off + clientAddrOff;
    const clientAddr = Uint8Array.from(pkt.buf.subarray(at, at + alen));
    const tuple = tupleKey(clientAddr, tcp.srcPort, tcp.dstPort);
    const conn = new TcpConn({
      id: daemonConnId(tuple, tcp.seq),
      ipVersion: ipVersion === 4 ? 4 : 6,
      clientAddr,
      clientPort: tcp.srcPort,
      serverAddr: this.vip,
      serverPort: tcp.dstPort,
      irs: tcp.seq,
      opts: {
        clientMss: tcp.mss,
        serverMss: -1,
        clientWscale: tcp.wscale,
        serverWscale: -1,
        sackOk: tcp.sackPermitted,
        tsOk: tcp.tsOff >= 0,
        clientSynWindow: tcp.window,
      },
    });
    if (tcp.tsOff >= 0) conn.clientTsval = tcp.tsval;
    conn.clientWindow = tcp.window;
    conn.openedAt = this.now();
    conn.openedWallMs = Date.now();
    this.conns.add(conn);
  }

  private inboundNormal(conn: TcpConn, tcp: TcpPacket): boolean {
    const flags = tcp.flags;
    if (flags & TCP_RST) {
      // A blind RST (seq off the point the client reached) is the stack's to judge, not ours.
      if (this.rstInWindow(conn, tcp)) this.closeConn(conn, ConnectionClosed_Reason.RESET_BY_CLIENT);
      this.rewriteInbound(conn, tcp);
      return true;
    }
    // Bytes that could not be logged do not reach the app: the client resends them later.
    if (!this.storeClientBytes(conn, tcp)) return false;
    this.noteClientAck(conn, tcp);
    this.rewriteInbound(conn, tcp);
    return true;
  }

  /** Appends to the log; -1 (counted) when the log refuses, e.g. it failed for good or closed. */
  private append(record: LogRecord): number {
    try {
      return this.log.append(record);
    } catch (err) {
      return this.refused(err);
    }
  }

  private appendClientData(conn: TcpConn, offset: number, data: Uint8Array): number {
    try {
      return this.log.appendClientData(conn.id, conn.idBytes, offset, data);
    } catch (err) {
      return this.refused(err);
    }
  }

  private refused(err: unknown): -1 {
    this.counters.logErrors++;
    if (this.counters.logErrors === 1 || this.counters.logErrors % 1000 === 0) {
      this.logger.error({ err, count: this.counters.logErrors }, 'the log refused an append: client data is held back');
    }
    return -1;
  }

  private rstInWindow(conn: TcpConn, tcp: TcpPacket): boolean {
    const off = conn.clientOff(tcp.seq);
    return off >= Math.min(conn.stackAckOff, conn.client.rcvLogged) && off <= Math.max(conn.client.rcvAppended, conn.stackAckOff);
  }

  /** Store: client payload not yet logged, and the client's FIN (claim 1). False if the log refused. */
  private storeClientBytes(conn: TcpConn, tcp: TcpPacket): boolean {
    const len = tcp.payloadLen;
    const flags = tcp.flags;
    if ((len === 0 && !(flags & TCP_FIN)) || conn.unprotected) return true;
    const off = conn.clientOff(tcp.seq);
    // Only bytes inside the window the client was offered may reach the stack, and those are all
    // logged: a segment reaching past it (a probe, or garbage) is dropped; the client resends.
    if (off < 0 || off + len > Math.max(conn.lastRightEdge, conn.adoptedAcceptEdge)) {
      if (len > 0) this.note('discarded-outside-window');
      return len === 0;
    }
    if (len > 0) {
      const missing = conn.client.missing(off, off + len, this.ranges);
      const base = tcp.payloadOffset - off;
      for (const r of missing) {
        const data = tcp.buf.subarray(base + r.start, base + r.end);
        const seq = this.appendClientData(conn, r.start, data);
        if (seq < 0) {
          this.note('discarded-log-refused');
          return false;
        }
        conn.client.appended(r.start, r.end, seq);
        this.note('stored-data', r.start, r.end);
        this.counters.loggedBytes += r.end - r.start;
        if (conn.replaySourceActive) conn.replaySource.add(r.start, Buffer.from(data));
      }
      if (missing.length > 0) this.waiting.add(conn);
      if (conn.client.rcvAppended > this.maxReplayBytes && !conn.unprotected) {
        conn.unprotected = true;
        this.logger.warn({ conn: conn.id, bytes: conn.client.rcvAppended }, 'connection past --max-replay-bytes: no longer protected');
      }
    }
    if (flags & TCP_FIN && conn.clientFinOff < 0) {
      const seq = this.append(rec(conn.id, { $case: 'clientFin', value: { offset: off + len } }));
      if (seq < 0) {
        this.note('discarded-log-refused');
        return false;
      }
      this.note('stored-fin', off + len);
      conn.clientFinOff = off + len;
      conn.clientFinLogSeq = seq;
      this.waiting.add(conn);
    }
    return true;
  }

  private noteClientAck(conn: TcpConn, tcp: TcpPacket): void {
    if (tcp.tsOff >= 0) conn.clientTsval = tcp.tsval;
    conn.clientWindow = tcp.window;
    if (!(tcp.flags & TCP_ACK)) return;
    const ackOff = conn.serverOff(tcp.ack);
    if (ackOff > conn.sndUna && ackOff <= conn.sndNxtOff) conn.sndUna = Math.min(ackOff, conn.sndMax);
  }

  /** Modify: ack and SACK edges into the stack's sequence space, TSecr into its clock. */
  private rewriteInbound(conn: TcpConn, tcp: TcpPacket): void {
    const flags = tcp.flags;
    if (conn.verifier !== null && flags & TCP_ACK) {
      // After a restore the stack may not have regenerated what the client acknowledges yet.
      const stackAck = seqAdd(tcp.ack, -conn.delta);
      const capped = seqDiff(stackAck, conn.stackSndNxt) > 0 ? conn.stackSndNxt : stackAck;
      tcp.setAck(capped);
    } else if (conn.delta !== 0 && flags & TCP_ACK) {
      tcp.setAck(seqAdd(tcp.ack, -conn.delta));
    }
    if (conn.delta !== 0 && tcp.sackOff >= 0) {
      for (let k = 0; k < tcp.sackCount; k++) {
        tcp.setSackLeft(k, seqAdd(tcp.sackLeft(k), -conn.delta));
        tcp.setSackRight(k, seqAdd(tcp.sackRight(k), -conn.delta));
      }
    }
    if (conn.tsOffset !== 0 && tcp.tsOff >= 0 && flags & TCP_ACK) tcp.setTsecr(seqAdd(tcp.tsecr, -conn.tsOffset));
  }

  // ------------------------------------------------------------------------------------------
  // App → client
  // ------------------------------------------------------------------------------------------

  /** Returns true when the segment is to be transmitted (after in-place modification). */
  private outbound(conn: TcpConn, tcp: TcpPacket, pkt: PacketRef): boolean {
    const flags = tcp.flags;
    if (flags & TCP_ACK) this.noteStackAck(conn, tcp);
    switch (conn.state) {
      case 'SYN_RCVD':
        if ((flags & (TCP_SYN | TCP_ACK)) === (TCP_SYN | TCP_ACK)) {
          this.holdSynAck(conn, tcp, pkt);
          this.note(conn.openedLogSeq >= 0 ? 'delayed-synack' : 'discarded-log-refused');
          return false;
        }
        if (flags & TCP_RST) {
          this.dropConn(conn);
          // Nothing listens. An app that is exiting (killed, not yet reaped) is restarted: the
          // client retries its SYN then, instead of being refused.
          if (!this.stopping && !this.appAliveLook()) {
            this.note('discarded-app-down-refusal');
            return false;
          }
        }
        return true;
      case 'NORMAL':
      case 'REPLAYING':
        // Discard (claim 4) unless explained: by the shim's close intent, or (without one) by the
        // app living on.
        if (flags & (TCP_FIN | TCP_RST) && !conn.closeExplained && !this.stopping && !(flags & TCP_SYN)) {
          if (!this.intentExplains(conn, flags)) {
            this.holdClose(conn, pkt);
            this.note('delayed-close');
            return false;
          }
          this.noteIntentHonoured(conn);
        }
        return this.outboundLive(conn, tcp, pkt);
      case 'RECOVERING':
        this.counters.discarded++; // the dead stack's last words (FIN, RST, retransmissions)
        this.note('discarded-dead-stack');
        return false;
      case 'CLOSED':
        return this.outboundNormal(conn, tcp);
    }
  }

  /** A segment of a live stack: normal relay, or replay while regenerated output is checked. */
  private outboundLive(conn: TcpConn, tcp: TcpPacket, pkt: PacketRef): boolean {
    if (conn.state === 'REPLAYING') return this.outboundReplaying(conn, tcp, pkt);
    // Restored, but the stack has not regenerated all the client saw yet: keep comparing its
    // output (pure ACKs go out as usual).
    if (conn.verifier !== null && (tcp.payloadLen > 0 || tcp.flags & TCP_FIN)) return this.outboundReplaying(conn, tcp, pkt);
    return this.outboundNormal(conn, tcp);
  }

  private noteStackAck(conn: TcpConn, tcp: TcpPacket): void {
    const ackOff = conn.clientOff(tcp.ack);
    if (ackOff > conn.stackAckOff) conn.replayProgressAt = this.now();
    if (ackOff >= conn.stackAckOff) {
      conn.stackAckOff = ackOff;
      conn.stackWindowBytes = tcp.flags & TCP_SYN ? tcp.window : tcp.window * 2 ** conn.stackShift;
    }
  }

  /** Delay (claim 3): the client sees the SYN-ACK only once the connection's record is durable. */
  private holdSynAck(conn: TcpConn, tcp: TcpPacket, pkt: PacketRef): void {
    if (conn.openedLogSeq < 0) {
      conn.iss0 = tcp.seq;
      conn.opts.serverMss = tcp.mss;
      conn.opts.serverWscale = tcp.wscale;
      conn.opts.sackOk = conn.opts.sackOk && tcp.sackPermitted;
      conn.opts.tsOk = conn.opts.tsOk && tcp.tsOff >= 0;
      conn.stackShift = conn.serverShift;
      if (tcp.tsOff >= 0) conn.lastTsvalOut = tcp.tsval;
      conn.lastTsvalAt = this.now();
      conn.opened = openedRecord(conn);
      conn.openedLogSeq = this.append(conn.opened);
      if (conn.openedLogSeq < 0) {
        // Not logged, not protected: the client retries its SYN.
        this.dropConn(conn);
        return;
      }
      this.note('stored-opened');
      this.waiting.add(conn);
    }
    conn.heldSynAck = copyPacket(pkt);
    if (this.log.durableSeq >= conn.openedLogSeq) this.releaseSynAck(conn);
  }

  private releaseSynAck(conn: TcpConn): void {
    const pkt = conn.heldSynAck;
    if (!pkt) return;
    conn.heldSynAck = null;
    conn.state = 'NORMAL';
    conn.lastAckOff = 0;
    const p = this.parser2;
    if (p.parse(pkt, this.vnet, pkt.length - this.vnet) === 'ok') conn.lastRightEdge = p.tcp.window;
    this.emit('outbound', pkt, 'released-synack');
  }

  private outboundNormal(conn: TcpConn, tcp: TcpPacket): boolean {
    const flags = tcp.flags;
    const seqC = seqAdd(tcp.seq, conn.delta);
    const off = conn.serverOff(seqC);
    const len = tcp.payloadLen;
    if (len > 0) {
      const end = off + len;
      conn.hasher.update(off, tcp.buf, tcp.payloadOffset, len);
      if (end > conn.sndMax) conn.sndMax = end;
    }
    if (flags & TCP_FIN && conn.serverFinOff < 0) conn.serverFinOff = off + len;
    if (flags & TCP_RST) {
      this.closeConn(conn, ConnectionClosed_Reason.RESET_BY_SERVER);
    } else if (flags & TCP_ACK && !conn.unprotected) {
      // Output commit on the ack; a pure ACK with nothing new for the client waits for the log.
      // (An unprotected connection logs nothing more, so its ACKs pass as the stack sends them.)
      const c = clampAck(conn.stackAckOff, conn.stackWindowBytes, conn.durableAckOff, conn.lastRightEdge, conn.serverShift, this.clamp);
      const pure = len === 0 && !(flags & (TCP_SYN | TCP_FIN));
      if (c.clamped) {
        conn.ackPending = true;
        this.waiting.add(conn);
        if (pure && c.ackOff <= conn.lastAckOff) {
          this.counters.acksHeld++;
          this.note('delayed-ack', conn.stackAckOff, conn.durableAckOff);
          return false;
        }
      }
      this.applyClamp(conn, tcp, c);
    } else if (flags & TCP_ACK && conn.stackShift !== conn.serverShift) {
      tcp.setWindow(rescaleWindow(tcp.window, conn.stackShift, conn.serverShift));
    }
    // A restored stack that has not regenerated all the client acked yet sends pure ACKs with an
    // older seq: the client would take them for old duplicates and drop them unread (its data
    // never acked). They carry the client's own ack point instead.
    if (len === 0 && !(flags & (TCP_SYN | TCP_FIN)) && off < conn.sndUna) tcp.setSeq(conn.serverSeq(conn.sndUna));
    else if (conn.delta !== 0) tcp.setSeq(seqC);
    if (tcp.sackOff >= 0 && !conn.unprotected) this.filterSack(conn, tcp);
    this.rewriteTsval(conn, tcp);
    if (conn.state === 'CLOSED' || (conn.serverFinOff >= 0 && conn.clientFinOff >= 0)) this.maybeClosed(conn);
    return true;
  }

  private applyClamp(conn: TcpConn, tcp: TcpPacket, c: ClampResult): void {
    tcp.setAck(conn.clientSeq(c.ackOff));
    if (tcp.window !== c.windowField) tcp.setWindow(c.windowField);
    if (c.ackOff > conn.lastAckOff) conn.lastAckOff = c.ackOff;
    if (c.rightEdgeOff > conn.lastRightEdge) conn.lastRightEdge = c.rightEdgeOff;
    conn.lastWindowField = c.windowField;
  }

  /** SACK blocks the client may trust must cover durable bytes only; the others are blanked. */
  private filterSack(conn: TcpConn, tcp: TcpPacket): void {
    let keep = true;
    for (let k = 0; k < tcp.sackCount; k++) {
      const l = conn.clientOff(tcp.sackLeft(k));
      const r = conn.clientOff(tcp.sackRight(k));
      if (!conn.client.isDurable(l, r)) keep = false;
    }
    if (keep) return;
    const start = tcp.sackOff - 2;
    const end = tcp.sackOff + 8 * tcp.sackCount;
    for (let o = start; o < end; o += 2) tcp.rewrite16(o, 0x0101);
  }

  private rewriteTsval(conn: TcpConn, tcp: TcpPacket): void {
    if (tcp.tsOff < 0) return;
    const tsv = seqAdd(tcp.tsval, conn.tsOffset);
    if (conn.tsOffset !== 0) tcp.setTsval(tsv);
    if (seqDiff(tsv, conn.lastTsvalOut) >= 0) {
      conn.lastTsvalOut = tsv;
      conn.lastTsvalAt = this.now();
    }
  }

  // ------------------------------------------------------------------------------------------
  // Durability: release what waited for the log
  // ------------------------------------------------------------------------------------------

  private onDurable(durableSeq: number): void {
    for (const conn of this.waiting) {
      let moved = conn.client.durableUpTo(durableSeq);
      if (conn.clientFinLogSeq >= 0 && !conn.clientFinDurable && conn.clientFinLogSeq <= durableSeq) {
        conn.clientFinDurable = true;
        moved = true;
      }
      if (conn.heldSynAck && conn.openedLogSeq <= durableSeq) this.releaseSynAck(conn);
      if (conn.state === 'NORMAL' && conn.ackPending && conn.durableAckOff > conn.lastAckOff) {
        this.sendClampedAck(conn);
        // The stack's ACK of the client's FIN may have been the one held: the close completes here.
        if (conn.serverFinOff >= 0 && conn.clientFinDurable) this.maybeClosed(conn);
      } else if ((conn.state === 'RECOVERING' || conn.state === 'REPLAYING') && moved) this.sendHoldAck(conn);
      if (conn.state === 'REPLAYING') this.pumpReplay(conn);
      const idle =
        conn.client.pendingPieces === 0 &&
        (conn.clientFinLogSeq < 0 || conn.clientFinDurable) &&
        !conn.heldSynAck &&
        !(conn.ackPending && conn.stackAckOff > conn.durableAckOff);
      if (idle) {
        conn.ackPending = false;
        this.waiting.delete(conn);
      }
    }
  }

  /** A synthesized ACK at the new durable point (the stack's own ACK was held). */
  private sendClampedAck(conn: TcpConn): void {
    const c = clampAck(conn.stackAckOff, conn.stackWindowBytes, conn.durableAckOff, conn.lastRightEdge, conn.serverShift, this.clamp);
    if (c.ackOff <= conn.lastAckOff && c.windowField === conn.lastWindowField) return;
    conn.lastAckOff = Math.max(conn.lastAckOff, c.ackOff);
    conn.lastRightEdge = Math.max(conn.lastRightEdge, c.rightEdgeOff);
    conn.lastWindowField = c.windowField;
    conn.ackPending = c.clamped;
    this.counters.acksSynthesized++;
    // The TSval repeats the last one: a later one could run ahead of the stack's clock (PAWS).
    this.emit(
      'outbound',
      this.forge.toClient(conn, {
        seq: conn.serverSeq(conn.sndNxtOff),
        ack: conn.clientSeq(c.ackOff),
        flags: FLAGS.ACK,
        window: c.windowField,
        ...(conn.opts.tsOk ? { tsval: conn.lastTsvalOut, tsecr: conn.clientTsval } : {}),
      }),
      'forged-ack',
    );
  }

  // ------------------------------------------------------------------------------------------
  // Close: a FIN/RST of the stack is a close only if the app is alive (else it is a crash)
  // ------------------------------------------------------------------------------------------

  private holdClose(conn: TcpConn, pkt: PacketRef): void {
    conn.heldClose = copyPacket(pkt);
    // A stale "alive" only defers the verdict to judgeHeldCloses, which looks again.
    if (!this.appAliveLook()) {
      this.appCrashed('the stack closed connections while the app was exiting');
      return;
    }
    if (!this.closeTimer) {
      this.closeTimer = setTimeout(() => {
        this.closeTimer = undefined;
        this.judgeHeldCloses();
      }, this.closeGraceMs);
    }
  }

  /**
   * Whether the app is alive, looked at most once per millisecond (a /proc read, ~0.1 ms: a
   * thousand clients closing at once made a thousand, and so would a burst of refused SYNs).
   */
  private appAliveLook(): boolean {
    const now = this.now();
    if (now - this.aliveLookAt >= ALIVE_LOOK_MS) {
      this.aliveLook = this.liveness.isAlive();
      this.aliveLookAt = now;
    }
    return this.aliveLook;
  }

  private judgeHeldCloses(): void {
    if (!this.liveness.isAlive()) {
      this.appCrashed('the stack closed connections while the app was exiting');
      return;
    }
    this.releaseHeldCloses();
  }

  private releaseHeldCloses(): void {
    for (const conn of this.conns.all()) {
      if (!conn.heldClose || (conn.state !== 'NORMAL' && conn.state !== 'REPLAYING')) continue;
      conn.closeExplained = true;
      this.releaseHeldClose(conn);
    }
  }

  /** The held FIN/RST goes on as if it had just come from the stack. */
  private releaseHeldClose(conn: TcpConn): void {
    const pkt = conn.heldClose;
    if (!pkt) return;
    conn.heldClose = null;
    const p = this.parser2;
    if (p.parse(pkt, this.vnet, pkt.length - this.vnet) !== 'ok') return;
    p.tcp.checksumMode = this.vnet > 0 && (pkt[0]! & VnetFlags.NEEDS_CSUM) !== 0 ? 'partial' : 'full';
    if (p.tcp.flags & TCP_ACK) this.noteStackAck(conn, p.tcp);
    if (this.outboundLive(conn, p.tcp, { buf: pkt, off: 0, len: pkt.length })) this.emit('outbound', pkt, 'released-close');
  }

  /**
   * The shim logged (durably) that the app closes the connection named by `tuple` (conn-key.ts):
   * its FIN (END, DESTROY) or RST (DESTROY, RESET) then passes at once instead of waiting for the
   * liveness verdict, and a close already held for it is released now. The intent may come before
   * the stack's FIN (the shim logs it before calling end()); it stays with the connection.
   */
  closeIntent(tuple: string, how: CloseIntent_How, serverOffset: number): void {
    const conn = this.conns.byTuple(tuple);
    const known = how === CloseIntent_How.END || how === CloseIntent_How.DESTROY || how === CloseIntent_How.RESET;
    if (!conn || !known || conn.state === 'SYN_RCVD' || conn.state === 'CLOSED') {
      this.counters.closeIntentsUnmatched++;
      this.logger.debug({ tuple, how, serverOffset, state: conn?.state }, 'close intent for no live connection: ignored');
      return;
    }
    this.counters.closeIntents++;
    // END < DESTROY < RESET in what they explain (see intentExplains).
    if (how > conn.closeIntent) conn.closeIntent = how;
    const held = conn.heldClose;
    if (!held || (conn.state !== 'NORMAL' && conn.state !== 'REPLAYING')) return;
    const p = this.parser2;
    if (p.parse(held, this.vnet, held.length - this.vnet) !== 'ok' || !this.intentExplains(conn, p.tcp.flags)) return;
    this.noteIntentHonoured(conn);
    this.releaseHeldClose(conn);
  }

  /** A FIN is explained by any close intent, an RST only by DESTROY (unread data) or RESET. */
  private intentExplains(conn: TcpConn, flags: number): boolean {
    const how = conn.closeIntent;
    if (how === 0) return false;
    return flags & TCP_RST ? how === CloseIntent_How.DESTROY || how === CloseIntent_How.RESET : true;
  }

  private noteIntentHonoured(conn: TcpConn): void {
    if (conn.closeIntentHonoured) return;
    conn.closeIntentHonoured = true;
    this.counters.closeIntentsHonoured++;
  }

  private maybeClosed(conn: TcpConn): void {
    const clientAckedFin = conn.serverFinOff >= 0 && conn.sndUna >= conn.serverFinOff && conn.clientFinOff >= 0;
    if (conn.state !== 'CLOSED' && clientAckedFin) this.closeConn(conn, ConnectionClosed_Reason.FIN_BOTH);
  }

  private closeConn(conn: TcpConn, reason: ConnectionClosed_Reason): void {
    if (!conn.closeLogged) {
      conn.closeLogged = true;
      this.append(rec(conn.id, { $case: 'closed', value: { reason } }));
    }
    conn.state = 'CLOSED';
    this.restoreEnded(conn);
    const t = setTimeout(() => {
      if (conn.state === 'CLOSED') this.dropConn(conn);
    }, CLOSED_LINGER_MS);
    t.unref();
  }

  // ------------------------------------------------------------------------------------------
  // Recovery (claims 1, 6, 14)
  // ------------------------------------------------------------------------------------------

  /** The app died: hold every client, purge the dead sockets, wait for the app to listen again. */
  appCrashed(reason: string): void {
    if (this.appDown || this.stopping) return; // a stop on purpose holds nobody
    this.appDown = true;
    // Restores under way or waiting start over once the app listens again (restoreAll).
    this.restoresRunning = 0;
    for (const conn of this.restoreQueue) conn.restoreQueued = false;
    this.restoreQueue = [];
    for (const conn of this.conns.all()) {
      conn.restoreSlot = false;
      conn.replayPrefetched = false; // read again by the next restores' pass
    }
    let held = 0;
    for (const conn of [...this.conns.all()]) {
      if (conn.state === 'SYN_RCVD' || conn.state === 'CLOSED') {
        this.dropConn(conn); // the client retries its SYN; a closed one needs nothing
        continue;
      }
      if (conn.unprotected) {
        this.resetClient(conn);
        this.counters.unprotectedResets++;
        continue;
      }
      const wasReplaying = conn.state === 'REPLAYING';
      conn.state = 'RECOVERING';
      // What the client sends while held is kept in memory too: the log may not have it durable
      // yet when the replay reads it back.
      if (!conn.replaySourceActive) {
        conn.replaySource = new ReplaySource();
        conn.replaySourceActive = true;
      }
      conn.heldClose = null;
      conn.recoveries++;
      if (!wasReplaying) this.counters.recoveries++;
      this.purgeStackSocket(conn);
      this.sendHoldAck(conn);
      held++;
    }
    this.logger.warn({ reason, connections: held }, 'app crash detected: holding clients');
    this.noteRestoring();
  }

  /**
   * The shim's log session (an Append stream) ended: a crash signal besides the supervisor's. It
   * counts only if the app is not alive (a live app may reconnect its session).
   */
  /**
   * A checkpoint was stored: log each open connection's record again, so the store keeps only the
   * newest and the segment holding the first one can be reclaimed (retention.ts).
   */
  checkpointStored(): void {
    for (const conn of this.conns.all()) {
      if (conn.opened && conn.state !== 'CLOSED' && conn.state !== 'SYN_RCVD' && !conn.unprotected) this.append(conn.opened);
    }
  }

  shimSessionLost(streamId: string): void {
    if (this.stopping || this.appDown || this.liveness.isAlive()) return;
    this.counters.shimSessionsLost++;
    this.appCrashed(`the shim's log session ${streamId} dropped and the app is not alive`);
  }

  /** The restarted app listens: restore every held connection into its stack. */
  appListening(): void {
    if (!this.appDown) return;
    this.appDown = false; // onRestoring hears of it from restoreAll, once restores run
    let latest: ReturnType<CheckpointSource['latest']>;
    try {
      latest = this.checkpoints?.latest();
    } catch (err) {
      latest = Promise.reject(err);
    }
    if (!(latest instanceof Promise)) {
      this.restoreAll(latest);
      return;
    }
    latest.then(
      (ckpt) => this.restoreAll(ckpt),
      (err: unknown) => {
        // Records below the checkpoint may be gone: a replay from the start could stall or lie.
        this.logger.error({ err }, 'cannot read the latest checkpoint: resetting the held connections');
        for (const conn of [...this.conns.all()]) if (conn.state === 'RECOVERING') this.abortConn(conn);
        this.noteRestoring();
      },
    );
  }

  /** Forged handshakes for every held connection, from the checkpoint's positions where it has one. */
  private restoreAll(ckpt: CheckpointInfo | undefined): void {
    if (this.appDown) return; // crashed again meanwhile: the next appListening restores
    this.restoreCkpt = ckpt;
    const positions = new Map<string, ConnPosition>();
    for (const p of ckpt?.positions ?? []) positions.set(tupleKeyOfConnId(p.connId), p);
    this.restorePositions = positions;
    if (ckpt) this.logger.info({ lsn: ckpt.lsn, createdUnixMs: ckpt.createdUnixMs, positions: positions.size }, 'restore: latest checkpoint');
    const restoring = new Map<string, TcpConn>();
    for (const conn of [...this.conns.all()]) {
      if (conn.state !== 'RECOVERING' || conn.restoreQueued) continue;
      if (conn.learning) {
        // An adopted connection not heard from yet restores once its client answers (restoreOne);
        // its logged stream comes in this same pass meanwhile (a read per connection was a
        // thousand reads through the store in a 1000-connection takeover).
        conn.replayPrefetched = true;
        conn.replayRead = 'pending';
        restoring.set(conn.id, conn);
        continue;
      }
      const pos = positions.get(conn.tuple);
      if (pos && ckpt && !this.applyPosition(conn, pos, ckpt)) continue;
      this.admitRestore(conn, false);
      restoring.set(conn.id, conn);
    }
    // One pass over the log for all of them, those still waiting for a slot too.
    if (restoring.size > 0) this.readReplayAll(restoring);
    this.noteRestoring();
  }

  /**
   * The restarted app starts from the checkpoint's state: the stack is given the client stream
   * from clientOffset, and regenerates the server stream from serverOffset. False if the position
   * cannot be honoured (the connection was reset).
   */
  private applyPosition(conn: TcpConn, pos: ConnPosition, ckpt: CheckpointInfo): boolean {
    // A position from before this connection opened belongs to an older one on the same 4-tuple
    // (the slack covers a remote log server's clock; the client's TIME_WAIT keeps a 4-tuple from
    // being reused that fast).
    if (conn.openedWallMs > ckpt.createdUnixMs + CKPT_CLOCK_SLACK_MS) return true;
    const c = pos.clientOffset;
    const sOff = pos.serverOffset;
    if (c > conn.client.rcvAppended || sOff > conn.sndUna) {
      // The client may lack server bytes the app will not produce again, or the app claims client
      // bytes that never passed: nothing exact can be restored.
      this.logger.error(
        { conn: conn.id, clientOffset: c, serverOffset: sOff, rcvAppended: conn.client.rcvAppended, sndUna: conn.sndUna },
        'checkpoint position beyond what the connection carried: resetting it',
      );
      this.abortConn(conn);
      return false;
    }
    conn.clientBase = c;
    conn.serverBase = sOff;
    this.counters.restoredFromCheckpoint++;
    this.logger.debug({ conn: conn.id, clientBase: c, serverBase: sOff, rcvLogged: conn.client.rcvLogged, sndUna: conn.sndUna, sndMax: conn.sndMax }, 'restore: from the checkpoint');
    return true;
  }

  /** One held connection restored on its own (an adopted one whose client answered after the app listened). */
  private restoreOne(conn: TcpConn): void {
    const ckpt = this.restoreCkpt;
    const pos = this.restorePositions.get(conn.tuple);
    if (pos && ckpt && !this.applyPosition(conn, pos, ckpt)) return;
    this.admitRestore(conn, !conn.replayPrefetched);
  }

  /**
   * Starts a connection's restore now if a slot is free (MAX_RESTORES_AT_ONCE), else queues it.
   * `readsOwn`: it reads its replay from the log itself once started (else readReplayAll fills it).
   */
  private admitRestore(conn: TcpConn, readsOwn: boolean): void {
    conn.restoreReadsOwn = readsOwn;
    if (this.restoresRunning < this.restoresAtOnce) {
      this.beginRestore(conn);
      return;
    }
    conn.restoreQueued = true;
    if (!conn.replayPrefetched) conn.replayRead = 'pending';
    this.restoreQueue.push(conn);
    this.noteRestoring();
  }

  private beginRestore(conn: TcpConn): void {
    // What the pass over the log (readReplayAll) did while this one waited for its slot, or for
    // its client's answer.
    const byPass = !conn.restoreReadsOwn && (conn.restoreQueued || conn.replayPrefetched);
    const readWhileWaiting = byPass ? conn.replayRead : 'pending';
    conn.replayPrefetched = false;
    if (readWhileWaiting === 'failed') {
      conn.restoreQueued = false;
      this.abortConn(conn);
      return;
    }
    conn.restoreQueued = false;
    conn.restoreSlot = true;
    this.restoresRunning++;
    this.noteRestoring();
    this.startRestore(conn);
    if (conn.restoreReadsOwn) this.readReplay(conn, conn.clientBase);
    else if (readWhileWaiting === 'done') {
      conn.replayRead = 'done';
      this.pumpReplay(conn);
    }
  }

  /** A restore finished or its connection ended: its slot goes to the next waiting one. */
  private restoreEnded(conn: TcpConn): void {
    conn.restoreQueued = false;
    if (!conn.restoreSlot) return;
    conn.restoreSlot = false;
    this.restoresRunning--;
    while (this.restoresRunning < this.restoresAtOnce && this.restoreQueue.length > 0 && !this.appDown) {
      const next = this.restoreQueue.shift()!;
      if (next.restoreQueued && next.state === 'RECOVERING') this.beginRestore(next);
    }
    this.noteRestoring();
  }

  /**
   * Connections found open in the log when the daemon starts (its own restart, or a takeover from
   * a failed host): each is held like after an app crash, and probed so that its client tells
   * where it stands. Call before any packet flows (a client segment for an unknown connection
   * would reach the new stack, which answers with a reset), then `probeHeld()` once the relay runs.
   */
  adopt(found: readonly AdoptedConn[]): void {
    const now = this.now();
    for (const a of found) {
      const o = a.opened;
      const clientAddr = Uint8Array.from(o.client?.addr ?? []);
      if ((clientAddr.length !== 4 && clientAddr.length !== 16) || this.conns.byTuple(tupleKeyOfConnId(a.id))) continue;
      const opt = o.options;
      const conn = new TcpConn({
        id: a.id,
        ipVersion: clientAddr.length === 4 ? 4 : 6,
        clientAddr,
        clientPort: o.client?.port ?? 0,
        serverAddr: this.vip,
        serverPort: o.server?.port ?? 0,
        irs: o.irs,
        opts: {
          clientMss: opt && opt.mss > 0 ? opt.mss : -1,
          serverMss: opt && opt.serverMss > 0 ? opt.serverMss : -1,
          clientWscale: opt?.clientWindowScale ?? -1,
          serverWscale: opt?.serverWindowScale ?? -1,
          sackOk: opt?.sackPermitted ?? false,
          tsOk: opt?.timestamps ?? false,
          clientSynWindow: o.clientWindow,
        },
      });
      if (!this.ports.has(conn.serverPort)) continue;
      conn.iss0 = o.iss0;
      conn.stackShift = conn.serverShift;
      conn.clientTsval = opt?.firstTsval ?? 0;
      conn.lastTsvalOut = opt?.firstTsecr ?? 0;
      conn.lastTsvalAt = now;
      conn.clientWindow = o.clientWindow;
      conn.opened = { connId: a.id, kind: { $case: 'opened', value: o } };
      conn.openedLogSeq = 0;
      // The logged client stream, all durable (the log gave it back).
      conn.client = new ClientStream(a.clientStart);
      for (const [start, end] of a.pieces) conn.client.appended(start, end, 0);
      conn.client.durableUpTo(0);
      if (a.finOff >= 0 && a.finOff === conn.client.rcvLogged) {
        conn.clientFinOff = a.finOff;
        conn.clientFinLogSeq = 0;
        conn.clientFinDurable = true;
      }
      // Nothing is known of the server stream beyond the checkpoint's position, the reference for
      // reading the client's first ACK.
      conn.sndUna = conn.sndMax = a.serverStart;
      conn.lastAckOff = conn.lastRightEdge = conn.durableAckOff;
      // The window the old primary offered is unknown, but a client sends only inside it: what it
      // sends now (its retransmissions of bytes lost with the old host) is logged, not dropped.
      conn.adoptedAcceptEdge = conn.durableAckOff + Math.min(0xffff * 2 ** conn.serverShift, ADOPTED_ACCEPT_MAX);
      conn.state = 'RECOVERING';
      conn.replaySource = new ReplaySource();
      conn.replaySourceActive = true;
      conn.learning = true;
      conn.adoptedAt = now;
      conn.openedWallMs = 0; // opened before any checkpoint this daemon can read
      this.conns.add(conn);
      this.counters.adopted++;
    }
    if (this.counters.adopted > 0) {
      this.appDown = true;
      this.logger.warn({ connections: this.counters.adopted }, 'connections found open in the log: holding their clients until the app restores them');
      this.noteRestoring();
    }
  }

  /**
   * Probes every held connection now (adopted ones learn where their client stands from the
   * answer). An adopted connection's client has been unanswered since the old host or daemon
   * died, its timer backed off (0.2, 0.4, 0.8, 1.6 s …): with `icmpNudge`, a client whose answer
   * shows bytes in flight is told to resend them now (learnFromClient).
   * `outageMs`: how long the clients can have gone unanswered at most (unknown: undefined).
   */
  probeHeld(outageMs?: number): void {
    const nudges = this.icmpNudge ? nudgesFor(outageMs) : 0;
    for (const conn of this.conns.all()) {
      if (conn.state !== 'RECOVERING' && conn.state !== 'REPLAYING') continue;
      if (conn.learning) conn.nudges = nudges;
      this.sendHoldAck(conn);
    }
    // A probe can reach a client just before the gratuitous ARP that tells it where the VIP now
    // is (seen: 0.7 ms before): its answer then goes to the old host. Those still silent are asked
    // again soon, not only at the next hold interval.
    for (const ms of REPROBE_MS) this.scheduleReprobe(ms, this.now() + ms + REPROBE_MAX_WAIT_MS);
  }

  private scheduleReprobe(ms: number, latest: number): void {
    const t = setTimeout(() => {
      const i = this.reprobeTimers.indexOf(t);
      if (i >= 0) this.reprobeTimers.splice(i, 1);
      const now = this.now();
      const quietIn = this.lastLearnedAt + REPROBE_QUIET_MS - now;
      if (quietIn > 0 && now < latest) this.scheduleReprobe(Math.ceil(quietIn), latest);
      else this.reprobeLearning();
    }, ms);
    t.unref();
    this.reprobeTimers.push(t);
  }

  /** Probes again the adopted connections whose client has not answered yet. */
  private reprobeLearning(): void {
    for (const conn of this.conns.all()) {
      if (conn.learning && (conn.state === 'RECOVERING' || conn.state === 'REPLAYING')) this.sendHoldAck(conn);
    }
  }

  /**
   * ICMP unreachable errors about the client's oldest unacknowledged byte. The probe acknowledged
   * the durable point, so that is where the client's snd_una is (it never sent less).
   */
  private nudgeClient(conn: TcpConn, count: number): void {
    const pkt = this.forge.unreachableToClient(conn, conn.clientSeq(conn.durableAckOff));
    for (let i = 0; i < count; i++) this.emit('outbound', pkt, 'forged-unreachable');
    this.counters.clientNudges += count;
  }

  /**
   * The client of an adopted connection answered: its ACK is how far it received the server
   * stream (regenerated output below is the app catching up, not sent again), its TSecr the last
   * TSval it accepted (forged TSvals continue above it, or its PAWS check drops them).
   */
  private learnFromClient(conn: TcpConn, tcp: TcpPacket): void {
    const ackOff = conn.serverOff(tcp.ack);
    conn.learning = false;
    this.lastLearnedAt = this.now();
    // A pure ACK whose seq (the client's snd_nxt) is past the durable point: bytes in flight the
    // old host never logged, waiting for the client's backed-off timer. Idle clients, and one
    // already resending (this segment carries data), get no error.
    if (conn.nudges > 0 && tcp.payloadLen === 0 && conn.clientOff(tcp.seq) > conn.durableAckOff) this.nudgeClient(conn, conn.nudges);
    conn.nudges = 0;
    // Below a checkpoint's position this is a client lacking bytes the app will not produce
    // again: applyPosition then resets the connection.
    conn.sndUna = conn.sndMax = ackOff;
    // Hashes start here: regenerated output below is taken as it comes (nothing to compare with).
    conn.hasher = new ServerStreamHasher(conn.sndMax);
    if (conn.opts.tsOk && tcp.tsOff >= 0) {
      conn.lastTsvalOut = tcp.tsecr;
      conn.lastTsvalAt = this.now();
    }
    this.counters.adoptedLearned++;
    // One line per connection at debug (a takeover may adopt thousands), one at info for them all.
    this.logger.debug({ conn: conn.id, sndUna: conn.sndUna, rcvLogged: conn.client.rcvLogged }, 'adopted connection: the client answered');
    const c = this.counters;
    if (c.adoptedLearned + c.adoptedDropped === c.adopted) {
      this.logger.info({ answered: c.adoptedLearned, dropped: c.adoptedDropped }, 'adopted connections: every client answered');
    }
  }

  /**
   * The service is stopping on purpose: every open connection is logged closed, so that a later
   * start of the daemon does not adopt connections the app already closed.
   */
  logShutdownCloses(): void {
    for (const conn of this.conns.all()) {
      if (conn.state !== 'CLOSED' && conn.state !== 'SYN_RCVD' && !conn.closeLogged) this.closeConn(conn, ConnectionClosed_Reason.ABORTED);
    }
  }

  /** One pass over the log feeds every restoring connection (not one read per connection). */
  private readReplayAll(restoring: Map<string, TcpConn>): void {
    void (async () => {
      try {
        for await (const batch of this.log.readAllClientStreams()) {
          for (const { connId, item } of batch) {
            const conn = restoring.get(connId);
            if (!conn || (conn.state !== 'REPLAYING' && !conn.restoreQueued && !conn.replayPrefetched)) continue;
            if (item.kind === 'data') {
              if (item.offset + item.data.length > conn.clientBase) conn.replaySource.add(item.offset, item.data);
            } else conn.replaySource.finOff = item.offset;
          }
        }
        for (const conn of restoring.values()) {
          if (conn.replayRead !== 'pending') continue;
          conn.replayRead = 'done';
          if (conn.state === 'REPLAYING') this.pumpReplay(conn); // a queued one pumps when it starts
        }
      } catch (err) {
        this.logger.error({ err }, 'cannot read the log for replay: resetting the restoring connections');
        for (const conn of restoring.values()) {
          if (conn.restoreQueued || conn.replayPrefetched) conn.replayRead = 'failed'; // reset when its turn comes
          if (conn.state !== 'REPLAYING') continue;
          conn.replayRead = 'failed';
          this.abortConn(conn);
        }
      }
    })();
  }

  /** RST at the stack's rcv_nxt frees the 4-tuple held by the dead socket (FIN_WAIT, LAST_ACK). */
  private purgeStackSocket(conn: TcpConn): void {
    if (conn.stackAckOff < 0) return;
    this.emit('inbound', this.forge.toStack(conn, { seq: conn.clientSeq(conn.stackAckOff), flags: FLAGS.RST }), 'forged-purge-rst');
  }

  /** Zero-window ACK at the durable point: the client keeps the connection and waits (claim 6). */
  private sendHoldAck(conn: TcpConn): void {
    const now = this.now();
    // Before the new stack exists the clock is the daemon's; after, never ahead of the stack's (PAWS).
    const tsval = conn.issK === 0 ? conn.nextTsval(now) : conn.lastTsvalOut;
    if (conn.opts.tsOk) {
      conn.lastTsvalOut = tsval;
      conn.lastTsvalAt = now;
    }
    const ackOff = conn.durableAckOff;
    if (ackOff > conn.lastAckOff) conn.lastAckOff = ackOff;
    conn.holdAckAt = now;
    conn.holdAckOff = ackOff;
    this.counters.holdAcks++;
    // Learning: a keep-alive style probe — one garbage byte below anything the client can expect,
    // so it answers with an ACK telling where it stands, whatever the server stream's length. The
    // byte matters: Linux drops an old pure ACK that fails PAWS silently, and rate-limits answers
    // to out-of-window pure ACKs (500 ms); a segment with data is answered every time.
    const learning = conn.learning;
    this.emit(
      'outbound',
      this.forge.toClient(conn, {
        seq: conn.serverSeq(learning ? conn.sndNxtOff - 1 : conn.sndNxtOff),
        ack: conn.clientSeq(ackOff),
        flags: FLAGS.ACK,
        window: 0,
        ...(learning ? { payload: PROBE_BYTE } : {}),
        ...(conn.opts.tsOk ? { tsval, tsecr: conn.clientTsval } : {}),
      }),
      'forged-hold-ack',
    );
  }

  /** Periodic: zero-window ACKs to held clients (claim 6); half-open handshakes forgotten. */
  private sendHoldAcks(): void {
    const now = this.now();
    for (const conn of [...this.conns.all()]) {
      if (conn.learning && now - conn.adoptedAt > ADOPT_LEARN_TIMEOUT_MS) {
        this.counters.adoptedDropped++;
        this.logger.info({ conn: conn.id }, 'adopted connection: the client never answered; dropped');
        this.closeConn(conn, ConnectionClosed_Reason.ABORTED);
        continue;
      }
      // Not to a client that got one in the last half interval (a takeover's probes, a resend's answer).
      if ((conn.state === 'RECOVERING' || conn.state === 'REPLAYING') && now - conn.holdAckAt >= this.holdIntervalMs / 2) this.sendHoldAck(conn);
      if (conn.state === 'REPLAYING' && now - conn.restoreStartedAt > 2000) {
        this.logger.debug(
          {
            conn: conn.id,
            read: conn.replayRead,
            replayNext: conn.replayNext,
            available: conn.replaySource.contiguousEnd(conn.replayNext),
            stackAckOff: conn.stackAckOff,
            stackWindow: conn.stackWindowBytes,
            rcvLogged: conn.client.rcvLogged,
            verifiedEnd: conn.verifier?.verifiedEnd,
          },
          'replay still running',
        );
      }
      // (Only once the new stack exists: before its SYN-ACK, stackAckOff still says nothing.)
      if (conn.state === 'REPLAYING' && conn.issK !== 0 && conn.replayNext > conn.stackAckOff && now - conn.replayProgressAt > REPLAY_RTO_MS) {
        conn.replayNext = conn.stackAckOff;
        conn.replayProgressAt = now;
        this.pumpReplay(conn);
      }
      // A forged SYN the stack did not answer (lost, or it met a socket not purged yet): again.
      if (conn.state === 'REPLAYING' && conn.issK === 0 && now - conn.synSentAt > 500) {
        this.purgeStackSocket(conn);
        this.sendForgedSyn(conn);
      }
      else if (conn.state === 'SYN_RCVD' && now - conn.openedAt > SYN_RCVD_TIMEOUT_MS) this.dropConn(conn);
    }
  }

  /** Client segments while held: log data inside the window it was offered, answer everything. */
  private inboundHeld(conn: TcpConn, tcp: TcpPacket): void {
    const flags = tcp.flags;
    if (flags & TCP_RST) {
      if (!this.rstInWindow(conn, tcp)) return;
      if (conn.learning) {
        this.counters.adoptedDropped++;
        this.logger.info({ conn: conn.id }, 'adopted connection: the client reset it');
      }
      this.closeConn(conn, ConnectionClosed_Reason.RESET_BY_CLIENT);
      if (conn.issK !== 0) this.purgeStackSocket(conn);
      return;
    }
    const answersProbe = conn.learning;
    if (answersProbe) {
      if (!(flags & TCP_ACK)) return;
      this.learnFromClient(conn, tcp);
    }
    const appended = conn.client.rcvAppended;
    this.storeClientBytes(conn, tcp);
    this.noteClientAck(conn, tcp);
    if (conn.state === 'REPLAYING' && conn.issK !== 0 && flags & TCP_ACK) this.ackStackFromClient(conn);
    // New bytes are acknowledged by the hold ACK their durability sends (onDurable); anything else
    // is answered, unless the same hold ACK just went out (a burst of resends) or it answers our
    // probe, which was itself a hold ACK (a takeover of 1000 connections sent ~4.5 hold ACKs per
    // client, each a TUN write on the relay thread).
    const fresh = conn.client.rcvAppended > appended;
    if (!fresh && !answersProbe && (this.now() - conn.holdAckAt >= HOLD_ACK_REPEAT_MS || conn.holdAckOff !== conn.durableAckOff)) this.sendHoldAck(conn);
    if (conn.state === 'RECOVERING' && conn.adoptedAt > 0 && !this.appDown && !conn.restoreQueued) this.restoreOne(conn);
  }

  private startRestore(conn: TcpConn): void {
    conn.state = 'REPLAYING';
    conn.issK = 0;
    conn.delta = 0;
    conn.tsOffset = 0;
    this.purgeStackSocket(conn);
    conn.replayNext = conn.clientBase;
    conn.replayFinInjected = false;
    conn.replayRead = 'pending';
    conn.restoreStartedAt = this.now();
    conn.hasher.dropBelow(conn.serverBase);
    conn.verifier = new StreamVerifier(conn.hasher.snapshot(), conn.serverBase);
    conn.origSndMax = conn.sndMax;
    conn.origSndUna = conn.sndUna;
    conn.pendingVerified = [];
    // Debug: a mass restore starts thousands at once, and each line is a synchronous write on the
    // thread that relays them (~47 µs each, 47 ms for 1000 in a profile); the restored line stays.
    this.logger.debug(
      { conn: conn.id, clientBase: conn.clientBase, serverBase: conn.serverBase, rcvLogged: conn.client.rcvLogged, sndMax: conn.sndMax },
      'connection restore started',
    );
    this.sendForgedSyn(conn);
  }

  /** Forged SYN: the client's own ISN (plus the checkpoint offset) and its original options. */
  private sendForgedSyn(conn: TcpConn): void {
    conn.synSentAt = this.now();
    this.emit(
      'inbound',
      this.forge.toStack(conn, {
        seq: seqAdd(conn.irs, conn.clientBase),
        flags: FLAGS.SYN,
        window: conn.opts.clientSynWindow,
        mss: conn.opts.clientMss,
        wscale: conn.opts.clientWscale,
        sackPermitted: conn.opts.sackOk,
        ...(conn.opts.tsOk ? { tsval: conn.clientTsval, tsecr: 0 } : {}),
      }),
      'forged-syn',
    );
  }

  private readReplay(conn: TcpConn, from: number): void {
    const src = conn.replaySource;
    void (async () => {
      try {
        for await (const item of this.log.readClientStream(conn.id, from)) {
          if (item.kind === 'data') src.add(item.offset, item.data);
          else src.finOff = item.offset;
        }
        if (conn.state === 'REPLAYING' && src.contiguousEnd(from) === from && from < conn.client.rcvLogged) {
          // Durable bytes the log does not give back (e.g. dropped below a checkpoint whose
          // position was not applied): reading again would loop, replaying would stall.
          this.logger.error({ conn: conn.id, from, rcvLogged: conn.client.rcvLogged }, 'the log lacks client bytes to replay: resetting the connection');
          conn.replayRead = 'failed';
          this.abortConn(conn);
          return;
        }
        conn.replayRead = 'done';
        this.pumpReplay(conn);
      } catch (err) {
        this.logger.error({ err, conn: conn.id }, 'cannot read the log for replay: resetting the connection');
        conn.replayRead = 'failed';
        this.abortConn(conn);
      }
    })();
  }

  /** Replay: segments of REPLAYING connections coming from the restarted stack. */
  private outboundReplaying(conn: TcpConn, tcp: TcpPacket, pkt: PacketRef): boolean {
    const flags = tcp.flags;
    if (conn.issK === 0) {
      if ((flags & (TCP_SYN | TCP_ACK)) !== (TCP_SYN | TCP_ACK)) {
        this.note('discarded-replay');
        return false;
      }
      this.note('discarded-restore-synack');
      this.completeHandshake(conn, tcp);
      return false; // the SYN-ACK never reaches the client
    }
    if (flags & TCP_SYN) {
      this.note('discarded-restore-synack');
      return false; // a retransmitted SYN-ACK
    }
    if (flags & TCP_RST) {
      this.note('discarded-replay-rst');
      this.logger.warn({ conn: conn.id }, 'the restarted stack reset the connection during replay');
      this.abortConn(conn);
      return false;
    }
    const seqEnd = seqAdd(tcp.seq, tcp.payloadLen + (flags & TCP_FIN ? 1 : 0));
    if (seqDiff(seqEnd, conn.stackSndNxt) > 0) conn.stackSndNxt = seqEnd;
    if (!this.verifyRegenerated(conn, tcp, pkt)) return false;
    this.pumpReplay(conn);
    return false;
  }

  private completeHandshake(conn: TcpConn, tcp: TcpPacket): void {
    this.logger.debug({ conn: conn.id, issK: tcp.seq, wscale: tcp.wscale }, 'restore: SYN-ACK captured');
    conn.issK = tcp.seq;
    conn.stackSndNxt = seqAdd(tcp.seq, 1);
    conn.stackShift = tcp.wscale >= 0 && conn.opts.clientWscale >= 0 ? tcp.wscale : 0;
    conn.delta = seqAdd(seqAdd(conn.iss0, -conn.issK), conn.serverBase);
    conn.ackedToStackOff = conn.serverBase;
    conn.stackAckOff = conn.clientBase;
    conn.replayProgressAt = this.now();
    conn.stackWindowBytes = tcp.window;
    if (conn.opts.tsOk && tcp.tsOff >= 0) {
      // TSvals continue above the last one the client saw (its PAWS check).
      const last = conn.nextTsval(this.now());
      conn.tsOffset = seqAdd(seqAdd(last, 1), -tcp.tsval);
      conn.stackTsval = tcp.tsval;
    }
    this.emit(
      'inbound',
      this.forge.toStack(conn, {
        seq: seqAdd(conn.irs, conn.clientBase + 1),
        ack: seqAdd(conn.issK, 1),
        flags: FLAGS.ACK,
        window: this.stackFacingWindow(conn),
        ...(conn.opts.tsOk ? { tsval: conn.clientTsval, tsecr: conn.stackTsval } : {}),
      }),
      'forged-handshake-ack',
    );
    this.pumpReplay(conn);
  }

  /**
   * Regenerated output is compared with what the client was sent; below sndUna it is acked by the
   * daemon, in [sndUna, sndMax) it is sent once verified, past sndMax it is new. False on divergence.
   */
  private verifyRegenerated(conn: TcpConn, tcp: TcpPacket, pkt: PacketRef): boolean {
    const v = conn.verifier!;
    const len = tcp.payloadLen;
    const off = conn.serverOff(seqAdd(tcp.seq, conn.delta));
    if (tcp.tsOff >= 0) conn.stackTsval = tcp.tsval;
    if (len > 0 && off < conn.origSndMax) {
      const r = v.feed(off, tcp.buf, tcp.payloadOffset, Math.min(len, conn.origSndMax - off));
      if (r === 'mismatch') {
        this.note('discarded-divergence');
        this.diverged(conn);
        return false;
      }
    }
    // Output the client already has: acknowledge it to the stack ourselves, as soon as it is fed
    // (not once its 4 KiB block is compared: an app writing small pieces would otherwise stall
    // on its congestion window before finishing a block). These bytes never reach the client;
    // a block that turns out to differ still resets the connection.
    const ackTo = Math.min(v.fedEnd, conn.origSndUna);
    if (this.logger.isLevelEnabled('trace')) {
      this.logger.trace({ conn: conn.id, off, len, verifiedEnd: v.verifiedEnd, ackTo, state: conn.state }, 'regenerated output');
    }
    if (ackTo > conn.ackedToStackOff) {
      conn.ackedToStackOff = ackTo;
      this.sendStackAck(conn);
    }
    const end = off + len + (tcp.flags & TCP_FIN ? 1 : 0);
    if (end > conn.origSndUna && end > off) {
      // The client may still need it: send (a copy) once its blocks are verified.
      conn.pendingVerified.push([Math.min(off + len, conn.origSndMax), copyPacket(pkt)]);
      this.note('delayed-regenerated', off, off + len);
    } else this.note(end > off ? 'discarded-regenerated' : 'discarded-replay', off, off + len);
    this.flushVerified(conn);
    return true;
  }

  private flushVerified(conn: TcpConn): void {
    const v = conn.verifier!;
    const done = v.verifiedEnd >= conn.origSndMax;
    const keep: Array<[number, Buffer]> = [];
    for (const entry of conn.pendingVerified) {
      if (!done && entry[0] > v.verifiedEnd) {
        keep.push(entry);
        continue;
      }
      const pkt = entry[1];
      const p = this.parser2;
      if (p.parse(pkt, this.vnet, pkt.length - this.vnet) !== 'ok') continue;
      p.tcp.checksumMode = this.vnet > 0 && (pkt[0]! & VnetFlags.NEEDS_CSUM) !== 0 ? 'partial' : 'full';
      this.forwardRegenerated(conn, p.tcp);
      this.emit('outbound', pkt, 'released-regenerated');
    }
    conn.pendingVerified = keep;
    if (done && conn.state === 'NORMAL' && conn.pendingVerified.length === 0) conn.verifier = null;
  }

  /** Rewrites a verified regenerated segment for the client: while held, the window stays 0. */
  private forwardRegenerated(conn: TcpConn, tcp: TcpPacket): void {
    const seqC = seqAdd(tcp.seq, conn.delta);
    const off = conn.serverOff(seqC);
    if (tcp.payloadLen > 0) {
      conn.hasher.update(off, tcp.buf, tcp.payloadOffset, tcp.payloadLen);
      if (off + tcp.payloadLen > conn.sndMax) conn.sndMax = off + tcp.payloadLen;
    }
    if (tcp.flags & TCP_FIN && conn.serverFinOff < 0) conn.serverFinOff = off + tcp.payloadLen;
    tcp.setSeq(seqC);
    if (tcp.flags & TCP_ACK) {
      if (conn.state === 'NORMAL') {
        const c = clampAck(conn.stackAckOff, conn.stackWindowBytes, conn.durableAckOff, conn.lastRightEdge, conn.serverShift, this.clamp);
        this.applyClamp(conn, tcp, c);
      } else {
        // Still held: the durable point, window 0.
        tcp.setAck(conn.clientSeq(conn.durableAckOff));
        tcp.setWindow(0);
      }
    }
    if (tcp.sackOff >= 0) this.filterSack(conn, tcp);
    this.rewriteTsval(conn, tcp);
  }

  /** Client ACKs during replay reach the stack as forged ACKs, never past what it has sent. */
  private ackStackFromClient(conn: TcpConn): void {
    const stackNxtOff = conn.serverOff(seqAdd(conn.stackSndNxt, conn.delta));
    const ackTo = Math.min(conn.sndUna, stackNxtOff);
    if (ackTo > conn.ackedToStackOff) {
      conn.ackedToStackOff = ackTo;
      this.sendStackAck(conn);
    }
  }

  private sendStackAck(conn: TcpConn): void {
    // seq = what the stack has been sent so far (our snd_nxt towards it): the ACKs it has emitted
    // may lag behind, and a seq below its rcv_wup would be dropped as out of window.
    const sndNxt = conn.state === 'REPLAYING' ? conn.replayNext : Math.max(conn.stackAckOff, conn.client.rcvAppended);
    this.emit(
      'inbound',
      this.forge.toStack(conn, {
        seq: conn.clientSeq(sndNxt),
        ack: seqAdd(conn.serverSeq(conn.ackedToStackOff), -conn.delta),
        flags: FLAGS.ACK,
        window: this.stackFacingWindow(conn),
        ...(conn.opts.tsOk ? { tsval: conn.clientTsval, tsecr: conn.stackTsval } : {}),
      }),
      'forged-stack-ack',
    );
  }

  /**
   * The window the daemon offers the stack in forged segments. While the stack regenerates output
   * the client already has, the daemon is its receiver: a generous window, not the client's (which
   * may be closed), or the regeneration would stall.
   */
  private stackFacingWindow(conn: TcpConn): number {
    if (conn.verifier === null || conn.ackedToStackOff >= conn.origSndUna) return conn.clientWindow;
    const generous = Math.ceil(REGEN_WINDOW_BYTES / 2 ** conn.clientShift);
    return Math.min(0xffff, Math.max(conn.clientWindow, generous));
  }

  /** Injects logged client bytes within the stack's window; finishes the replay when all are in. */
  private pumpReplay(conn: TcpConn): void {
    if (conn.state !== 'REPLAYING' || conn.issK === 0) return;
    const src = conn.replaySource;
    const limit = conn.stackAckOff + conn.stackWindowBytes;
    // Bytes past the stack's window were dropped by it: send them again once it opens.
    if (conn.replayNext > limit) conn.replayNext = Math.max(conn.stackAckOff, limit);
    const avail = src.contiguousEnd(conn.replayNext);
    const ackSeq = seqAdd(conn.serverSeq(conn.ackedToStackOff), -conn.delta);
    while (conn.replayNext < avail && conn.replayNext < limit) {
      const chunk = src.read(conn.replayNext, Math.min(REPLAY_SEGMENT, limit - conn.replayNext));
      if (chunk.length === 0) break;
      this.emit(
        'inbound',
        this.forge.toStack(conn, {
          seq: conn.clientSeq(conn.replayNext),
          ack: ackSeq,
          flags: FLAGS.ACK | FLAGS.PSH,
          window: this.stackFacingWindow(conn),
          payload: chunk,
          ...(conn.opts.tsOk ? { tsval: conn.clientTsval, tsecr: conn.stackTsval } : {}),
        }),
        'forged-replay',
      );
      conn.replayNext += chunk.length;
    }
    src.dropBelow(conn.stackAckOff);
    const finOff = conn.clientFinOff >= 0 && conn.clientFinDurable ? conn.clientFinOff : -1;
    if (finOff >= 0 && conn.replayNext === finOff && !conn.replayFinInjected) {
      conn.replayFinInjected = true;
      this.emit(
        'inbound',
        this.forge.toStack(conn, {
          seq: conn.clientSeq(finOff),
          ack: ackSeq,
          flags: FLAGS.ACK | FLAGS.FIN,
          window: this.stackFacingWindow(conn),
          ...(conn.opts.tsOk ? { tsval: conn.clientTsval, tsecr: conn.stackTsval } : {}),
        }),
        'forged-replay-fin',
      );
    }
    const target = finOff >= 0 ? finOff + 1 : conn.client.rcvLogged;
    if (conn.replayRead !== 'done') return;
    if (src.contiguousEnd(conn.replayNext) < conn.client.rcvLogged) {
      // Durable now but not when the log was read: read the rest.
      conn.replayRead = 'pending';
      this.readReplay(conn, src.contiguousEnd(conn.replayNext));
      return;
    }
    if (conn.stackAckOff >= target && conn.replayNext >= conn.client.rcvLogged) this.finishReplay(conn);
  }

  private finishReplay(conn: TcpConn): void {
    conn.state = 'NORMAL';
    this.restoreEnded(conn);
    conn.replaySourceActive = false;
    conn.replaySource = new ReplaySource();
    this.counters.recovered++;
    this.logger.info(
      {
        conn: conn.id,
        ms: Math.round(this.now() - conn.restoreStartedAt),
        replayed: conn.replayNext - conn.clientBase,
        verifiedEnd: conn.verifier?.verifiedEnd,
        origSndMax: conn.origSndMax,
        origSndUna: conn.origSndUna,
        hashedEnd: conn.verifier?.originalEnd,
        pendingOut: conn.pendingVerified.length,
      },
      'connection restored',
    );
    this.flushVerified(conn);
    // Open the window again: a window update at the durable point.
    conn.ackPending = true;
    conn.lastWindowField = -1;
    this.sendClampedAck(conn);
  }

  /** The app is not deterministic: this connection cannot be restored; never send a wrong byte. */
  private diverged(conn: TcpConn): void {
    this.counters.divergences++;
    this.logger.error({ conn: conn.id }, 'divergence: regenerated output differs from what the client received; resetting the connection');
    this.abortConn(conn);
  }

  private abortConn(conn: TcpConn): void {
    this.resetClient(conn);
    if (conn.issK !== 0) {
      this.emit('inbound', this.forge.toStack(conn, { seq: conn.clientSeq(conn.stackAckOff), flags: FLAGS.RST }), 'forged-abort-rst');
    }
    this.closeConn(conn, ConnectionClosed_Reason.ABORTED);
  }

  private resetClient(conn: TcpConn): void {
    this.emit(
      'outbound',
      this.forge.toClient(conn, { seq: conn.serverSeq(conn.sndNxtOff), ack: conn.clientSeq(conn.durableAckOff), flags: FLAGS.RST | FLAGS.ACK }),
      'forged-client-rst',
    );
    this.closeConn(conn, ConnectionClosed_Reason.ABORTED);
  }
}

/** A packet in some buffer (with its virtio-net header, if any). */
interface PacketRef {
  buf: Buffer;
  off: number;
  len: number;
}

function copyPacket(p: PacketRef): Buffer {
  return Buffer.from(p.buf.subarray(p.off, p.off + p.len));
}

function rec(connId: string, kind: LogRecord['kind']): LogRecord {
  return { connId, kind };
}

function openedRecord(conn: TcpConn): LogRecord {
  const o = conn.opts;
  return rec(conn.id, {
    $case: 'opened',
    value: {
      ipVersion: conn.ipVersion === 4 ? IpVersion.IP_VERSION_4 : IpVersion.IP_VERSION_6,
      client: { addr: Buffer.from(conn.clientAddr), port: conn.clientPort },
      server: { addr: Buffer.from(conn.serverAddr), port: conn.serverPort },
      irs: conn.irs,
      iss0: conn.iss0,
      options: {
        mss: Math.max(0, o.clientMss),
        serverMss: Math.max(0, o.serverMss),
        clientWindowScale: o.clientWscale,
        serverWindowScale: o.serverWscale,
        sackPermitted: o.sackOk,
        timestamps: o.tsOk,
        firstTsval: conn.clientTsval,
        firstTsecr: conn.lastTsvalOut,
      },
      clientWindow: o.clientSynWindow,
    },
  });
}
