import { describe, expect, it } from 'vitest';
import { statusSnapshot } from '../../../src/status/snapshot.js';
import { formatStatus } from '../../../src/status/format.js';
import { fakeDaemon } from './fake-daemon.js';

describe('statusSnapshot', () => {
  it('reports the service, every connection and the counters', () => {
    const d = fakeDaemon();
    const s = statusSnapshot(d.source, 1_000_000 + 65_000);
    expect(s.version).toBe(1);
    expect(s.service).toEqual({
      name: 'web',
      vip: '10.77.0.2',
      ports: [9000, 9001],
      daemonPid: process.pid,
      uptimeSeconds: 65,
      appPid: 4242,
      appRestarts: 2,
      appDown: false,
      log: { lastSeq: 97, durableSeq: 90, lag: 7, unacknowledgedBytes: 5000 },
      failover: null,
    });
    expect(s.connections.map((c) => c.client)).toEqual(['192.0.2.10:40001', '192.0.2.9:40003', '[2001:db8::5]:40002']);
    expect(s.connections[0]).toEqual({
      id: '192.0.2.10-40001-9000',
      state: 'NORMAL',
      client: '192.0.2.10:40001',
      servicePort: 9000,
      rcvLogged: 1000,
      rcvAppended: 1200,
      sndUna: 500,
      sndMax: 700,
      delta: 12345,
      irs: 0xfffffff0,
      iss0: 0,
      tsOffset: 0,
      recoveries: 1,
      replay: null,
      unprotected: false,
    });
    expect(s.connections[2]!.replay).toEqual({ replayed: 1000, total: 4000 });
    expect(s.connections[1]!.unprotected).toBe(true);
    expect(s.counters.wrapper!.malformedByReason).toEqual({ 'truncated-tcp': 2, 'bad-ip-header': 1 });
    expect(s.counters.relay!.inbound.readPackets).toBe(100);
    // A plain JSON object: survives a round trip unchanged.
    expect(JSON.parse(JSON.stringify(s))).toEqual(s);
  });

  it('copies the counters (a kept snapshot does not change)', () => {
    const d = fakeDaemon();
    const s = statusSnapshot(d.source);
    d.wrapper.counters.protectedIn++;
    d.wrapper.counters.malformedByReason['truncated-tcp']!++;
    expect(s.counters.wrapper!.protectedIn).toBe(10);
    expect(s.counters.wrapper!.malformedByReason['truncated-tcp']).toBe(2);
  });

  it('works before the wrapper, relay and app exist, and without a log', () => {
    const s = statusSnapshot({ cfg: { name: 'x', vip: 'fd77::2', ports: [80] } });
    expect(s.service.appPid).toBeNull();
    expect(s.service.log).toBeNull();
    expect(s.service.uptimeSeconds).toBeNull();
    expect(s.connections).toEqual([]);
    expect(s.counters).toEqual({ wrapper: null, relay: null });
    expect(formatStatus(s)).toContain('no log (pass-through)');
  });
});

describe('formatStatus', () => {
  it('prints a service line, a connection table and the counters', () => {
    const d = fakeDaemon();
    d.wrapper.appDown = true;
    const text = formatStatus(statusSnapshot(d.source, 1_000_000 + 3_700_000));
    const lines = text.split('\n');
    expect(lines[0]).toBe(`web: vip 10.77.0.2 ports 9000,9001, app DOWN (clients held), 2 restarts, log lag 7 records (4.9 KiB unacknowledged), daemon pid ${process.pid}, up 1h01m`);
    expect(lines[1]).toBe('3 connections (1 NORMAL, 1 RECOVERING, 1 REPLAYING)');
    expect(lines[2]).toMatch(/^ {2}STATE +CLIENT +SERVICE +RCVLOGGED +SNDUNA\/SNDMAX +DELTA +RECOVERIES +REPLAY$/);
    expect(lines[3]).toMatch(/^ {2}NORMAL +192\.0\.2\.10:40001 +10\.77\.0\.2:9000 +1000 +500\/700 +12345 +1 +-$/);
    expect(lines[4]).toMatch(/^ {2}RECOVERING\* +192\.0\.2\.9:40003 /);
    expect(lines[5]).toMatch(/REPLAYING +\[2001:db8::5\]:40002 .* 1000 B\/3\.9 KiB \(25%\)$/);
    expect(text).toContain('* unprotected');
    expect(text).toContain('malformed 3 (truncated-tcp 2, bad-ip-header 1)');
    expect(text).toContain('recoveries 5, recovered 4, divergences 1');
    expect(text).toContain('in  read 100 packets (146 KiB)');
    expect(text).toContain('dropped 2');
  });

  it('shows the failover role, epoch and lease of a replicated service', () => {
    const d = fakeDaemon();
    let valid = true;
    const src = { ...d.source, primary: { role: 'primary' as const, epoch: 42, lease: { valid: () => valid, ttlMs: 1000, held: true }, replica: { streamSeq: 777 } } };
    const s = statusSnapshot(src, 1_000_000 + 65_000);
    expect(s.service.failover).toEqual({ role: 'primary', epoch: 42, leaseHeld: true, leaseValid: true, leaseMs: 1000, streamSeq: 777, lag: null, primary: null });
    expect(formatStatus(s)).toContain('role primary, epoch 42, lease 1000 ms valid, log at message 777');
    valid = false;
    expect(formatStatus(statusSnapshot(src))).toContain('LAPSED (sending nothing)');
    const holder = () => ({ host: 'db1', epoch: 41, ageMs: 120.4 });
    const standby = { ...d.source, primary: { role: 'standby' as const, epoch: 0, lease: { valid: () => false, ttlMs: 1000, held: false }, lag: () => 3, holder } };
    expect(formatStatus(statusSnapshot(standby))).toContain(
      'role standby, epoch 0, lease 1000 ms (held elsewhere), primary db1 at epoch 41 (lease renewed 120 ms ago), 3 messages behind the log',
    );
  });
});
