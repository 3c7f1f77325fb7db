// Prometheus metrics of one daemon (prom-client). Every counter and gauge is read from the daemon's
// own plain-number counters when scraped, so the packet path does no metrics work at all. The two
// histograms are fed by observers: a timed WrapperLog (append latency) and the recovery tracker.
import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';
import type { StatusSource } from '../status/snapshot.js';
import type { WrapperLog } from '../wrapper/wrapper-log.js';
import { TimedWrapperLog } from './append-latency.js';
import { RecoveryTracker, type CrashEvents } from './recovery-tracker.js';

export const CONN_STATES = ['SYN_RCVD', 'NORMAL', 'RECOVERING', 'REPLAYING', 'CLOSED'] as const;

const RECOVERY_BUCKETS = [0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300];
const APPEND_BUCKETS = [0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 10];

export interface MetricsOptions {
  /** Label `service` on every series (the daemon's name). */
  service?: string;
  /** Node.js process metrics (process_*, nodejs_*: CPU, memory, event-loop lag). Default true. */
  processMetrics?: boolean;
}

type Src = () => StatusSource;
type Values = Array<[labels: Record<string, string>, value: number]>;

/** A counter whose value is a running total kept elsewhere, copied at scrape time. */
function totalCounter(registry: Registry, src: Src, name: string, help: string, labelNames: string[], read: (s: StatusSource) => Values): void {
  new Counter({
    name,
    help,
    labelNames,
    registers: [registry],
    collect() {
      this.reset();
      for (const [labels, v] of read(src())) this.inc(labels, v);
    },
  });
}

function gauge(registry: Registry, src: Src, name: string, help: string, labelNames: string[], read: (s: StatusSource) => Values): void {
  new Gauge({
    name,
    help,
    labelNames,
    registers: [registry],
    collect() {
      this.reset();
      for (const [labels, v] of read(src())) this.set(labels, v);
    },
  });
}

const one = (v: number | undefined): Values => (v === undefined ? [] : [[{}, v]]);

export class FtcpMetrics {
  readonly registry = new Registry();
  private readonly recoveryHist: Histogram;
  private readonly appendHist: Histogram;
  private tracker: RecoveryTracker | undefined;

  /** `source` is called at scrape time: parts not built yet may be undefined. */
  constructor(
    private readonly source: Src,
    opts: MetricsOptions = {},
  ) {
    const r = this.registry;
    if (opts.service !== undefined) r.setDefaultLabels({ service: opts.service });
    if (opts.processMetrics ?? true) collectDefaultMetrics({ register: r });
    const dirs = ['inbound', 'outbound'] as const;

    // Relay: every packet, both directions (inbound = client → app).
    totalCounter(r, source, 'ftcp_relay_read_packets_total', 'Packets read from the source TUN, by direction (inbound: client to app)', ['direction'], (s) =>
      s.relay ? dirs.map((d) => [{ direction: d }, s.relay!.counters[d].readPackets]) : [],
    );
    totalCounter(r, source, 'ftcp_relay_read_bytes_total', 'Bytes read from the source TUN, by direction', ['direction'], (s) =>
      s.relay ? dirs.map((d) => [{ direction: d }, s.relay!.counters[d].readBytes]) : [],
    );
    totalCounter(r, source, 'ftcp_relay_written_packets_total', 'Packets written to the destination TUN, by direction', ['direction'], (s) =>
      s.relay ? dirs.map((d) => [{ direction: d }, s.relay!.counters[d].writtenPackets]) : [],
    );
    totalCounter(r, source, 'ftcp_relay_written_bytes_total', 'Bytes written to the destination TUN, by direction', ['direction'], (s) =>
      s.relay ? dirs.map((d) => [{ direction: d }, s.relay!.counters[d].writtenBytes]) : [],
    );
    totalCounter(r, source, 'ftcp_relay_errors_total', 'TUN reader failures and exceptions of the packet path', [], (s) => one(s.relay?.counters.errors));

    // Second wrapper: protected segments and its decisions.
    totalCounter(r, source, 'ftcp_segments_total', 'TCP segments of protected connections, by direction (inbound: client to app)', ['direction'], (s) =>
      s.wrapper
        ? [
            [{ direction: 'inbound' }, s.wrapper.counters.protectedIn],
            [{ direction: 'outbound' }, s.wrapper.counters.protectedOut],
          ]
        : [],
    );
    totalCounter(r, source, 'ftcp_passed_packets_total', 'Packets relayed unchanged (not a protected connection)', [], (s) => one(s.wrapper?.counters.passed));
    totalCounter(r, source, 'ftcp_logged_bytes_total', 'Client bytes appended to the log', [], (s) => one(s.wrapper?.counters.loggedBytes));
    totalCounter(
      r,
      source,
      'ftcp_dropped_packets_total',
      'Packets dropped, by reason: a parse error of malformed TCP (e.g. truncated-tcp), discarded (output of a dying app), relay_write_inbound/outbound (the TUN refused the write)',
      ['reason'],
      (s) => {
        const v: Values = [];
        const w = s.wrapper?.counters;
        if (w) {
          for (const [reason, n] of Object.entries(w.malformedByReason)) v.push([{ reason }, n]);
          v.push([{ reason: 'discarded' }, w.discarded]);
        }
        if (s.relay) for (const d of dirs) v.push([{ reason: `relay_write_${d}` }, s.relay.counters[d].droppedPackets]);
        return v;
      },
    );
    totalCounter(r, source, 'ftcp_acks_held_total', 'Pure ACKs of the app held because they would acknowledge bytes not yet durable', [], (s) => one(s.wrapper?.counters.acksHeld));
    totalCounter(r, source, 'ftcp_acks_synthesized_total', 'ACKs the daemon sent when the log made held bytes durable', [], (s) => one(s.wrapper?.counters.acksSynthesized));
    totalCounter(r, source, 'ftcp_hold_acks_total', 'Zero-window ACKs sent to clients held while the app was down', [], (s) => one(s.wrapper?.counters.holdAcks));
    totalCounter(r, source, 'ftcp_client_nudges_total', 'ICMP unreachable errors sent to adopted clients so that they retransmit at once (RFC 6069)', [], (s) => one(s.wrapper?.counters.clientNudges));
    totalCounter(r, source, 'ftcp_recoveries_total', 'Connections that entered recovery after an app crash', [], (s) => one(s.wrapper?.counters.recoveries));
    totalCounter(r, source, 'ftcp_recovered_total', 'Connections restored into the restarted app (NORMAL again)', [], (s) => one(s.wrapper?.counters.recovered));
    totalCounter(r, source, 'ftcp_divergences_total', 'Connections reset because the restarted app produced different output', [], (s) => one(s.wrapper?.counters.divergences));
    totalCounter(r, source, 'ftcp_unprotected_resets_total', 'Unprotected connections (past max_replay_bytes) reset at an app crash', [], (s) => one(s.wrapper?.counters.unprotectedResets));
    totalCounter(r, source, 'ftcp_log_errors_total', 'Appends the log refused', [], (s) => one(s.wrapper?.counters.logErrors));
    totalCounter(r, source, 'ftcp_close_intents_total', "Close intents of the shim matched to a connection", [], (s) => one(s.wrapper?.counters.closeIntents));
    totalCounter(r, source, 'ftcp_close_intents_honoured_total', "FIN/RST of the app passed at once because a close intent explained it", [], (s) => one(s.wrapper?.counters.closeIntentsHonoured));
    totalCounter(r, source, 'ftcp_shim_sessions_lost_total', "Crash signals from a dropped shim session", [], (s) => one(s.wrapper?.counters.shimSessionsLost));
    totalCounter(r, source, 'ftcp_restored_from_checkpoint_total', "Restores that started from a checkpoint's positions", [], (s) => one(s.wrapper?.counters.restoredFromCheckpoint));

    gauge(r, source, 'ftcp_connections', 'Protected connections by state', ['state'], (s) => {
      if (!s.wrapper) return [];
      const n = new Map<string, number>(CONN_STATES.map((st) => [st, 0]));
      for (const c of s.wrapper.conns.all()) n.set(c.state, (n.get(c.state) ?? 0) + 1);
      return [...n].map(([state, v]) => [{ state }, v]);
    });
    gauge(r, source, 'ftcp_app_up', '1 while the app runs and is not being recovered, else 0', [], (s) =>
      one(s.supervisor ? (s.supervisor.pid !== undefined && !s.wrapper?.appDown ? 1 : 0) : undefined),
    );
    totalCounter(r, source, 'ftcp_app_restarts_total', 'Restarts of the app by the daemon', [], (s) => one(s.supervisor?.restarts));
    gauge(r, source, 'ftcp_log_lag_records', 'Records appended to the log and not yet durable', [], (s) =>
      one(s.logClient ? Math.max(0, s.logClient.lastSeq - s.logClient.durableSeq) : undefined),
    );
    gauge(r, source, 'ftcp_log_unacknowledged_bytes', 'Bytes appended to the log and not yet acknowledged durable', [], (s) => one(s.logClient?.unacknowledgedBytes));

    this.recoveryHist = new Histogram({
      name: 'ftcp_recovery_duration_seconds',
      help: 'Per connection: from the app crash to the connection being NORMAL again',
      buckets: RECOVERY_BUCKETS,
      registers: [r],
    });
    this.appendHist = new Histogram({
      name: 'ftcp_log_append_latency_seconds',
      help: 'From a record appended by the wrapper to the log acknowledging it durable (sampled: one record in flight at a time)',
      buckets: APPEND_BUCKETS,
      registers: [r],
    });
  }

  observeRecovery(ms: number): void {
    this.recoveryHist.observe(ms / 1000);
  }

  observeAppendLatency(ms: number): void {
    this.appendHist.observe(ms / 1000);
  }

  /** Wraps the wrapper's log so append latency is measured (pass the result to SecondWrapper). */
  timeAppends(log: WrapperLog): WrapperLog {
    return new TimedWrapperLog(log, (ms) => this.observeAppendLatency(ms));
  }

  /** Measures recovery durations from the supervisor's crash events and the wrapper's table. */
  trackRecoveries(crashes: CrashEvents | undefined): RecoveryTracker {
    this.tracker?.close();
    this.tracker = new RecoveryTracker({
      wrapper: () => this.source().wrapper,
      observeMs: (ms) => this.observeRecovery(ms),
      ...(crashes ? { crashes } : {}),
    });
    return this.tracker;
  }

  /** The text exposition format. */
  text(): Promise<string> {
    return this.registry.metrics();
  }

  close(): void {
    this.tracker?.close();
    this.tracker = undefined;
  }
}
