// The hot standby of a replicated log (real 3-node JetStream cluster on loopback): a follower
// started late (after checkpoints and purges) reads exactly what the primary's store reads and
// follows live, also across a stream leader change; promotion fences the old primary.
import { connect } from '@nats-io/transport-node';
import { jetstreamManager } from '@nats-io/jetstream';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { LogClient } from '../../src/log/client.js';
import { startEmbeddedLogServer, type EmbeddedLogServer } from '../../src/log/embedded.js';
import { LogError } from '../../src/log/errors.js';
import { StoredRecord } from '../../src/log/gen/ftcp/v1/log.js';
import { LogFollower, openReplicatedStore, type Replica } from '../../src/log/replica/index.js';
import type { LogStore } from '../../src/log/store.js';
import { silentLogger } from '../../src/util/logger.js';
import { NATS_SERVER, NatsCluster } from '../helpers/nats-cluster.js';
import { closedRecord, dataRecord, openedRecord, payload, tempDir } from '../unit/log/helpers.js';

const log = process.env.FTCP_TEST_LOG ? (await import('pino')).pino({ level: process.env.FTCP_TEST_LOG }) : silentLogger();
let cluster: NatsCluster | undefined;
let n = 0;
const cleanups: (() => Promise<unknown> | void)[] = [];

beforeAll(async () => {
  if (NATS_SERVER !== undefined) cluster = await NatsCluster.start({ nodes: 3 });
});
afterEach(async () => {
  while (cleanups.length) await cleanups.pop()!()?.catch?.(() => undefined);
});
afterAll(async () => {
  await cluster?.stop();
});

async function primary(service: string, epoch: number, segmentBytes?: number): Promise<{ store: LogStore; replica: Replica; srv: EmbeddedLogServer }> {
  const { store, replica } = await openReplicatedStore({ servers: cluster!.urls, service, epoch, log, ...(segmentBytes ? { segmentBytes } : {}) });
  const dir = tempDir('ftcpt-logrfo-');
  const srv = await startEmbeddedLogServer({ store, listen: [`unix:${dir.dir}/logd.sock`], log });
  cleanups.push(dir.cleanup, () => srv.close(), () => replica.close());
  return { store, replica, srv };
}

async function follower(service: string): Promise<LogFollower> {
  const f = await LogFollower.start({ servers: cluster!.urls, service, log });
  cleanups.push(() => f.stop());
  return f;
}

function client(srv: EmbeddedLogServer, service: string, epoch: number, streamId: string): LogClient {
  const c = new LogClient({ target: srv.target, service, epoch, inProcess: false, streamId });
  cleanups.push(() => c.close(1000));
  return c;
}

/** Everything a Read of the service returns from a store: checkpoint, then each record's wire bytes. */
async function dump(store: LogStore, service: string): Promise<{ ckpt: string; records: string[] }> {
  const records: string[] = [];
  for await (const batch of store.read(service)) for (const b of batch) records.push(b.toString('base64'));
  const c = store.latestCheckpoint(service);
  return { ckpt: c ? JSON.stringify({ lsn: c.lsn, epoch: c.epoch, state: Buffer.from(c.state).toString('hex'), positions: c.positions }) : '', records };
}

async function streamLeader(service: string): Promise<string> {
  const nc = await connect({ servers: cluster!.urls });
  try {
    const info = await (await jetstreamManager(nc)).streams.info(`FTCP_${service}`);
    return info.cluster!.leader!;
  } finally {
    await nc.close();
  }
}

async function consumerNodes(service: string): Promise<string[]> {
  const nc = await connect({ servers: cluster!.urls });
  try {
    // Newest first: the primary's own (stopped) follower consumer lingers until it times out.
    const all: { created: string; node: string }[] = [];
    for await (const ci of (await jetstreamManager(nc)).consumers.list(`FTCP_${service}`)) if (ci.cluster?.leader) all.push({ created: ci.created, node: ci.cluster.leader });
    return all.sort((a, b) => (a.created < b.created ? 1 : -1)).map((x) => x.node);
  } finally {
    await nc.close();
  }
}

describe.skipIf(NATS_SERVER === undefined)('replicated log: follower and promotion', () => {
  it('a follower started after checkpoints and purges reads what the primary reads, then follows live', async () => {
    const service = `l${process.pid}x${++n}`;
    const p = await primary(service, 1, 64 * 1024);
    const c = client(p.srv, service, 1, 'w');
    // Two connections, one closed; several commits over 64 KiB segments; two checkpoints.
    c.append(openedRecord('a'));
    c.append(openedRecord('b'));
    for (let i = 0; i < 30; i++) {
      c.append(dataRecord('a', i * 6000, payload(i, 6000)));
      c.append(dataRecord('b', i * 100, payload(i, 100)));
      await c.waitDurable();
    }
    c.append(closedRecord('b'));
    c.append(openedRecord('a'));
    await c.checkpoint(Buffer.from('S1'), [{ connId: 'a', clientOffset: 10 * 6000, serverOffset: 0 }]);
    for (let i = 30; i < 40; i++) {
      c.append(dataRecord('a', i * 6000, payload(i, 6000)));
      await c.waitDurable();
    }
    c.append(openedRecord('a'));
    const r = await c.checkpoint(Buffer.from('S2'), [{ connId: 'a', clientOffset: 35 * 6000, serverOffset: 0 }]);
    expect(r.reclaimedSegments).toBeGreaterThan(0);
    // Wait (bounded) for the purge of the records' prefix to land before the late start (the
    // epoch marker at sequence 1 stays: a purge never goes below 2).
    const nc = await connect({ servers: cluster!.urls });
    let gone = 0;
    for (let i = 0; i < 50 && gone <= 2; i++) {
      const st = (await (await jetstreamManager(nc)).streams.info(`FTCP_${service}`)).state;
      gone = st.last_seq - st.first_seq + 1 - st.messages;
      if (gone <= 2) await new Promise((res) => setTimeout(res, 100));
    }
    await nc.close();
    expect(gone).toBeGreaterThan(2);

    const f = await follower(service);
    await f.catchUp();
    expect(f.lag()).toBe(0);
    // A following store mirrors the stream only.
    await expect(f.store.checkpoint(service, 1, Buffer.from('no'), [])).rejects.toThrow(/takes no appends or checkpoints until promoted/);
    expect(() => f.store.append(service, 1, 'x', 1, [Buffer.from([1])], [])).toThrow(/takes no appends/);
    expect(await dump(f.store, service)).toEqual(await dump(p.store, service));
    expect(f.store.stats(service).lastLsn).toBe(p.store.stats(service).lastLsn);

    // Live: the primary keeps writing; the follower applies as it goes.
    let applied = 0;
    f.on('applied', () => applied++);
    for (let i = 40; i < 60; i++) {
      c.append(dataRecord('a', i * 6000, payload(i, 6000)));
      await c.waitDurable();
    }
    await f.catchUp();
    expect(applied).toBeGreaterThanOrEqual(20);
    expect(f.appliedSeq).toBe(p.replica.streamSeq);
    expect(await dump(f.store, service)).toEqual(await dump(p.store, service));
  });

  it('a primary restarted with the same epoch continues the message ids (nothing taken for a duplicate)', async () => {
    const service = `l${process.pid}x${++n}`;
    const p1 = await primary(service, 1);
    const c1 = client(p1.srv, service, 1, 'w');
    c1.append(openedRecord('a'));
    for (let i = 0; i < 5; i++) {
      c1.append(dataRecord('a', i * 10, payload(i, 10)));
      await c1.waitDurable();
    }
    const seqBefore = p1.replica.streamSeq;
    await c1.close();
    await p1.srv.close();
    // Same epoch again (e.g. a daemon restarted before the lease gives it a new one).
    const p2 = await primary(service, 1);
    expect(p2.store.stats(service).records).toBe(6);
    const c2 = client(p2.srv, service, 1, 'w2');
    for (let i = 5; i < 10; i++) {
      c2.append(dataRecord('a', i * 10, payload(i, 10)));
      await c2.waitDurable();
    }
    expect(p2.replica.streamSeq).toBe(seqBefore + 1 + 5); // its marker, then five batches
    const f = await follower(service);
    await f.catchUp();
    expect(f.store.stats(service).records).toBe(11);
    expect(await dump(f.store, service)).toEqual(await dump(p2.store, service));
  });

  it('keeps following when the node of its consumer (and maybe the stream leader) is killed', async () => {
    const service = `l${process.pid}x${++n}`;
    const p = await primary(service, 1);
    const c = client(p.srv, service, 1, 'w');
    const f = await follower(service);
    c.append(openedRecord('a'));
    for (let i = 0; i < 50; i++) c.append(dataRecord('a', i * 1000, payload(i, 1000)));
    await c.waitDurable();
    await f.catchUp();
    // The follower's ordered consumer lives on one node (R1): kill that one.
    const leader = await streamLeader(service);
    const consumerNode = await consumerNodes(service);
    const victim = consumerNode[0] ?? leader;
    await cluster!.kill(victim);
    const t0 = Date.now();
    for (let i = 50; i < 100; i++) c.append(dataRecord('a', i * 1000, payload(i, 1000)));
    await c.waitDurable();
    console.log(`durable ${Date.now() - t0} ms after the kill; follower applied ${f.appliedSeq} of ${p.replica.streamSeq}`);
    await f.catchUp();
    console.log(`caught up: applied ${f.appliedSeq}`);
    console.log(`follower: its consumer's node ${victim} killed (stream leader was ${leader}): caught up ${Date.now() - t0} ms after the kill`);
    expect(await dump(f.store, service)).toEqual(await dump(p.store, service));
    expect(f.store.stats(service).records).toBe(101);
    await cluster!.restart(victim);
    await cluster!.waitReady();
  });

  it('promotion fences the old primary: its acked records are in the new store, nothing after the marker', async () => {
    const service = `l${process.pid}x${++n}`;
    const a = await primary(service, 1);
    const ca = client(a.srv, service, 1, 'A');
    const b = await follower(service);
    let fencedErr: LogError | undefined;
    a.replica.on('fenced', (e: LogError) => (fencedErr = e));
    // A writes flat out (up to ~40 records unacknowledged, so its publishes go back to back).
    const acked: number[] = [];
    ca.on('durable', (d: number) => acked.push(d));
    ca.append(openedRecord('a'));
    let stop = false;
    let off = 0;
    const writer = (async () => {
      while (!stop) {
        ca.append(dataRecord('a', off, payload(off, 100)));
        off += 100;
        try {
          if (ca.lastSeq - ca.durableSeq > 40) await ca.waitDurable(ca.lastSeq - 20);
          else await new Promise((r) => setImmediate(r));
          if (ca.failed) throw ca.failed;
        } catch (err) {
          return err as { code: number; details: string };
        }
      }
      return undefined;
    })();
    await new Promise((r) => setTimeout(r, 300));
    const rb = await b.promote(2);
    const markerSeq = rb.streamSeq;
    const err = await Promise.race([writer, new Promise((r) => setTimeout(r, 10_000)).then(() => 'timeout')]);
    stop = true;
    expect(err).not.toBe('timeout');
    expect((err as { code: number }).code).toBe(9); // FAILED_PRECONDITION
    expect(fencedErr?.code).toBe('FAILED_PRECONDITION');
    expect(a.replica.mode).toBe('fenced');
    const lastAcked = acked.at(-1) ?? 0;
    expect(lastAcked).toBeGreaterThan(1);
    // Every record A got acknowledged is in B's store, in order.
    const seqsInB: number[] = [];
    for await (const batch of b.store.read(service)) for (const x of batch) seqsInB.push(StoredRecord.decode(x).seq);
    expect(seqsInB.slice(0, lastAcked)).toEqual(Array.from({ length: lastAcked }, (_, i) => i + 1));
    // ... and nothing else of A's but a contiguous run of what it sent (no gap, no duplicate).
    expect(seqsInB).toEqual(Array.from({ length: seqsInB.length }, (_, i) => i + 1));
    expect(seqsInB.length).toBeLessThanOrEqual(ca.lastSeq);
    // A's next append fails at once; the stream holds nothing of A's after B's marker.
    const ca2 = client(a.srv, service, 1, 'A2');
    ca2.append(openedRecord('z'));
    await expect(ca2.waitDurable()).rejects.toMatchObject({ code: 9 });
    // B writes as the new primary (epoch 2); a fresh follower sees B's store exactly.
    const bsrvDir = tempDir('ftcpt-logrfo-');
    const bsrv = await startEmbeddedLogServer({ store: b.store, listen: [`unix:${bsrvDir.dir}/logd.sock`], log });
    cleanups.push(bsrvDir.cleanup, () => bsrv.close());
    const cb = client(bsrv, service, 2, 'B');
    cb.append(dataRecord('a', off + 100000, payload(1, 10)));
    await cb.waitDurable();
    expect(rb.streamSeq).toBe(markerSeq + 1);
    const late = await follower(service);
    await late.catchUp();
    expect(await dump(late.store, service)).toEqual(await dump(b.store, service));
    // An old epoch cannot take over again.
    const old = await follower(service);
    await expect(old.promote(1)).rejects.toThrow(/epoch 1 is older/);
    console.log(`fencing: A had ${lastAcked} records acked (${seqsInB.length} of its ${ca.lastSeq} in B's store); B's marker at stream seq ${markerSeq}; A failed with: ${(err as { details: string }).details}`);
  });
});
