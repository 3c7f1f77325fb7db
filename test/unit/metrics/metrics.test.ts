// The registry's text output from a fake daemon, and the two observers (append latency, recovery).
import { EventEmitter } from 'node:events';
import { describe, expect, it } from 'vitest';
import type { Record as LogRecord } from '../../../src/log/gen/ftcp/v1/log.js';
import { TimedWrapperLog } from '../../../src/metrics/append-latency.js';
import { isLoopback, parseHostPort } from '../../../src/metrics/metrics-server.js';
import { FtcpMetrics } from '../../../src/metrics/metrics.js';
import { RecoveryTracker } from '../../../src/metrics/recovery-tracker.js';
import type { ReplayEntry, ReplayItem, WrapperLog } from '../../../src/wrapper/wrapper-log.js';
import { fakeDaemon } from '../status/fake-daemon.js';

/** The value of one series in the text format, or undefined. */
function series(text: string, name: string, labels = ''): number | undefined {
  for (const line of text.split('\n')) {
    if (line.startsWith('#')) continue;
    const sp = line.lastIndexOf(' ');
    if (line.slice(0, sp) === `${name}${labels}`) return Number(line.slice(sp + 1));
  }
  return undefined;
}

describe('FtcpMetrics', () => {
  it('exposes the daemon counters read at scrape time', async () => {
    const d = fakeDaemon();
    const m = new FtcpMetrics(() => d.source, { processMetrics: false });
    let t = await m.text();
    expect(series(t, 'ftcp_segments_total', '{direction="inbound"}')).toBe(10);
    expect(series(t, 'ftcp_segments_total', '{direction="outbound"}')).toBe(20);
    expect(series(t, 'ftcp_relay_read_packets_total', '{direction="inbound"}')).toBe(100);
    expect(series(t, 'ftcp_relay_read_bytes_total', '{direction="inbound"}')).toBe(150_000);
    expect(series(t, 'ftcp_relay_written_packets_total', '{direction="outbound"}')).toBe(0);
    expect(series(t, 'ftcp_dropped_packets_total', '{reason="truncated-tcp"}')).toBe(2);
    expect(series(t, 'ftcp_dropped_packets_total', '{reason="bad-ip-header"}')).toBe(1);
    expect(series(t, 'ftcp_dropped_packets_total', '{reason="relay_write_outbound"}')).toBe(2);
    expect(series(t, 'ftcp_dropped_packets_total', '{reason="discarded"}')).toBe(0);
    expect(series(t, 'ftcp_acks_held_total')).toBe(4);
    expect(series(t, 'ftcp_acks_synthesized_total')).toBe(0);
    expect(series(t, 'ftcp_hold_acks_total')).toBe(0);
    expect(series(t, 'ftcp_client_nudges_total')).toBe(0);
    expect(series(t, 'ftcp_recoveries_total')).toBe(5);
    expect(series(t, 'ftcp_recovered_total')).toBe(4);
    expect(series(t, 'ftcp_divergences_total')).toBe(1);
    expect(series(t, 'ftcp_connections', '{state="NORMAL"}')).toBe(1);
    expect(series(t, 'ftcp_connections', '{state="RECOVERING"}')).toBe(1);
    expect(series(t, 'ftcp_connections', '{state="REPLAYING"}')).toBe(1);
    expect(series(t, 'ftcp_connections', '{state="SYN_RCVD"}')).toBe(0);
    expect(series(t, 'ftcp_log_lag_records')).toBe(7);
    expect(series(t, 'ftcp_log_unacknowledged_bytes')).toBe(5000);
    expect(series(t, 'ftcp_app_up')).toBe(1);
    expect(series(t, 'ftcp_app_restarts_total')).toBe(2);
    expect(t).toContain('# TYPE ftcp_recovery_duration_seconds histogram');
    expect(t).toContain('# TYPE ftcp_log_append_latency_seconds histogram');
    expect(t).toContain('# TYPE ftcp_segments_total counter');

    // Later values, not accumulated ones: the totals are copied, not added.
    d.wrapper.counters.protectedIn = 15;
    d.wrapper.appDown = true;
    d.logClient.durableSeq = 97;
    for (const c of d.table.all()) c.state = 'RECOVERING';
    t = await m.text();
    expect(series(t, 'ftcp_segments_total', '{direction="inbound"}')).toBe(15);
    expect(series(t, 'ftcp_connections', '{state="RECOVERING"}')).toBe(3);
    expect(series(t, 'ftcp_connections', '{state="NORMAL"}')).toBe(0);
    expect(series(t, 'ftcp_log_lag_records')).toBe(0);
    expect(series(t, 'ftcp_app_up')).toBe(0);
  });

  it('labels every series with the service and has no series for parts not built yet', async () => {
    const m = new FtcpMetrics(() => ({ cfg: { name: 'web', vip: '10.77.0.2', ports: [80] } }), { service: 'web', processMetrics: false });
    const t = await m.text();
    expect(series(t, 'ftcp_segments_total', '{direction="inbound",service="web"}')).toBeUndefined();
    expect(series(t, 'ftcp_recovery_duration_seconds_count', '{service="web"}')).toBe(0);
  });

  it('histograms take observations in ms and expose seconds', async () => {
    const m = new FtcpMetrics(() => fakeDaemon().source, { processMetrics: false });
    m.observeRecovery(300);
    m.observeRecovery(2000);
    m.observeAppendLatency(0.8);
    const t = await m.text();
    expect(series(t, 'ftcp_recovery_duration_seconds_count')).toBe(2);
    expect(series(t, 'ftcp_recovery_duration_seconds_sum')).toBeCloseTo(2.3);
    expect(series(t, 'ftcp_recovery_duration_seconds_bucket', '{le="0.5"}')).toBe(1);
    expect(series(t, 'ftcp_log_append_latency_seconds_bucket', '{le="0.001"}')).toBe(1);
    expect(series(t, 'ftcp_log_append_latency_seconds_bucket', '{le="0.0005"}')).toBe(0);
  });

  it('includes Node.js process metrics by default', async () => {
    const m = new FtcpMetrics(() => fakeDaemon().source);
    expect(await m.text()).toContain('process_cpu_user_seconds_total');
  });
});

class StepLog implements WrapperLog {
  durableSeq = 0;
  last = 0;
  private listeners: ((d: number) => void)[] = [];
  append(_r: LogRecord): number {
    return ++this.last;
  }
  appendClientData(): number {
    return ++this.last;
  }
  onDurable(l: (d: number) => void): void {
    this.listeners.push(l);
  }
  durable(d: number): void {
    this.durableSeq = d;
    for (const l of this.listeners) l(d);
  }
  async *readClientStream(): AsyncIterable<ReplayItem> {}
  async *readAllClientStreams(): AsyncIterable<ReplayEntry[]> {}
}

describe('TimedWrapperLog', () => {
  it('times one record at a time from append to durable', () => {
    let now = 0;
    const seen: number[] = [];
    const inner = new StepLog();
    const log = new TimedWrapperLog(inner, (ms) => seen.push(ms), () => now);
    const rec = {} as LogRecord;
    expect(log.append(rec)).toBe(1); // probe: seq 1 at t=0
    now = 1;
    expect(log.append(rec)).toBe(2);
    now = 3;
    inner.durable(1);
    expect(seen).toEqual([3]);
    now = 4;
    log.append(rec); // probe: seq 3 at t=4
    now = 6;
    inner.durable(2); // not yet
    expect(seen).toEqual([3]);
    now = 10;
    inner.durable(3);
    expect(seen).toEqual([3, 6]);
    expect(log.durableSeq).toBe(3);
  });
});

describe('RecoveryTracker', () => {
  it('measures crash → NORMAL per connection; a closed connection is not a recovery', () => {
    const d = fakeDaemon();
    for (const c of d.table.all()) c.state = 'NORMAL';
    const [a, b, c] = [...d.table.all()];
    let now = 100;
    const seen: number[] = [];
    const sup = new EventEmitter();
    const t = new RecoveryTracker({ wrapper: () => d.wrapper, observeMs: (ms) => seen.push(ms), crashes: sup, now: () => now, idleCheckMs: 60_000 });
    try {
      sup.emit('exit', { willRestart: true });
      d.wrapper.appDown = true;
      for (const x of [a, b, c]) x!.state = 'RECOVERING';
      now = 120;
      t.tick();
      expect(t.following).toBe(3);
      d.wrapper.appDown = false;
      a!.state = 'REPLAYING';
      b!.state = 'NORMAL';
      c!.state = 'CLOSED';
      now = 400;
      t.tick();
      expect(seen).toEqual([300]);
      a!.state = 'NORMAL';
      now = 700;
      t.tick();
      expect(seen).toEqual([300, 600]);
      expect(t.following).toBe(0);
    } finally {
      t.close();
    }
  });
});

describe('parseHostPort', () => {
  it('accepts HOST:PORT forms and says what to fix otherwise', () => {
    expect(parseHostPort('127.0.0.1:9464')).toEqual({ host: '127.0.0.1', port: 9464 });
    expect(parseHostPort('[::1]:0')).toEqual({ host: '::1', port: 0 });
    expect(parseHostPort(':9464')).toEqual({ host: '', port: 9464 });
    expect(parseHostPort('localhost:80')).toEqual({ host: 'localhost', port: 80 });
    expect(() => parseHostPort('9464')).toThrow('--metrics 9464: expected HOST:PORT, e.g. --metrics 127.0.0.1:9464 (IPv6: [::1]:9464)');
    expect(() => parseHostPort('::1:9464')).toThrow(/expected HOST:PORT/);
    expect(() => parseHostPort('1.2.3.4:70000')).toThrow(/between 0 and 65535/);
    expect(() => parseHostPort('[nope]:1')).toThrow(/must be an IPv6 address/);
    expect(() => parseHostPort('a b:1')).toThrow(/not an IP address or host name/);
    expect(isLoopback('127.0.0.1') && isLoopback('::1') && !isLoopback('0.0.0.0') && !isLoopback('')).toBe(true);
  });
});
