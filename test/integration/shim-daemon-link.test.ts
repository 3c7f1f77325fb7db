// The daemon side of the first wrapper with real parts: `ftcp run` with its embedded log server, a
// test app that talks to the log the way the shim does (test/apps/shim_daemon_app.mjs), python
// clients in the test's host namespace. (a) a close the app logged as a CloseIntent reaches the
// client as a FIN and is counted as an honoured intent, other connections survive a SIGKILL after;
// (b) after a checkpoint the restored connection is replayed from the checkpoint's client offset
// and the log no longer holds the client data below it.
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ROOT, killApp, runFtcp, sleep, stopFtcp, waitRestarted, type FtcpRunHandle } from '../helpers/host.js';
import { ProtectedHost } from '../helpers/protected-host.js';
import { LogClient } from '../../src/log/client.js';

const APP = join(ROOT, 'test', 'apps', 'shim_daemon_app.mjs');
const DRIVER = join(ROOT, 'test', 'apps', 'conn_driver.py');
const tag = (process.pid % 10000).toString(36);

let env: ProtectedHost;
const drivers: ChildProcessWithoutNullStreams[] = [];

beforeAll(() => {
  env = ProtectedHost.create('shd');
});

afterAll(async () => {
  for (const d of drivers) d.kill('SIGKILL');
  await env?.cleanup();
});

type Answer = { ok?: boolean; data?: string; eof?: boolean; error?: string };

/** Python connections in the host namespace, driven one command at a time. */
function driver(vip: string): (cmd: { op: string; id: string; data?: string; n?: number }) => Promise<Answer> {
  const child = spawn('ip', ['netns', 'exec', env.host.name, 'python3', DRIVER, vip, '9000'], { stdio: ['pipe', 'pipe', 'pipe'] });
  drivers.push(child);
  const lines = createInterface({ input: child.stdout });
  const waiting: ((a: Answer) => void)[] = [];
  lines.on('line', (l) => waiting.shift()?.(JSON.parse(l) as Answer));
  return (cmd) =>
    new Promise((resolve) => {
      waiting.push(resolve);
      child.stdin.write(`${JSON.stringify(cmd)}\n`);
    });
}

function finalCounters(h: FtcpRunHandle): Record<string, number> {
  const line = h.stderr().split('\n').find((l) => l.includes('"final counters"'));
  expect(line).toBeDefined();
  return (JSON.parse(line!) as { wrapper: Record<string, number> }).wrapper;
}

async function waitFor(file: string, re: RegExp): Promise<RegExpMatchArray> {
  for (let i = 0; i < 600; i++) {
    const m = existsSync(file) ? readFileSync(file, 'utf8').match(re) : null;
    if (m) return m;
    await sleep(50);
  }
  throw new Error(`${file} never matched ${re}: ${existsSync(file) ? readFileSync(file, 'utf8') : '(absent)'}`);
}

interface Snap {
  connections: Array<{ state: string }>;
  counters: { wrapper: Record<string, number> };
}

/** Polls `ftcp status --json` until `ok` holds (bounded by the test timeout, not asserted on time). */
async function untilStatus(name: string, ok: (s: Snap) => boolean): Promise<Snap> {
  for (;;) {
    const r = await runFtcp(undefined, ['status', name, '--json']);
    if (r.code !== 0) throw new Error(`ftcp status ${name}: ${r.code} ${r.stderr}`);
    const s = JSON.parse(r.stdout) as Snap;
    if (ok(s)) return s;
    await sleep(50);
  }
}

/** A line and its echo. */
async function echo(conn: ReturnType<typeof driver>, id: string, line: string): Promise<void> {
  expect(await conn({ op: 'send', id, data: line })).toEqual({ ok: true });
  expect(await conn({ op: 'recv', id, n: line.length })).toEqual({ data: line });
}

const line = (k: number, len: number): string => `${String(k).padStart(6, '0')}${'abcdefghijklmnopqrstuvwxyz'.repeat(Math.ceil(len / 26)).slice(0, len - 7)}\n`;

describe('daemon side of the shim (embedded log)', () => {
  it('a logged close intent: the client sees the FIN, the intent is counted, others survive a SIGKILL', async () => {
    const name = `sc${tag}`;
    const vip = '10.77.61.2';
    const status = join(env.dataDir, `${name}.status`);
    const h = await env.protect(name, vip, [process.execPath, APP, '9000', status]);
    await waitFor(status, /listening/);
    const c = driver(vip);
    for (const id of ['A', 'B']) expect(await c({ op: 'connect', id })).toEqual({ ok: true });
    await echo(c, 'A', line(1, 100));
    await echo(c, 'B', line(2, 100));
    // A: the app logs its intent, waits for durability, then ends: the FIN arrives.
    expect(await c({ op: 'send', id: 'A', data: 'CLOSE\n' })).toEqual({ ok: true });
    expect(await c({ op: 'eof', id: 'A' })).toEqual({ eof: true, data: '' });
    expect(await c({ op: 'close', id: 'A' })).toEqual({ ok: true });
    // The daemon sees A closed on both sides (and reports the honoured intent) before the crash.
    const snap = await untilStatus(name, (s) => s.connections.filter((x) => x.state !== 'CLOSED').length === 1);
    expect(snap.counters.wrapper.closeIntentsHonoured).toBe(1);
    // B lives through a crash of the app.
    const old = killApp(name);
    expect(old.length).toBeGreaterThan(0);
    await waitRestarted(name, old);
    for (let k = 3; k < 8; k++) await echo(c, 'B', line(k, 3000));
    expect(await c({ op: 'close', id: 'B' })).toEqual({ ok: true });
    await stopFtcp(h);
    const counters = finalCounters(h);
    expect(counters.closeIntentsHonoured).toBe(1);
    expect(counters.recoveries).toBe(1);
    expect(counters.recovered).toBe(1);
    expect(counters.divergences).toBe(0);
  });

  it('a checkpoint: the restored connection replays from its client offset, the log drops what is below', async () => {
    const name = `sk${tag}`;
    const vip = '10.77.62.2';
    const status = join(env.dataDir, `${name}.status`);
    const h = await env.protect(name, vip, [process.execPath, APP, '9000', status]);
    await waitFor(status, /listening/);
    const c = driver(vip);
    expect(await c({ op: 'connect', id: 'C' })).toEqual({ ok: true });
    let sent = 0;
    for (let k = 0; k < 5; k++) {
      const l = line(k, 1500 + k * 700);
      await echo(c, 'C', l);
      sent += l.length;
    }
    expect(await c({ op: 'send', id: 'C', data: 'CKPT\n' })).toEqual({ ok: true });
    sent += 5;
    const ck = await waitFor(status, /ckpt (\S+) (\d+)/);
    const tuple = ck[1]!;
    expect(Number(ck[2])).toBe(sent);
    const ckptOffset = sent;
    for (let k = 5; k < 9; k++) {
      const l = line(k, 2000 + k * 300);
      await echo(c, 'C', l);
      sent += l.length;
    }
    // Only the records past the checkpoint are live for this connection.
    const target = `unix:${join(env.dataDir, name, 'logd.sock')}`;
    const reader = new LogClient({ target, service: name, inProcess: false });
    try {
      let below = 0;
      let above = 0;
      for await (const item of reader.read({ skipCheckpoint: true })) {
        if (item.type !== 'record' || !item.record.connId.startsWith(`${tuple}/`)) continue;
        const k = item.record.kind;
        if (k?.$case !== 'clientData') continue;
        if (k.value.offset + k.value.data.length <= ckptOffset) below++;
        else above++;
      }
      expect(below).toBe(0);
      expect(above).toBeGreaterThan(0);
    } finally {
      await reader.close(1000);
    }

    const old = killApp(name);
    expect(old.length).toBeGreaterThan(0);
    await waitRestarted(name, old);
    await waitFor(status, new RegExp(`restored ${tuple.replace(/[.>[\]]/g, '\\$&')} ${ckptOffset}`));
    // The restored state counts from the checkpoint; the replay brought exactly what came after.
    expect(await c({ op: 'send', id: 'C', data: 'COUNT\n' })).toEqual({ ok: true });
    sent += 6;
    const want = `COUNT ${sent}\n`;
    expect(await c({ op: 'recv', id: 'C', n: want.length })).toEqual({ data: want });
    await echo(c, 'C', line(99, 5000));
    expect(await c({ op: 'close', id: 'C' })).toEqual({ ok: true });
    await stopFtcp(h);
    const counters = finalCounters(h);
    expect(counters.restoredFromCheckpoint).toBe(1);
    expect(counters.recovered).toBe(1);
    expect(counters.divergences).toBe(0);
  });
});
