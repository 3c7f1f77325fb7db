import fc from 'fast-check';
// The framed Append transport (a unix socket beside the gRPC one): frame splitting, and a real
// LogServer over a memory store reached through LogClient — appends acknowledged, a wrong token
// refused, a malformed request answered with INVALID_ARGUMENT, the stream end told to listeners.
import { connect } from 'node:net';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { LogClient } from '../../../src/log/client.js';
import { FrameReader, framedPath } from '../../../src/log/framed-append.js';
import { LogServer } from '../../../src/log/server.js';
import { LogStore } from '../../../src/log/store.js';
import { silentLogger } from '../../../src/util/logger.js';

const frame = (b: Buffer): Buffer => Buffer.concat([Buffer.from([0, 0, 0, 0].map((_, i) => (b.length >>> (24 - 8 * i)) & 0xff)), b]);

describe('FrameReader', () => {
  it('reassembles frames split anywhere and refuses one over the limit', () => {
    const r = new FrameReader(100);
    const all = Buffer.concat([frame(Buffer.from('abc')), frame(Buffer.alloc(0)), frame(Buffer.from('hello world'))]);
    const got: string[] = [];
    for (let i = 0; i < all.length; i += 3) for (const f of r.push(all.subarray(i, i + 3))) got.push(f.toString());
    expect(got).toEqual(['abc', '', 'hello world']);
    expect(() => new FrameReader(10).push(frame(Buffer.alloc(11)))).toThrow(/over the 10-byte limit/);
  });
  it('gives back the same frames however the stream is cut into reads', () => {
    fc.assert(
      fc.property(fc.array(fc.uint8Array({ maxLength: 5000 }), { maxLength: 8 }), fc.array(fc.integer({ min: 1, max: 7000 }), { minLength: 1, maxLength: 40 }), (payloads, cuts) => {
        const all = Buffer.concat(payloads.map((p) => frame(Buffer.from(p))));
        const r = new FrameReader(10_000);
        const got: string[] = [];
        let at = 0;
        for (let i = 0; at < all.length; i++) {
          const n = cuts[i % cuts.length]!;
          for (const f of r.push(all.subarray(at, at + n))) got.push(Buffer.from(f).toString('hex'));
          at += n;
        }
        expect(got).toEqual(payloads.map((p) => Buffer.from(p).toString('hex')));
      }),
      { numRuns: 300 },
    );
  });
  it('refuses a frame over the limit as soon as its length arrives, before its bytes', () => {
    const r = new FrameReader(1000);
    const big = frame(Buffer.alloc(5000));
    expect(r.push(big.subarray(0, 2))).toEqual([]);
    expect(() => r.push(big.subarray(2, 100))).toThrow(/over the 1000-byte limit/);
  });
});

describe('framed Append transport', () => {
  let dir: string | undefined;
  let server: LogServer | undefined;
  afterEach(async () => {
    await server?.close();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  async function start(token?: string): Promise<string> {
    dir = mkdtempSync(join(tmpdir(), 'ftcp-framed-'));
    const store = await LogStore.open({ durability: 'memory', log: silentLogger() });
    server = new LogServer({ store, log: silentLogger(), ...(token !== undefined ? { token } : {}) });
    const [addr] = await server.listen([{ kind: 'unix', path: join(dir, 'logd.sock') }]);
    expect(existsSync(framedPath(join(dir, 'logd.sock')))).toBe(true);
    return addr!;
  }

  it('carries appends and their acknowledgements; the end of the stream is told', async () => {
    const target = await start('s3cret');
    const ended: string[] = [];
    server!.onAppendStreamEnd((svc, id, how) => ended.push(`${svc}/${id}/${how}`));
    const c = new LogClient({ target, service: 'svc', streamId: 'w1', token: 's3cret', framed: true });
    for (let i = 0; i < 100; i++) c.append({ connId: 'c', kind: { $case: 'clientData', value: { offset: i, data: Buffer.from([i]) } } });
    await c.waitDurable();
    expect(c.durableSeq).toBe(100);
    expect(server!.store.stats('svc').records).toBe(100);
    await c.close(2000);
    for (let i = 0; i < 50 && ended.length === 0; i++) await new Promise((r) => setTimeout(r, 10));
    expect(ended).toEqual(['svc/w1/end']);
  });

  it('refuses a wrong token with UNAUTHENTICATED (the client fails for good)', async () => {
    const target = await start('s3cret');
    const c = new LogClient({ target, service: 'svc', token: 'nope', framed: true });
    const failed = new Promise<Error>((resolve) => c.on('failed', resolve));
    c.append({ connId: 'c', kind: { $case: 'clientFin', value: { offset: 0 } } });
    expect((await failed).message).toMatch(/UNAUTHENTICATED|wrong token/);
    await c.close(100).catch(() => undefined);
  });

  it('answers a malformed request with INVALID_ARGUMENT', async () => {
    const target = await start();
    const sock = connect(framedPath(target.slice(5)));
    const reply = new Promise<Buffer>((resolve) => {
      let b = Buffer.alloc(0);
      sock.on('data', (d: Buffer) => (b = Buffer.concat([b, d])));
      sock.on('close', () => resolve(b));
    });
    sock.write(frame(Buffer.from('{"v":1}')));
    sock.write(frame(Buffer.from([0xff, 0xff, 0xff])));
    const r = await reply;
    expect(r[4]).toBe(2); // an error frame
    expect(JSON.parse(r.subarray(5).toString())).toMatchObject({ code: 3, details: expect.stringMatching(/not a valid ftcp.v1.AppendRequest/) });
  });
});
