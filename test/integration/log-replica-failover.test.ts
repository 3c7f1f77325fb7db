// The replicated store while NATS nodes fail (real 3-node cluster on loopback, R3): the stream's
// leader SIGKILLed mid-stream, then every node down. Acked records are never lost, duplicated
// or reordered; appends stall while there is no quorum and resume without help. The stall times
// are printed (informational; no timed assertion).
import { connect } from '@nats-io/transport-node';
import { jetstreamManager } from '@nats-io/jetstream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LogClient, type ReadItem } from '../../src/log/client.js';
import { startEmbeddedLogServer, type EmbeddedLogServer } from '../../src/log/embedded.js';
import { LogFollower, openReplicatedStore, type Replica } from '../../src/log/replica/index.js';
import { silentLogger } from '../../src/util/logger.js';
import { NATS_SERVER, NatsCluster } from '../helpers/nats-cluster.js';
import { dataRecord, openedRecord, payload, tempDir } from '../unit/log/helpers.js';

const log = silentLogger();
const SERVICE = `f${process.pid}`;
let cluster: NatsCluster | undefined;
let srv: EmbeddedLogServer | undefined;
let replica: Replica | undefined;
let client: LogClient | undefined;
const dir = tempDir('ftcpt-logrf-');

beforeAll(async () => {
  if (NATS_SERVER === undefined) return;
  cluster = await NatsCluster.start({ nodes: 3 });
  const opened = await openReplicatedStore({ servers: cluster.urls, service: SERVICE, epoch: 1, log });
  replica = opened.replica;
  srv = await startEmbeddedLogServer({ store: opened.store, listen: [`unix:${dir.dir}/logd.sock`], log });
  client = new LogClient({ target: srv.target, service: SERVICE, epoch: 1, inProcess: false, streamId: 'w' });
});

afterAll(async () => {
  await client?.close(1000).catch(() => undefined);
  await replica?.close().catch(() => undefined); // fails what still waits, so the server's close does not
  await srv?.close().catch(() => undefined);
  await cluster?.stop();
  dir.cleanup();
});

async function streamLeader(): Promise<string> {
  const nc = await connect({ servers: cluster!.urls });
  try {
    for (let i = 0; i < 100; i++) {
      // Either call may time out while the cluster elects (bounded loop).
      const info = await jetstreamManager(nc)
        .then((jsm) => jsm.streams.info(`FTCP_${SERVICE}`))
        .catch(() => undefined);
      if (info?.cluster?.leader) return info.cluster.leader;
      await new Promise((r) => setTimeout(r, 100));
    }
    throw new Error('stream has no leader');
  } finally {
    await nc.close();
  }
}

async function collect(it: AsyncIterable<ReadItem>): Promise<ReadItem[]> {
  const out: ReadItem[] = [];
  for await (const x of it) out.push(x);
  return out;
}

/** Offsets and bytes of every client-data record, checked against what was appended. */
function checkExactly(items: ReadItem[], count: number, size: number): void {
  const data = items.filter((x) => x.type === 'record' && x.record.kind?.$case === 'clientData');
  expect(data.length).toBe(count);
  data.forEach((x, i) => {
    if (x.type !== 'record' || x.record.kind?.$case !== 'clientData') throw new Error('bad item');
    expect(x.record.kind.value.offset).toBe(i * size);
    expect(Buffer.compare(x.record.kind.value.data, payload(i, size))).toBe(0);
  });
}

const SIZE = 2000;
let appended = 0;
function appendMany(n: number): void {
  for (let k = 0; k < n; k++, appended++) client!.append(dataRecord('c', appended * SIZE, payload(appended, SIZE)));
}

describe.skipIf(NATS_SERVER === undefined)('replicated log under NATS failures', () => {
  it('stream leader SIGKILLed mid-stream: every acked record reads back once, in order, byte for byte', async () => {
    client!.append(openedRecord('c'));
    for (let b = 0; b < 4; b++) {
      appendMany(100);
      await client!.waitDurable();
    }
    const leader = await streamLeader();
    let stalled = false;
    replica!.once('stalled', () => (stalled = true));
    appendMany(100); // in flight while the leader dies
    const killedAt = Date.now();
    await cluster!.kill(leader);
    for (let b = 0; b < 4; b++) {
      appendMany(100);
      await client!.waitDurable();
    }
    const newLeader = await streamLeader();
    console.log(`leader ${leader} killed: 400 more records durable ${Date.now() - killedAt} ms later (stalled: ${stalled}, new leader ${newLeader}, retried publishes so far: ${(replica as unknown as { retriedPublishes: number }).retriedPublishes})`);
    expect(client!.durableSeq).toBe(901);
    checkExactly(await collect(client!.read({ connId: 'c' })), 900, SIZE);
    // What is on the stream (two nodes left) reads the same from a fresh follower.
    const f = await LogFollower.start({ servers: cluster!.urls, service: SERVICE, log });
    try {
      await f.catchUp();
      const items: ReadItem[] = [];
      const { StoredRecord, Record } = await import('../../src/log/gen/ftcp/v1/log.js');
      for await (const batch of f.store.read(SERVICE, { connId: 'c' })) {
        for (const b of batch) {
          const s = StoredRecord.decode(b);
          items.push({ type: 'record', lsn: s.lsn, epoch: s.epoch, streamId: s.streamId, seq: s.seq, record: Record.decode(s.record) });
        }
      }
      checkExactly(items, 900, SIZE);
      expect(items.map((x) => (x.type === 'record' ? x.seq : 0))).toEqual(Array.from({ length: 901 }, (_, i) => i + 1));
    } finally {
      await f.stop();
    }
    await cluster!.restart(leader);
    await cluster!.waitReady();
  });

  it('NATS completely down: appends stall unacknowledged, resume when the nodes return, nothing lost', async () => {
    const before = client!.durableSeq;
    const stalledP = new Promise<void>((r) => replica!.once('stalled', () => r()));
    const resumedP = new Promise<{ stalledMs: number }>((r) => replica!.once('resumed', r));
    for (const n of cluster!.nodes) await cluster!.kill(n.name);
    const downAt = Date.now();
    appendMany(50);
    await stalledP;
    await new Promise((r) => setTimeout(r, 1500));
    expect(client!.durableSeq).toBe(before); // nothing acknowledged without a quorum
    for (const n of cluster!.nodes) await cluster!.restart(n.name);
    await cluster!.waitReady();
    await client!.waitDurable();
    const { stalledMs } = await resumedP;
    console.log(`all NATS nodes down ~1.5 s then restarted: durable again ${Date.now() - downAt} ms after the kill (replica stalled ${stalledMs} ms)`);
    expect(client!.durableSeq).toBe(before + 50);
    checkExactly(await collect(client!.read({ connId: 'c' })), appended, SIZE);
    const f = await LogFollower.start({ servers: cluster!.urls, service: SERVICE, log });
    try {
      await f.catchUp();
      expect(f.store.stats(SERVICE).records).toBe(appended + 1);
      expect(f.lag()).toBe(0);
    } finally {
      await f.stop();
    }
  });
});

describe.skipIf(NATS_SERVER === undefined)('replicated log: bad targets fail at start with what to fix', () => {
  it('no server listening, and more replicas than JetStream nodes', async () => {
    await expect(openReplicatedStore({ servers: ['127.0.0.1:1'], service: 'x', epoch: 1, log })).rejects.toMatchObject({
      code: 'UNAVAILABLE',
      message: expect.stringMatching(/cannot connect to NATS at 127\.0\.0\.1:1/),
    });
    const t0 = Date.now();
    const err = await openReplicatedStore({ servers: cluster!.urls, service: `bad${process.pid}`, epoch: 1, replicas: 5, log }).catch((e: unknown) => e as Error);
    console.log(`replicas 5 on 3 nodes refused after ${Date.now() - t0} ms: ${err instanceof Error ? err.message : 'not refused'}`);
    await expect(Promise.reject(err)).rejects.toMatchObject({
      code: 'FAILED_PRECONDITION',
      message: expect.stringMatching(/with 5 replicas: .*replicas must not exceed/),
    });
    await expect(openReplicatedStore({ servers: cluster!.urls, service: 'a.b', epoch: 1, log })).rejects.toThrow(/A-Z a-z 0-9/);
  });
});

describe.skipIf(NATS_SERVER === undefined)('replicated log: a failed local write', () => {
  it('is not published, nor is any commit behind it; the stream and a follower match the store', async () => {
    const { StreamLink } = await import('../../src/log/replica/stream-link.js');
    const { ReplicatedBackend } = await import('../../src/log/replica/replicated-backend.js');
    const { MemorySegments } = await import('../../src/log/segment-files.js');
    const { LogStore } = await import('../../src/log/store.js');
    const { decodeRecord } = await import('../../src/log/record-meta.js');
    const { Record, StoredRecord } = await import('../../src/log/gen/ftcp/v1/log.js');
    /** Memory segments whose next write fails when told to (a disk error). */
    class Flaky extends MemorySegments {
      failNext = false;
      override write(buf: Buffer) {
        if (this.failNext) {
          this.failNext = false;
          // Fails a little later, so the next commit is issued (and written) meanwhile.
          return new Promise<never>((_, reject) => setTimeout(() => reject(Object.assign(new Error('EIO'), { code: 'EIO' })), 30));
        }
        return super.write(buf);
      }
    }
    const service = `lw${process.pid}`;
    const link = await StreamLink.open({ servers: cluster!.urls, service, name: 'test', log });
    const inner = new Flaky(64 * 1024 * 1024);
    const backend = new ReplicatedBackend(inner, link, log);
    backend.becomePrimary(1, 0, 0); // an empty stream, no marker: the chain starts at 0
    const store = LogStore.onBackend(backend, { log });
    const put = (seq: number, off: number) => {
      const raw = Buffer.from(Record.encode(dataRecord('c', off, payload(seq, 10))).finish());
      const st = store.append(service, 1, 'w', seq, [raw], [decodeRecord(raw, 0).meta]);
      return new Promise<void>((resolve, reject) => {
        const l = { onDurable: (d: number) => d >= seq && (st.listeners.delete(l), resolve()), onFailed: (e: Error) => (st.listeners.delete(l), reject(e)) };
        st.listeners.add(l);
      });
    };
    await put(1, 0);
    inner.failNext = true;
    const p2 = put(2, 10);
    await new Promise((r) => setImmediate(r)); // commit 2 is on its way
    const p3 = put(3, 20); // commit 3 overlaps it: its local write succeeds
    await expect(p2).rejects.toMatchObject({ code: 'UNAVAILABLE' });
    await expect(p3).rejects.toMatchObject({ code: 'UNAVAILABLE' });
    // The writer resends both; they take lsns 2 and 3 again and are published once.
    await put(2, 10);
    await put(3, 20);
    await put(4, 30);
    const f = await LogFollower.start({ servers: cluster!.urls, service, log });
    try {
      await f.catchUp();
      const seqs = async (s: typeof store) => {
        const out: string[] = [];
        for await (const b of s.read(service)) for (const x of b) {
          const r = StoredRecord.decode(x);
          out.push(`${r.lsn}:${r.seq}`);
        }
        return out;
      };
      expect(await seqs(store)).toEqual(['1:1', '2:2', '3:3', '4:4']);
      expect(await seqs(f.store)).toEqual(['1:1', '2:2', '3:3', '4:4']);
      expect(backend.streamSeq).toBe(4); // four record batches: the failed commits never published
    } finally {
      await f.stop();
      await store.close();
    }
  });
});
