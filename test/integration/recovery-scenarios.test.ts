// Issue 4: recovery under load and under hostile conditions — 1000 connections through a crash,
// a non-deterministic app (divergence), malformed and out-of-window segments, packet loss.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { existsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { ROOT, killApp, sleep, spawnCollect, stopFtcp, waitEstablished, waitRestarted, type FtcpRunHandle } from '../helpers/host.js';
import { ProtectedHost } from '../helpers/protected-host.js';

const APPS = join(ROOT, 'test', 'apps');
const tag = (process.pid % 10000).toString(36);

let env: ProtectedHost;
let host: ProtectedHost['host'];
let dataDir: string;

beforeAll(() => {
  env = ProtectedHost.create('scn');
  host = env.host;
  dataDir = env.dataDir;
});

afterAll(async () => {
  await env?.cleanup();
});

const protect = (name: string, vip: string, app: string[]): Promise<FtcpRunHandle> => env.protect(name, vip, app);

/**
 * A python client connects to VIP:9000 and runs SETUP; then the app is SIGKILLed and restarted
 * while the client waits, and the client sends once more. Returns its output lines, the last one
 * `DATA …` (the connection survived) or `RESET`.
 */
async function acrossCrash(name: string, vip: string, setup: string[]): Promise<string[]> {
  const script = [
    'import os,socket,sys,time',
    `s=socket.create_connection(("${vip}",9000),timeout=20)`,
    ...setup,
    'open(sys.argv[1],"w").write("x")',
    'time.sleep(3)',
    'try:',
    '  s.sendall(b"again\\n"); print("DATA", s.recv(100))',
    'except ConnectionResetError:',
    '  print("RESET")',
  ].join('\n');
  const ready = join(dataDir, `${name}.ready`);
  const client = spawnCollect(host, 'python3', ['-c', script, ready], 40_000);
  for (let i = 0; i < 400 && !existsSync(ready); i++) await sleep(50);
  const old = killApp(name);
  await waitRestarted(name, old);
  return (await client).stdout.trim().split('\n');
}

function finalCounters(stderr: string): { wrapper: Record<string, number>; relay: unknown } {
  const line = stderr.split('\n').find((l) => l.includes('"final counters"'));
  if (!line) throw new Error(`no final counters in: ${stderr.slice(-2000)}`);
  return JSON.parse(line) as { wrapper: Record<string, number>; relay: unknown };
}

describe('recovery at scale and under hostile conditions', () => {
  it('1000 connections open through a crash are all recovered', async () => {
    const name = `rk${tag}`;
    await protect(name, '10.77.30.2', ['python3', join(APPS, 'echo.py'), '9000']);
    const go = join(dataDir, `${name}.go`);
    const client = host.spawn('python3', [join(APPS, 'many_clients.py'), '10.77.30.2', '9000', '1000', go, '60']);
    let out = '';
    client.stdout!.on('data', (d: Buffer) => (out += d.toString()));
    const exited = new Promise<void>((r) => client.once('exit', () => r()));
    for (let i = 0; i < 1200 && !out.includes('"phase"'); i++) await sleep(50);
    expect(JSON.parse(out.split('\n')[0]!)).toEqual({ phase: 'open', ok: 1000 });
    const old = killApp(name);
    await waitRestarted(name, old);
    writeFileSync(go, '');
    await exited;
    const res = JSON.parse(out.trim().split('\n').pop()!) as { ok: number; errorCount: number; errors: string[] };
    expect(res.errors).toEqual([]);
    expect(res.ok).toBe(1000);
  });

  it('a non-deterministic app: the client gets an RST, never a wrong byte, and it is counted', async () => {
    const name = `rn${tag}`;
    const h = await protect(name, '10.77.31.2', ['python3', join(APPS, 'nondet_server.py'), '9000']);
    const out = await acrossCrash(name, '10.77.31.2', [
      'tok=b""',
      'while not tok.endswith(b"\\n"): tok+=s.recv(100)',
      's.sendall(b"hello\\n"); got=b""',
      'while len(got)<6: got+=s.recv(100)',
    ]);
    expect(out).toEqual(['RESET']);
    await stopFtcp(h);
    expect(h.stderr()).toMatch(/divergence/);
    expect(finalCounters(h.stderr()).wrapper.divergences).toBe(1);
  });

  it('malformed and out-of-window segments during a transfer: it completes, drops are counted', async () => {
    const name = `rm${tag}`;
    const h = await protect(name, '10.77.32.2', ['python3', join(APPS, 'echo.py'), '9000']);
    const bytes = 16 << 20;
    const client = spawnCollect(host, 'python3', [join(APPS, 'echo_client.py'), '10.77.32.2', '9000', String(bytes), '30', String(8 << 20)], 60_000);
    await waitEstablished(name);
    await sleep(300);
    host.exec('python3', [join(APPS, 'raw_garbage.py'), '10.77.0.1', '10.77.32.2', '9000', '3000']);
    const old = killApp(name);
    await waitRestarted(name, old);
    host.exec('python3', [join(APPS, 'raw_garbage.py'), '10.77.0.1', '10.77.32.2', '9000', '3000']);
    const r = JSON.parse((await client).stdout) as { received: number; sentSha: string; recvSha: string; error?: string };
    if (r.error) console.error(h.stderr().slice(-4000));
    expect(r.error).toBeUndefined();
    expect(r.recvSha).toBe(r.sentSha);
    await stopFtcp(h);
    // The kernel may drop some of the burst at the TUN queue; what arrives is counted by reason.
    const counters = finalCounters(h.stderr()).wrapper as unknown as { malformed: number; malformedByReason: Record<string, number> };
    expect(counters.malformed).toBeGreaterThan(1000);
    expect(Object.keys(counters.malformedByReason).sort()).toEqual(['bad-option-length', 'bad-tcp-offset', 'option-overrun', 'truncated-tcp']);
  });

  it('past --max-replay-bytes a connection flows unprotected and gets a clean RST at a crash', async () => {
    const name = `rb${tag}`;
    const h = await env.protect(name, '10.77.34.2', ['python3', join(APPS, 'echo.py'), '9000'], ['--max-replay-bytes', String(1 << 20)]);
    // The echo is read while the data is sent: a client that reads only after sending 4 MiB
    // deadlocks whenever the server's socket buffers hold less than that (both sides stuck in
    // send behind zero windows) — plain TCP, with or without ftcp, on a busy machine.
    const out = await acrossCrash(name, '10.77.34.2', [
      'import threading; data=os.urandom(4<<20); w=threading.Thread(target=s.sendall, args=(data,)); w.start(); got=b""',
      'while len(got)<len(data): got+=s.recv(1<<20)',
      'w.join(); print("ECHO", got==data, flush=True)',
    ]);
    expect(out).toEqual(['ECHO True', 'RESET']);
    await stopFtcp(h);
    expect(finalCounters(h.stderr()).wrapper.unprotectedResets).toBe(1);
  });

  it('random packet loss (2 %) during a transfer and during recovery: still byte-exact', async () => {
    const name = `rl${tag}`;
    const h = await protect(name, '10.77.33.2', ['python3', join(APPS, 'echo.py'), '9000']);
    const table = `ftcploss${tag}`;
    const nft = (cmd: string): string => host.exec('nft', cmd.split(' '));
    nft(`add table inet ${table}`);
    nft(`add chain inet ${table} pre { type filter hook prerouting priority 0 ; }`);
    nft(`add chain inet ${table} out { type filter hook output priority 0 ; }`);
    nft(`add rule inet ${table} pre meta l4proto tcp numgen random mod 100 < 2 drop`);
    nft(`add rule inet ${table} out meta l4proto tcp numgen random mod 100 < 2 drop`);
    try {
      const bytes = 8 << 20;
      const client = spawnCollect(host, 'python3', [join(APPS, 'echo_client.py'), '10.77.33.2', '9000', String(bytes), '60', String(2 << 20)], 120_000);
      await waitEstablished(name);
      for (let k = 0; k < 2; k++) {
        await sleep(700 + Math.floor(Math.random() * 600));
        const old = killApp(name);
        await waitRestarted(name, old);
      }
      const r = JSON.parse((await client).stdout) as { received: number; sentSha: string; recvSha: string; error?: string };
      // A stall is rare (once in a CI run of session 5, not reproduced in 30 runs since): the
      // daemon's own account of it is what a reader needs.
      if (r.error) console.error(`client: ${JSON.stringify(r)}\ndaemon log (end):\n${h.stderr().slice(-20000)}`);
      expect(r.error).toBeUndefined();
      expect(r.received).toBe(bytes);
      expect(r.recvSha).toBe(r.sentSha);
    } finally {
      host.exec('nft', ['delete', 'table', 'inet', table]);
    }
  });
});
