// `ftcp status` end to end: small daemon processes run the real control server (and metrics server)
// over a fake daemon's objects in a temp FTCP_RUN_DIR; the real CLI module (registerStatus on a
// fresh commander program, as main.ts will do) asks them, as root and as an unprivileged user.
// Needs `npm run build:ts` first (it runs dist/).
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { chmodSync, existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ROOT } from '../helpers/host.js';

const DIST = join(ROOT, 'dist');
const dist = (p: string): string => pathToFileURL(join(DIST, p)).href;
let work: string;
let runDir: string;
const daemons: ChildProcess[] = [];

// A daemon's status objects: real TcpConn/ConnTable from dist, counters the way the wrapper keeps them.
const FAKE_DAEMON = `
import { startControlServer } from '${dist('status/control-server.js')}';
import { statusSnapshot } from '${dist('status/snapshot.js')}';
import { FtcpMetrics } from '${dist('metrics/metrics.js')}';
import { startMetricsServer } from '${dist('metrics/metrics-server.js')}';
import { TcpConn } from '${dist('wrapper/conn.js')}';
import { ConnTable } from '${dist('wrapper/conn-table.js')}';
import { newRelayCounters } from '${dist('relay/relay-counters.js')}';
import { parseIpAddr } from '${dist('wire/addr.js')}';

const name = process.argv[2];
const opts = { clientMss: 1460, serverMss: 1460, clientWscale: 7, serverWscale: 7, sackOk: true, tsOk: true, clientSynWindow: 64240 };
const table = new ConnTable();
function conn(addr, port, state) {
  const c = new TcpConn({ id: addr + ':' + port, ipVersion: 4, clientAddr: parseIpAddr(addr), clientPort: port,
    serverAddr: parseIpAddr('10.77.0.2'), serverPort: 9000, irs: 1000, opts });
  c.state = state;
  table.add(c);
  return c;
}
const a = conn('192.0.2.1', 50001, 'NORMAL');
a.client.rcvLogged = 8192; a.client.rcvAppended = 8192; a.sndUna = 4096; a.sndMax = 6000; a.delta = 77; a.recoveries = 1;
const b = conn('192.0.2.2', 50002, 'REPLAYING');
b.client.rcvLogged = 2 << 20; b.replayNext = 1 << 20; b.recoveries = 1;
const counters = { passed: 3, protectedIn: 120, protectedOut: 80, malformed: 1, malformedByReason: { 'truncated-tcp': 1 },
  loggedBytes: 8192, acksHeld: 5, acksSynthesized: 4, holdAcks: 9, discarded: 2, recoveries: 2, recovered: 1,
  divergences: 0, unprotectedResets: 0, logErrors: 0 };
const wrapper = { conns: table, counters, appDown: false };
const relay = { counters: newRelayCounters() };
relay.counters.inbound.readPackets = 123;
const source = () => ({ cfg: { name, vip: '10.77.0.2', ports: [9000] }, wrapper, relay,
  supervisor: { pid: 4321, restarts: 1 }, logClient: { lastSeq: 50, durableSeq: 47, unacknowledgedBytes: 300 }, startedAt: Date.now() });
const control = await startControlServer({ name, status: () => statusSnapshot(source()) });
const metrics = new FtcpMetrics(source, { service: name });
const http = await startMetricsServer('127.0.0.1:0', metrics.registry);
process.on('SIGTERM', async () => {
  await control.close();
  await http.close();
  process.exit(0);
});
process.stdout.write('ready ' + http.url + '\\n');
`;

// What main.ts does, with registerStatus added.
const CLI = `
import { createRequire } from 'node:module';
import { registerStatus } from '${dist('cli/status.js')}';
const { Command } = createRequire('${join(ROOT, 'package.json')}')('commander');
const program = new Command('ftcp').exitOverride();
registerStatus(program);
try {
  await program.parseAsync(process.argv);
} catch (err) {
  process.exit(err.exitCode === 0 ? 0 : 2);
}
`;

interface Started {
  proc: ChildProcess;
  metricsUrl: string;
}

function startDaemon(name: string): Promise<Started> {
  const proc = spawn(process.execPath, [join(work, 'daemon.mjs'), name], {
    env: { ...process.env, FTCP_RUN_DIR: runDir },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  daemons.push(proc);
  return new Promise((resolve, reject) => {
    let out = '';
    proc.stdout!.on('data', (d: Buffer) => {
      out += d.toString();
      const m = /^ready (\S+)\n/.exec(out);
      if (m) resolve({ proc, metricsUrl: m[1]! });
    });
    proc.once('exit', (code) => reject(new Error(`fake daemon ${name} exited (${code}) before it was ready`)));
  });
}

function stopDaemon(proc: ChildProcess, signal: NodeJS.Signals = 'SIGTERM'): Promise<void> {
  return new Promise((resolve) => {
    if (proc.exitCode !== null || proc.signalCode !== null) return resolve();
    proc.once('exit', () => resolve());
    proc.kill(signal);
  });
}

function status(args: string[], asUser?: number): { code: number | null; stdout: string; stderr: string } {
  const cmd = asUser === undefined ? process.execPath : 'setpriv';
  const argv = [join(work, 'cli.mjs'), 'status', ...args];
  const full = asUser === undefined ? argv : [`--reuid=${asUser}`, `--regid=${asUser}`, '--clear-groups', process.execPath, ...argv];
  const r = spawnSync(cmd, full, { env: { ...process.env, FTCP_RUN_DIR: runDir }, encoding: 'utf8', timeout: 30_000 });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

beforeAll(() => {
  if (!existsSync(join(DIST, 'status', 'control-server.js')) || !existsSync(join(DIST, 'cli', 'status.js'))) {
    throw new Error('dist/ lacks the status modules: run `npm run build:ts` first');
  }
  work = mkdtempSync(join(tmpdir(), 'ftcp-status-it-'));
  chmodSync(work, 0o755); // the unprivileged client must reach the scripts and the sockets
  runDir = join(work, 'run');
  writeFileSync(join(work, 'daemon.mjs'), FAKE_DAEMON);
  writeFileSync(join(work, 'cli.mjs'), CLI);
});

afterAll(async () => {
  for (const p of daemons) await stopDaemon(p, 'SIGKILL');
  if (work) rmSync(work, { recursive: true, force: true });
});

describe('ftcp status over the control socket', () => {
  it('shows one service: service line, connection table, counters; --json gives the snapshot', async () => {
    const d = await startDaemon('web');
    const h = status(['web']);
    expect(h.stderr).toBe('');
    expect(h.code).toBe(0);
    const lines = h.stdout.split('\n');
    expect(lines[0]).toMatch(/^web: vip 10\.77\.0\.2 port 9000, app pid 4321, 1 restart, log lag 3 records \(300 B unacknowledged\), daemon pid \d+, up \d+s$/);
    expect(lines[1]).toBe('2 connections (1 NORMAL, 1 REPLAYING)');
    expect(lines[2]).toMatch(/^ {2}STATE +CLIENT +SERVICE +RCVLOGGED +SNDUNA\/SNDMAX +DELTA +RECOVERIES +REPLAY$/);
    expect(lines[3]).toMatch(/^ {2}NORMAL +192\.0\.2\.1:50001 +10\.77\.0\.2:9000 +8192 +4096\/6000 +77 +1 +-$/);
    expect(lines[4]).toMatch(/^ {2}REPLAYING +192\.0\.2\.2:50002 .* 1\.0 MiB\/2\.0 MiB \(50%\)$/);
    expect(h.stdout).toContain('segments in 120, out 80');
    expect(h.stdout).toContain('in  read 123 packets');

    const j = status(['web', '--json']);
    expect(j.code).toBe(0);
    const snap = JSON.parse(j.stdout);
    expect(snap.service).toMatchObject({ name: 'web', appPid: 4321, daemonPid: d.proc.pid, log: { lag: 3 } });
    expect(snap.connections).toHaveLength(2);
    expect(snap.connections[1]).toMatchObject({ state: 'REPLAYING', client: '192.0.2.2:50002', replay: { replayed: 1 << 20, total: 2 << 20 } });
    expect(snap.counters.wrapper.acksHeld).toBe(5);
  });

  it('without NAME asks every running service', async () => {
    await startDaemon('api');
    const h = status([]);
    expect(h.code).toBe(0);
    expect(h.stdout).toMatch(/^api: vip /m);
    expect(h.stdout).toMatch(/^web: vip /m);
    const j = status(['--json']);
    expect(JSON.parse(j.stdout).map((s: { service: { name: string } }) => s.service.name)).toEqual(['api', 'web']);
  });

  it('names a service that does not run, and rejects a bad name or timeout', () => {
    const r = status(['ghost']);
    expect(r.code).toBe(1);
    expect(r.stderr).toBe(`ftcp status: no ftcp service ghost is running (no ${join(runDir, 'ghost.sock')})\n`);
    expect(status(['../etc']).code).toBe(2);
    expect(status(['web', '--timeout', 'soon'])).toMatchObject({ code: 2, stderr: 'ftcp status: --timeout soon: expected seconds > 0, e.g. --timeout 5\n' });
  });

  it('refuses a user outside root and the ftcp group with a clear message', () => {
    const r = status(['web'], 65534);
    expect(r.code).toBe(1);
    expect(r.stderr).toBe(`ftcp status: permission denied on ${join(runDir, 'web.sock')}: run ftcp status as root or as a member of group ftcp\n`);
  });

  it('a killed daemon leaves a stale socket that status explains and the next start replaces; a stop removes it', async () => {
    const d = await startDaemon('crash');
    await stopDaemon(d.proc, 'SIGKILL');
    const path = join(runDir, 'crash.sock');
    expect(existsSync(path)).toBe(true);
    const r = status(['crash']);
    expect(r.code).toBe(1);
    expect(r.stderr).toBe(`ftcp status: ftcp service crash is not running (${path} is left from a daemon that died)\n`);
    // Listing everything still shows the live ones and names the dead one.
    const all = status([]);
    expect(all.code).toBe(1);
    expect(all.stdout).toMatch(/^web: /m);
    expect(all.stderr).toContain('ftcp service crash is not running');

    const again = await startDaemon('crash');
    expect(status(['crash']).code).toBe(0);
    await stopDaemon(again.proc);
    expect(existsSync(path)).toBe(false);
  });
});

describe('metrics server', () => {
  it('serves the Prometheus text format on /metrics, 404 elsewhere', async () => {
    const d = await startDaemon('prom');
    expect(d.metricsUrl).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/metrics$/);
    const res = await fetch(d.metricsUrl);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toMatch(/^text\/plain; version=0\.0\.4/);
    const text = await res.text();
    expect(text).toContain('ftcp_segments_total{direction="inbound",service="prom"} 120');
    expect(text).toContain('ftcp_connections{state="REPLAYING",service="prom"} 1');
    expect(text).toContain('ftcp_dropped_packets_total{reason="truncated-tcp",service="prom"} 1');
    expect(text).toContain('ftcp_log_lag_records{service="prom"} 3');
    expect(text).toContain('# TYPE ftcp_recovery_duration_seconds histogram');
    expect(text).toContain('process_resident_memory_bytes');
    expect((await fetch(d.metricsUrl.replace('/metrics', '/'))).status).toBe(404);
    expect((await fetch(d.metricsUrl, { method: 'POST' })).status).toBe(405);
  });
});
