// What `ftcp status` shows: a plain JSON snapshot of one daemon, read from its live objects. Pure:
// it only reads, so the control socket and the metrics collectors can call it at any time.
import type { RelayCounters } from '../relay/relay-counters.js';
import { formatAddr } from '../wire/addr.js';
import type { ConnState } from '../wrapper/conn.js';
import type { WrapperCounters } from '../wrapper/wrapper-counters.js';

/** The fields of a protected connection (TcpConn) that status reads. */
export interface ConnView {
  readonly id: string;
  readonly state: ConnState;
  readonly ipVersion: 4 | 6;
  readonly clientAddr: Uint8Array;
  readonly clientPort: number;
  readonly serverPort: number;
  readonly irs: number;
  readonly iss0: number;
  readonly tsOffset: number;
  readonly client: { readonly rcvLogged: number; readonly rcvAppended: number };
  readonly sndUna: number;
  readonly sndMax: number;
  readonly delta: number;
  readonly recoveries: number;
  readonly replayNext: number;
  readonly clientBase: number;
  readonly unprotected: boolean;
}

/** What the daemon hands in; parts not built yet (or off, like the log) are undefined. */
export interface StatusSource {
  cfg: { name: string; vip: string; ports: readonly number[] };
  wrapper?:
    | {
        readonly conns: { all(): Iterable<ConnView> };
        readonly counters: WrapperCounters;
        readonly appDown: boolean;
      }
    | undefined;
  relay?: { readonly counters: RelayCounters } | undefined;
  supervisor?: { readonly pid: number | undefined; readonly restarts: number } | undefined;
  logClient?: { readonly durableSeq: number; readonly lastSeq: number; readonly unacknowledgedBytes: number } | undefined;
  /** Epoch ms when the daemon started. */
  startedAt?: number;
  /** Host failover (`--log nats://`, `ftcp standby`): the role and the lease. */
  primary?: FailoverView | undefined;
}

/** What status reads of a primary's (or standby's) lease and replicated log. */
export interface FailoverView {
  readonly role: 'standby' | 'taking over' | 'primary' | 'fenced';
  readonly epoch: number;
  readonly lease: { valid(): boolean; readonly ttlMs: number; readonly held: boolean };
  /** Stream sequence of the last message stored (primary) or applied (standby). */
  readonly replica?: { readonly streamSeq: number } | undefined;
  /** A standby's distance to the log's end, in stream messages (undefined on a primary). */
  lag?: (() => number) | undefined;
  /** A standby's last look at the primary's lease (undefined on a primary). */
  holder?: (() => { host: string; epoch: number; ageMs: number } | undefined) | undefined;
}

export interface FailoverStatus {
  role: FailoverView['role'];
  epoch: number;
  leaseHeld: boolean;
  /** The holder's lease is valid now (false: lapsed, the daemon sends nothing). */
  leaseValid: boolean;
  leaseMs: number;
  streamSeq: number | null;
  /** Standby only: stream messages not applied yet. */
  lag: number | null;
  /** Standby only: the primary holding the lease, and how long ago it renewed it (display only). */
  primary: { host: string; epoch: number; leaseAgeMs: number } | null;
}

export interface LogStatus {
  lastSeq: number;
  durableSeq: number;
  /** Records appended but not yet durable. */
  lag: number;
  unacknowledgedBytes: number;
}

export interface ConnStatus {
  id: string;
  state: ConnState;
  /** "addr:port" ("[addr]:port" for IPv6). */
  client: string;
  servicePort: number;
  rcvLogged: number;
  rcvAppended: number;
  sndUna: number;
  sndMax: number;
  delta: number;
  /** For matching a capture: the client's ISN, the server ISN the client knows, the TSval offset. */
  irs: number;
  iss0: number;
  tsOffset: number;
  recoveries: number;
  /** While REPLAYING: client bytes injected into the restarted stack out of those to replay. */
  replay: { replayed: number; total: number } | null;
  unprotected: boolean;
}

export interface ServiceStatus {
  name: string;
  vip: string;
  ports: number[];
  daemonPid: number;
  uptimeSeconds: number | null;
  /** The app's pid, null between a crash and its restart. */
  appPid: number | null;
  appRestarts: number;
  appDown: boolean;
  /** null when the daemon runs without a log (pass-through). */
  log: LogStatus | null;
  /** null unless the log is replicated (host failover). */
  failover: FailoverStatus | null;
}

export interface StatusSnapshot {
  version: 1;
  service: ServiceStatus;
  connections: ConnStatus[];
  counters: { wrapper: WrapperCounters | null; relay: RelayCounters | null };
}

export function formatEndpoint(ipVersion: 4 | 6, addr: Uint8Array, port: number): string {
  const a = formatAddr(addr);
  return ipVersion === 6 ? `[${a}]:${port}` : `${a}:${port}`;
}

export function connStatus(c: ConnView): ConnStatus {
  return {
    id: c.id,
    state: c.state,
    client: formatEndpoint(c.ipVersion, c.clientAddr, c.clientPort),
    servicePort: c.serverPort,
    rcvLogged: c.client.rcvLogged,
    rcvAppended: c.client.rcvAppended,
    sndUna: c.sndUna,
    sndMax: c.sndMax,
    delta: c.delta,
    irs: c.irs,
    iss0: c.iss0,
    tsOffset: c.tsOffset,
    recoveries: c.recoveries,
    replay:
      c.state === 'REPLAYING'
        ? { replayed: Math.max(0, c.replayNext - c.clientBase), total: Math.max(0, c.client.rcvLogged - c.clientBase) }
        : null,
    unprotected: c.unprotected,
  };
}

export function logStatus(l: NonNullable<StatusSource['logClient']>): LogStatus {
  return {
    lastSeq: l.lastSeq,
    durableSeq: l.durableSeq,
    lag: Math.max(0, l.lastSeq - l.durableSeq),
    unacknowledgedBytes: l.unacknowledgedBytes,
  };
}

export function failoverStatus(p: FailoverView): FailoverStatus {
  return {
    role: p.role,
    epoch: p.epoch,
    leaseHeld: p.lease.held,
    leaseValid: p.lease.valid(),
    leaseMs: p.lease.ttlMs,
    streamSeq: p.replica?.streamSeq ?? null,
    lag: p.lag ? p.lag() : null,
    primary: primaryOf(p),
  };
}

function primaryOf(p: FailoverView): FailoverStatus['primary'] {
  const h = p.holder?.();
  return h ? { host: h.host, epoch: h.epoch, leaseAgeMs: Math.max(0, Math.round(h.ageMs)) } : null;
}

/** The snapshot of one daemon; `now` (epoch ms) for the uptime. */
export function statusSnapshot(src: StatusSource, now = Date.now()): StatusSnapshot {
  const w = src.wrapper;
  const connections: ConnStatus[] = [];
  if (w) for (const c of w.conns.all()) connections.push(connStatus(c));
  connections.sort((a, b) => a.servicePort - b.servicePort || (a.client < b.client ? -1 : a.client > b.client ? 1 : 0));
  return {
    version: 1,
    service: {
      name: src.cfg.name,
      vip: src.cfg.vip,
      ports: [...src.cfg.ports],
      daemonPid: process.pid,
      uptimeSeconds: src.startedAt !== undefined ? Math.max(0, Math.round((now - src.startedAt) / 1000)) : null,
      appPid: src.supervisor?.pid ?? null,
      appRestarts: src.supervisor?.restarts ?? 0,
      appDown: w?.appDown ?? false,
      log: src.logClient ? logStatus(src.logClient) : null,
      failover: src.primary ? failoverStatus(src.primary) : null,
    },
    connections,
    // Copies: the snapshot must not change under a caller that keeps it.
    counters: {
      wrapper: w ? { ...w.counters, malformedByReason: { ...w.counters.malformedByReason } } : null,
      relay: src.relay
        ? { inbound: { ...src.relay.counters.inbound }, outbound: { ...src.relay.counters.outbound }, errors: src.relay.counters.errors }
        : null,
    },
  };
}
