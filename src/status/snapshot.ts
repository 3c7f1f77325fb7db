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
