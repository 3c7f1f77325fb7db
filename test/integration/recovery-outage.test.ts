// Issue 4 / claim 6: the app is down for 60 s; clients stay connected (zero-window ACKs answer
// their keep-alives and probes), and what they do meanwhile — send, close, reset — is handled.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ROOT, TestNetns, killApp, netnsExists, sh, sleep, spawnCollect, startFtcp, stopFtcp, waitRestarted, type FtcpRunHandle } from '../helpers/host.js';

const APPS = join(ROOT, 'test', 'apps');
const name = `ro${(process.pid % 10000).toString(36)}`;
let host: TestNetns;
let dir: string;
let h: FtcpRunHandle | undefined;

beforeAll(() => {
  host = TestNetns.create('out');
  dir = mkdtempSync(join(tmpdir(), 'ftcp-outage-'));
});

afterAll(async () => {
  await stopFtcp(h);
  host?.destroy();
  if (netnsExists(`ftcp-${name}`)) sh('ip', ['netns', 'del', `ftcp-${name}`]);
  rmSync(dir, { recursive: true, force: true });
});

describe('a 60-second outage of the app', () => {
  it('keeps every client connected and handles their keep-alives, data, FIN and RST meanwhile', async () => {
    h = await startFtcp(host, [
      'run', '--name', name, '--vip', '10.77.40.2', '--port', '9000', '--data-dir', join(dir, 'log'),
      '--', 'python3', join(APPS, 'echo.py'), '9000', '--slow-restart', '60', join(dir, 'marker'),
    ]);
    const client = spawnCollect(host, 'python3', [join(APPS, 'outage_clients.py'), '10.77.40.2', '9000', dir], 150_000);
    for (let i = 0; i < 400 && !existsSync(join(dir, 'phase1')); i++) await sleep(50);
    const old = killApp(name);
    await waitRestarted(name, old);
    writeFileSync(join(dir, 'down'), '');
    const out = await client;
    expect(JSON.parse(out.stdout)).toEqual({ A: 'ok', B: 'ok', C: 'ok+eof', D: 'reset sent', E: 'ok' });
    await stopFtcp(h);
    const stderr = h.stderr();
    expect(stderr.match(/connection restored/g)?.length).toBe(4); // D reset: nothing to restore
    const counters = JSON.parse(stderr.split('\n').find((l) => l.includes('final counters'))!) as { wrapper: { holdAcks: number } };
    expect(counters.wrapper.holdAcks).toBeGreaterThan(4 * 50); // periodic zero-window ACKs (claim 6)
  });
});
