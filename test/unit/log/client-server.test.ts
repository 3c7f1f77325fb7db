import * as grpc from '@grpc/grpc-js';
import { afterEach, describe, expect, it } from 'vitest';
import { LogClient, type ReadItem } from '../../../src/log/client.js';
import { startEmbeddedLogServer, type EmbeddedLogServer } from '../../../src/log/embedded.js';
import { closedRecord, dataRecord, openedRecord, payload, tempDir } from './helpers.js';

const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  while (cleanups.length) await cleanups.pop()!();
});

async function server(durability: 'fsync' | 'memory' = 'fsync', dir?: string): Promise<{ srv: EmbeddedLogServer; dir: string }> {
  let d = dir;
  if (!d) {
    const t = tempDir();
    cleanups.push(t.cleanup);
    d = t.dir;
  }
  const srv = await startEmbeddedLogServer({ dataDir: d, durability });
  cleanups.push(() => srv.close());
  return { srv, dir: d };
}

function client(target: string, extra: Partial<ConstructorParameters<typeof LogClient>[0]> = {}): LogClient {
  const c = new LogClient({ target, service: 'svc', ...extra });
  cleanups.push(() => c.close(1000));
  return c;
}

async function collect(it: AsyncIterable<ReadItem>): Promise<ReadItem[]> {
  const out: ReadItem[] = [];
  for await (const x of it) out.push(x);
  return out;
}

describe('LogClient + LogServer', () => {
  for (const [durability, inProcess] of [['fsync', false], ['memory', false], ['fsync', true], ['memory', true]] as const) {
    it(`appends, acknowledges and reads back records (${durability}, ${inProcess ? 'in-process' : 'gRPC'})`, async () => {
      const { srv } = await server(durability);
      const c = client(srv.target, { inProcess });
      expect(c.inProcessTarget).toBe(inProcess);
      const durableEvents: number[] = [];
      c.on('durable', (d: number) => durableEvents.push(d));
      expect(c.append(openedRecord('c1'))).toBe(1);
      let off = 0;
      for (let i = 0; i < 500; i++) {
        const p = payload(i, 1 + (i % 300));
        c.append(dataRecord('c1', off, p));
        off += p.length;
      }
      await c.waitDurable();
      expect(c.durableSeq).toBe(501);
      expect(durableEvents.at(-1)).toBe(501);
      const items = await collect(c.read({ connId: 'c1' }));
      expect(items.length).toBe(501);
      let pos = 0;
      items.slice(1).forEach((it, i) => {
        if (it.type !== 'record' || it.record.kind?.$case !== 'clientData') throw new Error('bad item');
        expect(it.record.kind.value.offset).toBe(pos);
        expect(Buffer.compare(it.record.kind.value.data, payload(i, 1 + (i % 300)))).toBe(0);
        pos += it.record.kind.value.data.length;
      });
      const st = await c.stats('svc');
      expect(st.records).toBe(501);
      expect(st.connections).toBe(1);
    });
  }

  it('keeps records across a server restart and rebuilds the index', async () => {
    const { srv, dir } = await server();
    const c = client(srv.target);
    c.append(openedRecord('a'));
    c.append(dataRecord('a', 0, Buffer.from('hello')));
    c.append(openedRecord('b'));
    c.append(dataRecord('b', 0, Buffer.from('world')));
    c.append(closedRecord('b'));
    await c.waitDurable();
    await c.close();
    await srv.close();
    const { srv: srv2 } = await server('fsync', dir);
    const c2 = client(srv2.target);
    const all = await collect(c2.read());
    // b is closed: its records are dead.
    expect(all.map((x) => (x.type === 'record' ? x.record.connId : 'ckpt'))).toEqual(['a', 'a']);
  });

  it('checkpoint drops records below the positions and Read starts from it', async () => {
    const { srv } = await server();
    const c = client(srv.target);
    c.append(openedRecord('a'));
    for (let i = 0; i < 10; i++) c.append(dataRecord('a', i * 10, payload(i, 10)));
    c.append({ connId: '', kind: { $case: 'nondeterministic', value: { name: 'time', value: Buffer.from('1'), globalOrder: 1 } } });
    const r = await c.checkpoint(Buffer.from('STATE'), [{ connId: 'a', clientOffset: 55, serverOffset: 0 }]);
    expect(r.lsn).toBe(12);
    c.append(dataRecord('a', 100, payload(10, 10)));
    await c.waitDurable();
    const items = await collect(c.read());
    expect(items[0]!.type).toBe('checkpoint');
    if (items[0]!.type === 'checkpoint') expect(Buffer.from(items[0]!.checkpoint.state).toString()).toBe('STATE');
    const offs = items.slice(1).map((x) => (x.type === 'record' && x.record.kind?.$case === 'clientData' ? x.record.kind.value.offset : -1));
    // opened (-1), data from the record covering 55 on, the new record.
    expect(offs).toEqual([-1, 50, 60, 70, 80, 90, 100]);
    const fromOff = await collect(c.read({ connId: 'a', fromOffset: 80, skipCheckpoint: true }));
    expect(fromOff.length).toBe(1 + 3); // opened + records ending above 80
  });

  for (const inProcess of [false, true]) {
  it(`a stale epoch is fenced with FAILED_PRECONDITION (${inProcess ? 'in-process' : 'gRPC'})`, async () => {
    const { srv } = await server('memory');
    const c2 = client(srv.target, { epoch: 2, inProcess });
    c2.append(openedRecord('x'));
    await c2.waitDurable();
    const c1 = client(srv.target, { epoch: 1, inProcess });
    c1.append(openedRecord('y'));
    const err = await c1.waitDurable().then(() => undefined, (e: unknown) => e as { code: number; details: string });
    expect(err?.code).toBe(9);
    expect(err?.details).toMatch(/epoch 1 is older/);
    expect(c1.failed).toBeDefined();
  });
  }

  it('append throws INVALID_ARGUMENT for a malformed record and queues nothing', async () => {
    const { srv } = await server('memory');
    const c = client(srv.target);
    expect(() => c.append({ connId: '', kind: { $case: 'clientFin', value: { offset: 1 } } })).toThrow(/needs a conn_id/);
    expect(c.lastSeq).toBe(0);
    // A malformed pre-encoded record fails the writer with INVALID_ARGUMENT, in-process too.
    c.appendEncoded(Buffer.from([0x0a, 0x05, 0x41]));
    const err = await c.waitDurable().then(() => undefined, (e: unknown) => e as { code: number; details: string });
    expect(err?.code).toBe(3);
    expect(err?.details).toMatch(/not a valid ftcp.v1.Record/);
  });

  it('signals backpressure: writable turns false above the high-water mark, drain at half', async () => {
    const { srv } = await server('memory');
    const c = client(srv.target, { inProcess: false, highWaterBytes: 64 * 1024 });
    let drains = 0;
    c.on('drain', () => drains++);
    for (let i = 0; i < 100; i++) c.append(dataRecord('c', i * 1000, payload(i, 1000)));
    expect(c.writable).toBe(false); // appends are still accepted, never blocked
    expect(c.lastSeq).toBe(100);
    await new Promise<void>((resolve) => c.once('drain', () => resolve()));
    await c.waitDurable();
    expect(c.writable).toBe(true);
    expect(drains).toBe(1);
    expect(c.unacknowledgedBytes).toBe(0);
  });

  it('serves grpc.health.v1 Check', async () => {
    const { srv } = await server('memory');
    const { HealthService } = await import('../../../src/log/gen/grpc/health/v1/health.js');
    const Ctor = grpc.makeGenericClientConstructor(HealthService, 'Health');
    const h = new Ctor(srv.target, grpc.credentials.createInsecure()) as unknown as {
      check(req: { service: string }, cb: (e: grpc.ServiceError | null, r?: { status: number }) => void): void;
      close(): void;
    };
    const check = (service: string) =>
      new Promise<{ status?: number; code?: number }>((resolve) => h.check({ service }, (e, r) => resolve(e ? { code: e.code } : { status: r!.status })));
    expect(await check('')).toEqual({ status: 1 });
    expect(await check('ftcp.v1.Log')).toEqual({ status: 1 });
    expect(await check('nope')).toEqual({ code: grpc.status.NOT_FOUND });
    h.close();
  });
});
