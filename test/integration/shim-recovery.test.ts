// Issue 5: apps on the shim (ftcp/shim) behind `ftcp run`, SIGKILLed while real clients (python
// sockets in the test's host namespace) talk to them. Shared state across connections, global
// order, graceful close vs crash, checkpoints and a non-deterministic app.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { join } from 'node:path';
import { LogClient } from '../../src/log/client.js';
import { ROOT, killApp, sleep, spawnCollect, stopFtcp, waitRestarted } from '../helpers/host.js';
import { ProtectedHost } from '../helpers/protected-host.js';

const EX = join(ROOT, 'examples');
const APPS = join(ROOT, 'test', 'apps');
const tag = (process.pid % 10000).toString(36);

let env: ProtectedHost;

beforeAll(() => {
  env = ProtectedHost.create('shim');
});

afterAll(async () => {
  await env?.cleanup();
});

/** Kills the app every `everyMs` (± jitter) until `untilMs` from now; returns the number of kills. */
async function killLoop(name: string, everyMs: number, untilMs: number, done: Promise<unknown>): Promise<number> {
  const end = Date.now() + untilMs;
  let finished = false;
  void done.then(() => (finished = true));
  let kills = 0;
  for (;;) {
    await sleep(everyMs * (0.6 + Math.random() * 0.8));
    if (finished || Date.now() > end) return kills;
    const old = killApp(name);
    expect(old.length).toBeGreaterThan(0);
    kills++;
    await waitRestarted(name, old);
  }
}

function stderrTail(s: string): string {
  return s
    .split('\n')
    .filter((l) => !l.includes('"level":30'))
    .join('\n')
    .slice(-5000);
}

describe('key-value server on the shim', () => {
  it('50 clients doing INCR/GET, server SIGKILLed every few seconds for a minute: every answer right, no reset', async () => {
    const name = `kv${tag}`;
    const vip = '10.77.40.2';
    // A checkpoint every second keeps each restart's replay short.
    const h = await env.protect(name, vip, ['node', join(EX, 'kv-server.mjs'), '9000', '1000']);
    const client = spawnCollect(env.host, 'python3', [join(APPS, 'kv_client.py'), vip, '9000', '50', '60', '30'], 150_000);
    const kills = await killLoop(name, 4000, 56_000, client);
    const out = await client;
    await stopFtcp(h);
    if (out.code !== 0) console.error(out.stdout, out.stderr, stderrTail(h.stderr()));
    const r = JSON.parse(out.stdout) as { answers: number; rounds: number; errors: string[] };
    expect(r.errors).toEqual([]);
    expect(out.code).toBe(0);
    expect(kills).toBeGreaterThanOrEqual(8);
    expect(r.rounds).toBeGreaterThan(50 * 10);
    expect(h.stderr()).not.toMatch(/divergence:/);
    expect(h.stderr().match(/app crash detected/g)?.length ?? 0).toBeGreaterThanOrEqual(kills);
  }, 150_000);
});

describe('chat server on the shim', () => {
  it('every client sees the same message order through three crashes, after another client left', async () => {
    const name = `ch${tag}`;
    const vip = '10.77.41.2';
    const h = await env.protect(name, vip, ['node', join(EX, 'chat-server.mjs'), '9000']);
    // A client that joins, talks and leaves first: what it changed (the join counter) comes back
    // after a crash only through the checkpoint the server takes when it leaves.
    const leaver = await spawnCollect(
      env.host,
      'python3',
      ['-c', `import socket\ns = socket.create_connection(('${vip}', 9000), timeout=10)\nassert s.recv(100) == b'* you are user1\\n'\ns.sendall(b'hi\\n')\nassert s.recv(100) == b'user1: hi\\n'\ns.close()`],
      20_000,
    );
    expect(leaver.code, leaver.stderr).toBe(0);
    const client = spawnCollect(env.host, 'python3', [join(APPS, 'chat_client.py'), vip, '9000', '6', '40', '0.04', '90'], 120_000);
    await sleep(1500);
    for (let k = 0; k < 3; k++) {
      const old = killApp(name);
      await waitRestarted(name, old);
      await sleep(1500 + Math.random() * 1000);
    }
    const out = await client;
    await stopFtcp(h);
    if (out.code !== 0) console.error(out.stdout, out.stderr, stderrTail(h.stderr()));
    const r = JSON.parse(out.stdout) as { errors: string[]; lines: number[] };
    expect(r.errors).toEqual([]);
    expect(r.lines).toEqual(Array(6).fill(240));
  }, 120_000);
});

describe('graceful close by the app vs a crash', () => {
  it('the client the app closes gets BYE then FIN (the close intent lets it through); the others survive a kill -9', async () => {
    const name = `gc${tag}`;
    const vip = '10.77.42.2';
    const h = await env.protect(name, vip, ['node', join(EX, 'kv-server.mjs'), '9000']);
    const script = `
import json, socket, sys, time
a = socket.create_connection(('${vip}', 9000), timeout=10)
others = [socket.create_connection(('${vip}', 9000), timeout=10) for _ in range(3)]
for i, o in enumerate(others):
    o.sendall(f'INCR k{i}\\n'.encode()); assert o.recv(100) == b'1\\n'
a.sendall(b'QUIT\\n')
got = b''
while True:
    d = a.recv(100)
    if not d: break
    got += d
print(json.dumps({'got': got.decode()}), flush=True)
time.sleep(3)  # the test kills the app meanwhile
res = []
for i, o in enumerate(others):
    o.sendall(f'INCR k{i}\\nGET k{i}\\n'.encode())
    buf = b''
    while buf.count(b'\\n') < 2:
        d = o.recv(100)
        if not d: break
        buf += d
    res.append(buf.decode())
print(json.dumps({'others': res}), flush=True)
`;
    const child = env.host.spawn('python3', ['-c', script]);
    let out = '';
    let err = '';
    child.stderr!.on('data', (d: Buffer) => (err += d.toString()));
    const firstLine = new Promise<void>((resolve) => {
      child.stdout!.on('data', (d: Buffer) => {
        out += d.toString();
        if (out.includes('\n')) resolve();
      });
    });
    const exited = new Promise<number | null>((resolve) => child.once('exit', (c) => resolve(c)));
    const guard = setTimeout(() => child.kill('SIGKILL'), 60_000);
    await firstLine;
    const crashesBefore = h.stderr().match(/app crash detected/g)?.length ?? 0;
    const old = killApp(name);
    await waitRestarted(name, old);
    const code = await exited;
    clearTimeout(guard);
    await stopFtcp(h);
    if (code !== 0) console.error(out, err, stderrTail(h.stderr()));
    const [first, second] = out.trim().split('\n').map((l) => JSON.parse(l) as { got?: string; others?: string[] });
    expect(first!.got).toBe('BYE\n');
    expect(crashesBefore).toBe(0); // the FIN was not taken for a crash
    expect(second!.others).toEqual(['2\n2\n', '2\n2\n', '2\n2\n']);
    expect(code).toBe(0);
    const honoured = /"closeIntentsHonoured":(\d+)/.exec(h.stderr());
    expect(Number(honoured?.[1] ?? 0)).toBeGreaterThanOrEqual(1);
  });
});

describe('checkpoints', () => {
  it('bound the log on a long run, and a restart replays only what came after the last one', async () => {
    const name = `cp${tag}`;
    const vip = '10.77.43.2';
    const h = await env.protect(name, vip, ['node', join(EX, 'kv-server.mjs'), '9000', '300']);
    const client = spawnCollect(env.host, 'python3', [join(APPS, 'kv_client.py'), vip, '9000', '10', '24', '30'], 90_000);
    const stats = new LogClient({ target: `unix:${join(env.dataDir, name, 'logd.sock')}`, service: name });
    const live: number[] = [];
    let appended = 0;
    try {
      for (let k = 0; k < 10; k++) {
        await sleep(2000);
        const s = await stats.stats(name);
        live.push(s.records);
        appended = s.appendedRecords;
        if (k === 6) {
          const old = killApp(name);
          await waitRestarted(name, old);
        }
      }
    } finally {
      await stats.close();
    }
    const out = await client;
    await stopFtcp(h);
    if (out.code !== 0) console.error(out.stdout, out.stderr, stderrTail(h.stderr()));
    expect(JSON.parse(out.stdout).errors).toEqual([]);
    // Live records stay about one checkpoint interval's worth while the total keeps growing.
    expect(appended).toBeGreaterThan(20_000);
    expect(Math.max(...live)).toBeLessThan(appended / 8);
    expect(live.at(-1)!).toBeLessThan(appended / 8);
    expect(h.stdout() + h.stderr()).toMatch(/kv-server: restored \d+ keys from a checkpoint/);
  }, 90_000);
});

describe('an app that is not deterministic', () => {
  it('bypassing now(): the replay differs, the connection is reset cleanly and counted; through now() it survives', async () => {
    for (const mode of ['shim', 'bypass'] as const) {
      const name = `nd${mode[0]}${tag}`;
      const vip = mode === 'shim' ? '10.77.44.2' : '10.77.45.2';
      const h = await env.protect(name, vip, ['node', join(APPS, 'clock-server.mjs'), '9000', mode]);
      const client = spawnCollect(env.host, 'python3', [join(APPS, 'clock_client.py'), vip, '9000', '6', '0.01'], 60_000);
      await sleep(2000);
      const old = killApp(name);
      await waitRestarted(name, old);
      const out = await client;
      await stopFtcp(h);
      const r = JSON.parse(out.stdout) as { answers: number; error: string | null };
      if (mode === 'shim') {
        if (r.error) console.error(out.stdout, stderrTail(h.stderr()));
        expect(r.error).toBeNull();
        expect(h.stderr()).not.toMatch(/divergence:/);
      } else {
        expect(r.error).toMatch(/ConnectionResetError|EOF/);
        expect(h.stderr()).toMatch(/divergence:/);
        expect(Number(/"divergences":(\d+)/.exec(h.stderr())?.[1] ?? 0)).toBe(1);
      }
    }
  }, 120_000);
});
