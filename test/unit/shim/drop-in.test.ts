// The shim is a drop-in for node:net's createServer: the same scenarios run against node:net and
// against ftcp/shim (logging to a real log server over gRPC, as under `ftcp run`) and must be
// observed identically by the app and by its clients (loopback only).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import * as net from 'node:net';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { once } from 'node:events';
import { startEmbeddedLogServer, type EmbeddedLogServer } from '../../../src/log/embedded.js';
import * as shim from '../../../src/shim/index.js';

type Impl = { createServer: typeof net.createServer };
const NET: Impl = net;
const SHIM: Impl = shim as unknown as Impl;

let dir: string;
let logd: EmbeddedLogServer;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'ftcp-shim-dropin-'));
  logd = await startEmbeddedLogServer({ dataDir: dir, durability: 'fsync' });
  process.env.FTCP_LOG_TARGET = logd.target;
  process.env.FTCP_SERVICE = 'dropin';
  expect(shim.isProtected()).toBe(true);
});

afterAll(async () => {
  delete process.env.FTCP_LOG_TARGET;
  delete process.env.FTCP_SERVICE;
  await logd?.close();
  await logd?.store.close();
  rmSync(dir, { recursive: true, force: true });
});

async function listen(server: net.Server): Promise<number> {
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return (server.address() as net.AddressInfo).port;
}

async function readAll(sock: net.Socket): Promise<Buffer> {
  const parts: Buffer[] = [];
  for await (const c of sock) parts.push(c as Buffer);
  return Buffer.concat(parts);
}

/** Runs `body` against both implementations and returns both transcripts. */
async function both<T>(body: (impl: Impl) => Promise<T>): Promise<[T, T]> {
  return [await body(NET), await body(SHIM)];
}

describe('ftcp/shim as a drop-in for node:net', () => {
  it('echo: same bytes back, same address() shape, setEncoding, end callbacks', async () => {
    const [a, b] = await both(async (impl) => {
      const events: string[] = [];
      const server = impl.createServer((s) => {
        s.setNoDelay(true);
        s.setKeepAlive(true, 1000);
        s.setEncoding('utf8');
        s.on('data', (d) => {
          events.push(`data:${typeof d}`);
          s.write(String(d).toUpperCase());
        });
        s.on('end', () => {
          events.push('end');
          s.end('!', () => events.push('end-cb'));
        });
        s.on('close', (hadError) => events.push(`close:${hadError}`));
      });
      const port = await listen(server);
      const addr = server.address() as net.AddressInfo;
      const c = net.connect(port, '127.0.0.1');
      await once(c, 'connect');
      c.end('hello');
      const got = (await readAll(c)).toString();
      await once(server.close(), 'close');
      return { got, family: addr.family, address: addr.address, events: [...new Set(events)].sort() };
    });
    expect(b).toEqual(a);
    expect(a.got).toBe('HELLO!');
  });

  it('half-open: the app writes after the client ended (allowHalfOpen)', async () => {
    const [a, b] = await both(async (impl) => {
      const server = impl.createServer({ allowHalfOpen: true }, (s) => {
        let n = 0;
        s.on('data', (d) => (n += d.length));
        s.on('end', () => {
          setTimeout(() => s.end(`got ${n}`), 20);
        });
      });
      const port = await listen(server);
      const c = net.connect({ port, host: '127.0.0.1', allowHalfOpen: true });
      await once(c, 'connect');
      c.end(Buffer.alloc(5000, 1));
      const got = (await readAll(c)).toString();
      server.close();
      return got;
    });
    expect(b).toBe(a);
    expect(a).toBe('got 5000');
  });

  it('pause/resume and backpressure: write() returns false, drain comes, every byte in order', async () => {
    const [a, b] = await both(async (impl) => {
      let sawFalse = false;
      let drains = 0;
      const total = 8 * 1024 * 1024;
      const server = impl.createServer((s) => {
        s.pause();
        setTimeout(() => s.resume(), 30);
        s.once('data', () => {
          let sent = 0;
          const pump = (): void => {
            while (sent < total) {
              const chunk = Buffer.alloc(65536, (sent / 65536) & 0xff);
              sent += chunk.length;
              if (!s.write(chunk)) {
                sawFalse = true;
                s.once('drain', () => {
                  drains++;
                  pump();
                });
                return;
              }
            }
            s.end();
          };
          pump();
        });
      });
      const port = await listen(server);
      const c = net.connect(port, '127.0.0.1');
      await once(c, 'connect');
      c.write('go');
      c.pause();
      await new Promise((r) => setTimeout(r, 100)); // let the server fill its buffers
      c.resume();
      const got = await readAll(c);
      server.close();
      let ordered = got.length === total;
      for (let k = 0; ordered && k < total; k += 65536) ordered = got[k] === ((k / 65536) & 0xff);
      return { length: got.length, ordered, sawFalse, drained: drains > 0 };
    });
    expect(b).toEqual(a);
    expect(a).toEqual({ length: 8 * 1024 * 1024, ordered: true, sawFalse: true, drained: true });
  });

  it('errors: EADDRINUSE the same way; destroy() closes the client; async iteration works', async () => {
    const [a, b] = await both(async (impl) => {
      const first = net.createServer();
      const port = await listen(first);
      const dup = impl.createServer();
      dup.listen(port, '127.0.0.1');
      const [err] = (await once(dup, 'error')) as [NodeJS.ErrnoException];
      first.close();
      const server = impl.createServer(async (s) => {
        try {
          for await (const chunk of s) {
            if (String(chunk).includes('bye')) s.destroy();
          }
        } catch {
          /* the iterator ends with ERR_STREAM_PREMATURE_CLOSE after destroy(), in node:net too */
        }
      });
      const p2 = await listen(server);
      const c = net.connect(p2, '127.0.0.1');
      await once(c, 'connect');
      c.write('hi bye');
      const [hadError] = (await once(c, 'close')) as [boolean];
      server.close();
      return { code: err.code, syscall: err.syscall, hadError };
    });
    expect(b).toEqual(a);
    expect(a.code).toBe('EADDRINUSE');
  });

  it('Server class, connection event listeners, getConnections and the rest of node:net are exported', async () => {
    const server = new shim.Server();
    expect(server).toBeInstanceOf(net.Server);
    let accepted = 0;
    let serverSide: Promise<unknown> = Promise.resolve();
    server.on('connection', (s: net.Socket) => {
      accepted++;
      serverSide = once(s, 'close');
      expect(s).toBeInstanceOf(net.Socket);
      expect(shim.connectionId(s)).toMatch(/^127\.0\.0\.1:\d+>\d+#\d+$/);
      s.end();
    });
    const port = await listen(server);
    const c = shim.connect(port, '127.0.0.1');
    await once(c, 'close');
    await serverSide;
    const n = await new Promise<number>((r) => server.getConnections((_e, k) => r(k)));
    server.close();
    expect(accepted).toBe(1);
    expect(n).toBe(0);
    expect(shim.isIP('10.0.0.1')).toBe(4);
    expect(shim.default.createServer).toBe(shim.createServer);
  });

  it('logs nondeterministic values; a closed connection leaves nothing live in the log', async () => {
    const t = shim.now();
    const r = shim.random();
    expect(Math.abs(t - Date.now())).toBeLessThan(60_000);
    expect(r).toBeGreaterThanOrEqual(0);
    const server = shim.createServer((s) => {
      s.on('data', (d) => s.write(d));
      s.on('end', () => s.end());
    });
    const port = await listen(server);
    const c = net.connect(port, '127.0.0.1');
    await once(c, 'connect');
    c.end('abc');
    await readAll(c);
    server.close();
    await new Promise((res) => setTimeout(res, 100));
    const { LogClient } = await import('../../../src/log/client.js');
    const reader = new LogClient({ target: logd.target, service: 'dropin' });
    const kinds = new Set<string>();
    for await (const it of reader.read({ skipCheckpoint: true })) if (it.type === 'record') kinds.add(it.record.kind!.$case);
    await reader.close();
    // Closed connections are dropped from the log at once; the values and this run's last conn stay.
    expect(kinds.has('nondeterministic')).toBe(true);
    expect(kinds.has('shimChunks')).toBe(false);
  });
});
