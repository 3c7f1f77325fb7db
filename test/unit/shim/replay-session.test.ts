// The shim's replay end to end without the daemon: an app process is handed chunks over loopback,
// killed, and restarted; the restored connections (same 4-tuples, the daemon's "opened" records
// written by the test) are handed exactly the logged chunks in the logged order across
// connections, with the logged now() values, although the clients resend their bytes in one
// piece; a connection that arrives during the replay waits until it is over.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as net from 'node:net';
import { once } from 'node:events';
import { startEmbeddedLogServer, type EmbeddedLogServer } from '../../../src/log/embedded.js';
import { LogClient } from '../../../src/log/client.js';

const ROOT = join(fileURLToPath(import.meta.url), '..', '..', '..', '..');
const APP = join(ROOT, 'test', 'apps', 'replay-probe.mjs');
const SERVICE = 'replay';
const PORT = 20000 + (process.pid % 20000);
const P1 = PORT + 1;
const P2 = PORT + 2;

let dir: string;
let logd: EmbeddedLogServer;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'ftcp-shim-replay-'));
  logd = await startEmbeddedLogServer({ dataDir: dir, durability: 'fsync' });
});

afterAll(async () => {
  await logd?.close();
  await logd?.store.close();
  rmSync(dir, { recursive: true, force: true });
});

interface App {
  child: ChildProcess;
  lines: string[];
  waitFor(pred: (lines: string[]) => boolean): Promise<void>;
}

function startApp(): App {
  const child = spawn(process.execPath, [APP, String(PORT)], {
    env: { ...process.env, FTCP_LOG_TARGET: logd.target, FTCP_SERVICE: SERVICE, FTCP_SHIM_RESTORE_TIMEOUT_MS: '5000' },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const lines: string[] = [];
  let buf = '';
  const waiters: (() => void)[] = [];
  child.stdout!.on('data', (d: Buffer) => {
    buf += d.toString();
    let nl;
    while ((nl = buf.indexOf('\n')) >= 0) {
      lines.push(buf.slice(0, nl));
      buf = buf.slice(nl + 1);
    }
    for (const w of waiters.splice(0)) w();
  });
  const waitFor = async (pred: (l: string[]) => boolean): Promise<void> => {
    const deadline = Date.now() + 15_000;
    while (!pred(lines)) {
      if (Date.now() > deadline) throw new Error(`app output so far: ${lines.join(' | ')}`);
      await new Promise<void>((r) => {
        waiters.push(r);
        setTimeout(r, 100);
      });
    }
  };
  return { child, lines, waitFor };
}

async function connectFrom(localPort?: number): Promise<net.Socket> {
  const s = net.connect({ port: PORT, host: '127.0.0.1', ...(localPort ? { localPort, localAddress: '127.0.0.1' } : {}) });
  await once(s, 'connect');
  return s;
}

/** Sends `text` and waits for one answer line per expected chunk. */
async function exchange(s: net.Socket, text: string, answers: number): Promise<string> {
  let got = '';
  const done = new Promise<void>((resolve) => {
    const on = (d: Buffer): void => {
      got += d.toString();
      if (got.split('\n').length - 1 >= answers) {
        s.off('data', on);
        resolve();
      }
    };
    s.on('data', on);
  });
  s.write(text);
  await done;
  return got;
}

const events = (lines: string[]): string[] => lines.filter((l) => l.startsWith('accept') || l.startsWith('data'));

describe('shim replay after a restart', () => {
  it('hands the restarted app the logged chunks, order and values; new connections wait', async () => {
    // First life: two connections, four chunks interleaved.
    const a1 = startApp();
    await a1.waitFor((l) => l.includes('listening'));
    const c1 = await connectFrom(P1);
    const c2 = await connectFrom(P2);
    await a1.waitFor((l) => events(l).length >= 2);
    expect(await exchange(c1, 'aaa', 1)).toBe('3\n');
    expect(await exchange(c2, 'bbbbb', 1)).toBe('5\n');
    expect(await exchange(c1, 'cc', 1)).toBe('2\n');
    expect(await exchange(c2, 'd', 1)).toBe('1\n');
    const before = events(a1.lines);
    a1.child.kill('SIGKILL');
    await once(a1.child, 'exit');
    c1.destroy();
    c2.destroy();

    // What the daemon would have logged: both connections are still open.
    const daemon = new LogClient({ target: logd.target, service: SERVICE, inProcess: false });
    for (const p of [P1, P2]) {
      daemon.append({
        connId: `127.0.0.1:${p}>${PORT}/1`,
        kind: { $case: 'opened', value: { client: { addr: Buffer.from([127, 0, 0, 1]), port: p }, server: { addr: Buffer.from([127, 0, 0, 1]), port: PORT }, ipVersion: 4, irs: 1, iss0: 2, options: undefined, clientWindow: 65535 } },
      });
    }
    await daemon.waitDurable();
    await daemon.close();

    // Second life: the clients come back on the same 4-tuples and resend everything in one piece;
    // a third, new client arrives during the replay.
    const a2 = startApp();
    await a2.waitFor((l) => l.includes('listening'));
    const r1 = await connectFrom(P1);
    const r2 = await connectFrom(P2);
    const fresh = await connectFrom();
    fresh.write('zz');
    r2.write('bbbbbd');
    r1.write('aaacc');
    await a2.waitFor((l) => events(l).length >= before.length + 2);
    const after = events(a2.lines);
    expect(after.slice(0, before.length)).toEqual(before);
    expect(after.slice(before.length)[0]).toBe(`accept ${fresh.localPort}`);
    expect(after.slice(before.length)[1]).toMatch(new RegExp(`^data ${fresh.localPort} 2 `));
    a2.child.kill('SIGKILL');
    for (const s of [r1, r2, fresh]) s.destroy();
  }, 40_000);
});
