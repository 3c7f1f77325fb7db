// Issue 4: sequence numbers crossing 2^32 end to end. The kernel's ISN cannot be chosen, so a raw
// client (test/apps/raw_client.py) picks 2^32 - 2000: its stream wraps right after the handshake,
// and the server is crashed and restored after the wrap.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ROOT, TestNetns, killApp, netnsExists, sh, sleep, spawnCollect, startFtcp, stopFtcp, waitRestarted, type FtcpRunHandle } from '../helpers/host.js';

const APPS = join(ROOT, 'test', 'apps');
const name = `rw${(process.pid % 10000).toString(36)}`;
let host: TestNetns;
let dir: string;
let h: FtcpRunHandle | undefined;

beforeAll(() => {
  host = TestNetns.create('wrap');
  dir = mkdtempSync(join(tmpdir(), 'ftcp-wrap-'));
});

afterAll(async () => {
  await stopFtcp(h);
  host?.destroy();
  if (netnsExists(`ftcp-${name}`)) sh('ip', ['netns', 'del', `ftcp-${name}`]);
  rmSync(dir, { recursive: true, force: true });
});

describe('sequence numbers crossing 2^32', () => {
  it('a client stream that wraps survives a crash after the wrap', async () => {
    h = await startFtcp(host, ['run', '--name', name, '--vip', '10.77.50.2', '--port', '9000', '--data-dir', join(dir, 'log'), '--', 'python3', join(APPS, 'echo.py'), '9000']);
    // The host kernel knows no socket for the raw client's port: keep its RSTs off the wire.
    host.exec('nft', ['add', 'table', 'inet', 'rawcli']);
    host.exec('nft', ['add', 'chain', 'inet', 'rawcli', 'out', '{ type filter hook output priority 0 ; }']);
    host.exec('nft', ['add', 'rule', 'inet', 'rawcli', 'out', 'tcp', 'sport', '41000', 'tcp', 'flags', '&', 'rst', '!=', '0', 'drop']);
    const go = join(dir, 'go');
    const isn = 2 ** 32 - 2000;
    const client = spawnCollect(host, 'python3', [join(APPS, 'raw_client.py'), '10.77.0.1', '10.77.50.2', '9000', '41000', String(isn), '40', go], 120_000);
    for (let i = 0; i < 600 && !existsSync(`${go}.half`); i++) await sleep(50);
    const old = killApp(name);
    await waitRestarted(name, old);
    writeFileSync(go, '');
    const out = JSON.parse((await client).stdout) as { ok: boolean; sent: number; echoed: number; crossed: boolean; error?: string };
    if (out.error) console.error(h.stderr().slice(-5000));
    expect(out.error).toBeUndefined();
    expect(out).toMatchObject({ ok: true, sent: 40_000, echoed: 40_000, crossed: true });
    await stopFtcp(h);
    expect(h.stderr()).toMatch(/connection restored/);
  });
});
