// `ftcp status` and `--metrics` against the real daemon: an echo app behind `ftcp run`, a client
// streaming through it, the app killed once.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FTCP, ROOT, TestNetns, killApp, netnsExists, runFtcp, sh, sleep, spawnCollect, startFtcp, stopFtcp, waitRestarted, type FtcpRunHandle } from '../helpers/host.js';

const ECHO = join(ROOT, 'test', 'apps', 'echo.py');
const CLIENT = join(ROOT, 'test', 'apps', 'echo_client.py');
const name = `st${(process.pid % 10000).toString(36)}`;
const VIP = '10.77.5.2';

let host: TestNetns;
let work: string;
let h: FtcpRunHandle | undefined;
const savedRunDir = process.env.FTCP_RUN_DIR;

beforeAll(() => {
  work = mkdtempSync(join(tmpdir(), 'ftcp-std-'));
  // The daemon (spawned with this env) and `ftcp status` share a private run dir.
  process.env.FTCP_RUN_DIR = join(work, 'run');
  host = TestNetns.create('std');
});

afterAll(async () => {
  await stopFtcp(h);
  host?.destroy();
  if (netnsExists(`ftcp-${name}`)) sh('ip', ['netns', 'del', `ftcp-${name}`]);
  if (savedRunDir === undefined) delete process.env.FTCP_RUN_DIR;
  else process.env.FTCP_RUN_DIR = savedRunDir;
  if (work) rmSync(work, { recursive: true, force: true });
});

interface Snap {
  service: { appPid: number | null; appDown: boolean; log: { lag: number } | null };
  connections: Array<{ state: string; client: string; rcvLogged: number; sndMax: number; recoveries: number; delta: number }>;
  counters: { wrapper: { recoveries: number; recovered: number } };
}

async function snapshot(): Promise<Snap> {
  const r = await runFtcp(undefined, ['status', name, '--json']);
  if (r.code !== 0) throw new Error(`ftcp status ${name}: ${r.code} ${r.stderr}`);
  return JSON.parse(r.stdout) as Snap;
}

/** Polls the status until `ok` holds (bounded by the test timeout, not asserted on time). */
async function until(ok: (s: Snap) => boolean): Promise<Snap> {
  for (;;) {
    const s = await snapshot();
    if (ok(s)) return s;
    await sleep(100);
  }
}

function scrape(): string {
  return host.exec('curl', ['-sS', '--max-time', '10', 'http://127.0.0.1:9464/metrics']);
}

function value(text: string, series: string): number {
  const line = text.split('\n').find((l) => l.startsWith(`${series} `));
  if (!line) throw new Error(`no series ${series} in the scrape`);
  return Number(line.slice(series.length + 1));
}

describe('ftcp status and metrics of a running daemon', () => {
  it('shows a connection through a crash and recovery; metrics count it', async () => {
    h = await startFtcp(host, ['run', '--name', name, '--vip', VIP, '--port', '9000', '--data-dir', join(work, 'data'), '--metrics', '127.0.0.1:9464', '--', 'python3', ECHO, '9000']);
    // Long enough (6 s at 1 MB/s) that the connection is still open when a slow restore is seen.
    const bytes = 6 << 20;
    const client = spawnCollect(host, 'python3', [CLIENT, VIP, '9000', String(bytes), '60', String(1 << 20)], 90_000);

    const before = await until((s) => s.connections.some((c) => c.state === 'NORMAL' && c.rcvLogged > 0));
    expect(before.service.appPid).toBeGreaterThan(0);
    expect(before.connections).toHaveLength(1);
    expect(before.connections[0]!.client).toMatch(/^10\.77\.0\.1:\d+$/);

    const human = await runFtcp(undefined, ['status']);
    expect(human.code).toBe(0);
    expect(human.stdout).toMatch(new RegExp(`^${name}: vip ${VIP.replace(/\./g, '\\.')} port 9000, app pid \\d+, 0 restarts`, 'm'));
    expect(human.stdout).toMatch(/^ {2}NORMAL +10\.77\.0\.1:\d+ +10\.77\.5\.2:9000 /m);

    const old = killApp(name);
    expect(old.length).toBeGreaterThan(0);
    await waitRestarted(name, old);
    const after = await until((s) => s.counters.wrapper.recovered >= 1 && s.connections.length === 1 && s.connections[0]!.state === 'NORMAL');
    expect(after.connections[0]!.recoveries).toBe(1);

    const out = await client;
    const result = JSON.parse(out.stdout) as { received: number; sentSha: string; recvSha: string; error?: string };
    expect(result.error).toBeUndefined();
    expect(result.received).toBe(bytes);

    const text = scrape();
    expect(value(text, `ftcp_recoveries_total{service="${name}"}`)).toBe(1);
    expect(value(text, `ftcp_recovered_total{service="${name}"}`)).toBe(1);
    expect(value(text, `ftcp_app_restarts_total{service="${name}"}`)).toBe(1);
    expect(value(text, `ftcp_recovery_duration_seconds_count{service="${name}"}`)).toBe(1);
    expect(value(text, `ftcp_log_append_latency_seconds_count{service="${name}"}`)).toBeGreaterThan(0);
    expect(value(text, `ftcp_segments_total{direction="inbound",service="${name}"}`)).toBeGreaterThan(0);
    expect(value(text, `ftcp_logged_bytes_total{service="${name}"}`)).toBeGreaterThanOrEqual(bytes);
    console.log(
      'recovery s:', value(text, `ftcp_recovery_duration_seconds_sum{service="${name}"}`),
      'append latency mean ms:',
      (1000 * value(text, `ftcp_log_append_latency_seconds_sum{service="${name}"}`)) / value(text, `ftcp_log_append_latency_seconds_count{service="${name}"}`),
    );

    const sock = join(process.env.FTCP_RUN_DIR!, `${name}.sock`);
    expect(existsSync(sock)).toBe(true);
    expect(await stopFtcp(h)).toBe(0);
    expect(existsSync(sock)).toBe(false);
    const gone = await runFtcp(undefined, ['status', name]);
    expect(gone.code).toBe(1);
    expect(gone.stderr).toBe(`ftcp status: no ftcp service ${name} is running (no ${sock})\n`);
  });
});
