// One client interface, two implementations, one shared suite (issue 8): the same LogClient +
// gRPC LogServer tests against the embedded store (memory and fsync) and the replicated store
// (the embedded store with every commit on a real 3-node JetStream cluster on loopback, R3).
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { LogClient, type ReadItem } from '../../src/log/client.js';
import { startEmbeddedLogServer, type EmbeddedLogServer } from '../../src/log/embedded.js';
import { openReplicatedStore } from '../../src/log/replica/index.js';
import type { Replica } from '../../src/log/replica/replicated-backend.js';
import { silentLogger } from '../../src/util/logger.js';
import { NATS_SERVER, NatsCluster } from '../helpers/nats-cluster.js';
import { closedRecord, dataRecord, openedRecord, payload, tempDir } from '../unit/log/helpers.js';

const log = silentLogger();
let cluster: NatsCluster | undefined;
let serviceN = 0;

beforeAll(async () => {
  if (NATS_SERVER !== undefined) cluster = await NatsCluster.start({ nodes: 3 });
});
afterAll(async () => {
  await cluster?.stop();
});

interface Opened {
  srv: EmbeddedLogServer;
  service: string;
  replica?: Replica;
  /** The same log opened again (a restart, on this host or another); undefined if the backend loses it. */
  reopen?: () => Promise<Opened>;
}

interface Backend {
  name: string;
  open(segmentBytes?: number): Promise<Opened>;
  /** Messages left in the replicated stream (replicated only). */
  streamMessages?: (service: string) => Promise<{ first: number; messages: number }>;
}

const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  while (cleanups.length) await cleanups.pop()!();
});

async function serve(store: EmbeddedLogServer['store'] | undefined, dataDir: string | undefined, extra: { durability?: 'fsync' | 'memory'; segmentBytes?: number }): Promise<EmbeddedLogServer> {
  const srv = await startEmbeddedLogServer({
    ...(store ? { store, listen: [`unix:${tempDirFor()}/logd.sock`] } : { dataDir: dataDir!, ...extra }),
    log,
  });
  cleanups.push(() => srv.close());
  return srv;
}

function tempDirFor(): string {
  const t = tempDir('ftcpt-logb-');
  cleanups.push(t.cleanup);
  return t.dir;
}

function embedded(durability: 'fsync' | 'memory'): Backend {
  return {
    name: `embedded ${durability}`,
    async open(segmentBytes) {
      const dir = tempDirFor();
      const service = `s${++serviceN}`;
      const mk = async (): Promise<Opened> => {
        const srv = await serve(undefined, dir, { durability, ...(segmentBytes ? { segmentBytes } : {}) });
        return { srv, service, ...(durability === 'fsync' ? { reopen: async () => { await srv.close(); return mk(); } } : {}) };
      };
      return mk();
    },
  };
}

const replicated = (local: 'memory' | 'fsync'): Backend => ({
  name: `replicated (JetStream R3, local ${local})`,
  async open(segmentBytes) {
    const service = `p${process.pid}x${++serviceN}`;
    const dataDir = local === 'fsync' ? tempDirFor() : undefined;
    const mk = async (epoch: number): Promise<Opened> => {
      const { store, replica } = await openReplicatedStore({ servers: cluster!.urls, service, epoch, log, ...(segmentBytes ? { segmentBytes } : {}), ...(dataDir ? { dataDir } : {}) });
      cleanups.push(() => replica.close());
      const srv = await serve(store, undefined, {});
      // A restart (here or on another host) is a new primary: it catches up from the stream.
      return { srv, service, replica, reopen: async () => { await srv.close(); return mk(epoch + 1); } };
    };
    return mk(1);
  },
  async streamMessages(service) {
    const { connect } = await import('@nats-io/transport-node');
    const { jetstreamManager } = await import('@nats-io/jetstream');
    const nc = await connect({ servers: cluster!.urls });
    try {
      const st = (await (await jetstreamManager(nc)).streams.info(`FTCP_${service}`)).state;
      return { first: st.first_seq, messages: st.messages };
    } finally {
      await nc.close();
    }
  },
});

const backends: Backend[] = [embedded('memory'), embedded('fsync'), ...(NATS_SERVER !== undefined ? [replicated('memory'), replicated('fsync')] : [])];

function client(o: Opened, extra: Partial<ConstructorParameters<typeof LogClient>[0]> = {}): LogClient {
  // Over gRPC (not the in-process shortcut), epoch 1 (a replicated primary's first epoch is 1).
  const c = new LogClient({ target: o.srv.target, service: o.service, epoch: 1, inProcess: false, ...extra });
  cleanups.push(() => c.close(1000));
  return c;
}

async function collect(it: AsyncIterable<ReadItem>): Promise<ReadItem[]> {
  const out: ReadItem[] = [];
  for await (const x of it) out.push(x);
  return out;
}

function offsets(items: ReadItem[]): number[] {
  return items.map((x) => (x.type === 'record' && x.record.kind?.$case === 'clientData' ? x.record.kind.value.offset : -1));
}

describe.each(backends)('log backend: $name', (b) => {
  it('appends, acknowledges and reads back: all, one connection, kinds, fromOffset', async () => {
    const o = await b.open();
    const c = client(o);
    c.append(openedRecord('c1'));
    c.append(openedRecord('c2'));
    let off = 0;
    for (let i = 0; i < 300; i++) {
      const p = payload(i, 1 + (i % 200));
      c.append(dataRecord(i % 3 === 0 ? 'c2' : 'c1', i % 3 === 0 ? i : off, p));
      if (i % 3 !== 0) off += p.length;
      if (i % 50 === 0) await c.waitDurable(); // several commits
    }
    c.append(closedRecord('c2'));
    await c.waitDurable();
    expect(c.durableSeq).toBe(303);
    const all = await collect(c.read());
    expect(all.length).toBe(200 + 1); // c2 is closed: its records are dead
    expect(all.every((x) => x.type === 'record' && x.record.connId === 'c1')).toBe(true);
    expect(all.map((x) => (x.type === 'record' ? x.seq : 0))).toEqual([...all.map((x) => (x.type === 'record' ? x.seq : 0))].sort((p, q) => p - q));
    const one = await collect(c.read({ connId: 'c1' }));
    expect(one.length).toBe(201);
    let pos = 0;
    let i = 0;
    for (const it of one.slice(1)) {
      while (i % 3 === 0) i++;
      if (it.type !== 'record' || it.record.kind?.$case !== 'clientData') throw new Error('bad item');
      expect(it.record.kind.value.offset).toBe(pos);
      expect(Buffer.compare(it.record.kind.value.data, payload(i, 1 + (i % 200)))).toBe(0);
      pos += it.record.kind.value.data.length;
      i++;
    }
    const opened = await collect(c.read({ connId: 'c1', kinds: [10] }));
    expect(opened.map((x) => (x.type === 'record' ? x.record.kind?.$case : ''))).toEqual(['opened']);
    const from = await collect(c.read({ connId: 'c1', fromOffset: pos - 10 }));
    expect(offsets(from).filter((x) => x >= 0).length).toBeGreaterThanOrEqual(1);
    expect(offsets(from).filter((x) => x >= 0).every((x) => x >= pos - 10 - 200)).toBe(true);
    const st = await c.stats(o.service);
    expect(st.records).toBe(201);
    expect(st.connections).toBe(1);
  });

  it('checkpoint: Read starts with it and skips records below the positions', async () => {
    const o = await b.open();
    const c = client(o);
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
    expect(offsets(items.slice(1))).toEqual([-1, 50, 60, 70, 80, 90, 100]);
    const fromOff = await collect(c.read({ connId: 'a', fromOffset: 80, skipCheckpoint: true }));
    expect(fromOff.length).toBe(1 + 3);
  });

  it('truncation: segments below a checkpoint are reclaimed (and purged from the stream)', async () => {
    const o = await b.open(64 * 1024);
    const c = client(o);
    c.append(openedRecord('t'));
    for (let i = 0; i < 40; i++) {
      c.append(dataRecord('t', i * 8000, payload(i, 8000)));
      await c.waitDurable(); // one commit each: 320 KB over 64 KiB segments
    }
    // As the daemon does after each checkpoint: log the connection again, so the first opened
    // record does not pin the first segment.
    c.append(openedRecord('t'));
    await c.waitDurable();
    const before = await c.stats(o.service);
    const streamBefore = await b.streamMessages?.(o.service);
    const r = await c.checkpoint(Buffer.from('S'), [{ connId: 't', clientOffset: 36 * 8000, serverOffset: 0 }]);
    expect(r.reclaimedSegments).toBeGreaterThan(0);
    const after = await c.stats(o.service);
    expect(after.segments).toBeLessThan(before.segments);
    const rest = await collect(c.read({ connId: 't', skipCheckpoint: true }));
    expect(offsets(rest)).toEqual([36 * 8000, 37 * 8000, 38 * 8000, 39 * 8000, -1]);
    if (b.streamMessages && streamBefore) {
      // The purge runs after the reclaim, asynchronously: wait for it (bounded).
      let now = await b.streamMessages(o.service);
      for (let i = 0; i < 50 && now.messages === streamBefore.messages; i++) {
        await new Promise((res) => setTimeout(res, 100));
        now = await b.streamMessages(o.service);
      }
      // The epoch marker (message 1) stays; the record batches of reclaimed segments are gone.
      expect(now.messages).toBeLessThan(streamBefore.messages - 20);
    }
    if (o.reopen) {
      // What a restart (or another host) reads back is exactly what was left.
      const o2 = await o.reopen();
      const c2 = client(o2, { epoch: 2 });
      const again = await collect(c2.read({ connId: 't', skipCheckpoint: true }));
      expect(offsets(again)).toEqual(offsets(rest));
      const ck = await collect(c2.read({ connId: 't' }));
      expect(ck[0]!.type).toBe('checkpoint');
    }
  });

  it('a resend from the same writer stream is deduplicated, also after a restart', async () => {
    const o = await b.open();
    const c = client(o, { streamId: 'writer-1' });
    c.append(openedRecord('d'));
    for (let i = 0; i < 20; i++) c.append(dataRecord('d', i * 5, payload(i, 5)));
    await c.waitDurable();
    await c.close();
    // A new client of the same writer stream resends seq 1..21 and one new record.
    const c2 = client(o, { streamId: 'writer-1' });
    c2.append(openedRecord('d'));
    for (let i = 0; i < 21; i++) c2.append(dataRecord('d', i * 5, payload(i, 5)));
    await c2.waitDurable();
    expect(c2.durableSeq).toBe(22);
    const items = await collect(c2.read({ connId: 'd' }));
    expect(offsets(items)).toEqual([-1, ...Array.from({ length: 21 }, (_, i) => i * 5)]);
    if (o.reopen) {
      await c2.close();
      const o2 = await o.reopen();
      const c3 = client(o2, { streamId: 'writer-1', epoch: 2 });
      c3.append(openedRecord('d'));
      for (let i = 0; i < 22; i++) c3.append(dataRecord('d', i * 5, payload(i, 5)));
      await c3.waitDurable();
      const again = await collect(c3.read({ connId: 'd' }));
      expect(offsets(again)).toEqual([-1, ...Array.from({ length: 22 }, (_, i) => i * 5)]);
    }
  });

  it('a stale epoch is refused with FAILED_PRECONDITION', async () => {
    const o = await b.open();
    const c2 = client(o, { epoch: 3 });
    c2.append(openedRecord('x'));
    await c2.waitDurable();
    const c1 = client(o, { epoch: 1 });
    c1.append(openedRecord('y'));
    const err = await c1.waitDurable().then(() => undefined, (e: unknown) => e as { code: number; details: string });
    expect(err?.code).toBe(9);
  });
});
