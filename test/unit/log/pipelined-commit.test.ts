// Pipelined group commit: several commits on their way to disk at once, acknowledged strictly in
// order; a failure fails the commit and everything after it, whatever order the writes finished in.
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { pino } from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import type { Logger } from '../../../src/util/logger.js';
import { LogError } from '../../../src/log/errors.js';
import { Record, StoredRecord } from '../../../src/log/gen/ftcp/v1/log.js';
import { decodeRecord } from '../../../src/log/record-meta.js';
import { LogStore, type StreamState } from '../../../src/log/store.js';
import type { SegmentBackend, WriteResult } from '../../../src/log/segment-files.js';
import { dataRecord, payload, tempDir } from './helpers.js';

const log = pino({ level: 'silent' }) as unknown as Logger;
const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  while (cleanups.length) await cleanups.pop()!();
});

interface HeldWrite {
  buf: Buffer;
  pos: number;
  finish(): void;
  failWith(err: Error): void;
}

/** A backend whose writes finish only when the test says so, in any order. */
class HeldBackend implements SegmentBackend {
  readonly kind = 'memory' as const;
  readonly writes: HeldWrite[] = [];
  size = 8;
  roll = false;
  recovers = 0;
  write(buf: Buffer): Promise<WriteResult> {
    const pos = this.size;
    this.size += buf.length;
    return new Promise((resolve, reject) => {
      this.writes.push({ buf, pos, finish: () => resolve({ segment: 1, pos }), failWith: reject });
    });
  }
  wouldRoll(): boolean {
    return this.roll;
  }
  recover(): Promise<void> {
    this.recovers++;
    return Promise.resolve();
  }
  read(): Promise<Buffer> {
    return Promise.reject(new Error('not in this test'));
  }
  reclaimBelow(): Promise<number> {
    return Promise.resolve(0);
  }
  activeSegment(): number {
    return 1;
  }
  segmentCount(): number {
    return 1;
  }
  diskBytes(): number {
    return 0;
  }
  close(): Promise<void> {
    return Promise.resolve();
  }
}

/** Lets queued microtasks and promise callbacks run. */
const settle = (): Promise<void> => new Promise((r) => setImmediate(r));

function appendData(store: LogStore, stream: string, seq: number, n = 1): StreamState {
  const raws = Array.from({ length: n }, (_, i) => Buffer.from(Record.encode(dataRecord('c', (seq + i) * 10, payload(seq + i, 10))).finish()));
  return store.append('svc', 0, stream, seq, raws, raws.map((r, i) => decodeRecord(r, i).meta));
}

/** Records every acknowledgement and failure of a stream. */
function watch(st: StreamState): { acks: number[]; failures: LogError[] } {
  const w = { acks: [] as number[], failures: [] as LogError[] };
  st.listeners.add({ onDurable: (d) => w.acks.push(d), onFailed: (e) => w.failures.push(e) });
  return w;
}

describe('pipelined group commit', () => {
  it('starts a commit while another is in flight and acknowledges them in order', async () => {
    const be = new HeldBackend();
    const store = LogStore.onBackend(be, { log, maxCommitsInFlight: 2 });
    const a = watch(appendData(store, 'A', 1));
    await settle();
    expect(be.writes).toHaveLength(1);
    const b = watch(appendData(store, 'B', 1, 3));
    await settle();
    expect(be.writes).toHaveLength(2); // B did not wait for A's write
    appendData(store, 'A', 2);
    await settle();
    expect(be.writes).toHaveLength(2); // bounded: the third waits for a slot

    be.writes[1]!.finish(); // the later commit is on disk first
    await settle();
    expect(b.acks).toEqual([]); // ... but not acknowledged before the earlier one
    expect(a.acks).toEqual([]);
    expect(store.stats().lastLsn).toBe(0);

    be.writes[0]!.finish();
    await settle();
    expect(a.acks).toEqual([1]);
    expect(b.acks).toEqual([3]);
    expect(store.stats().lastLsn).toBe(4);
    expect(be.writes).toHaveLength(3); // the queued record went out once a slot freed

    be.writes[2]!.finish();
    await settle();
    expect(a.acks).toEqual([1, 2]);
    expect(store.stats()).toMatchObject({ commits: 3, appendedRecords: 5, lastLsn: 5 });
  });

  it('lets only writers that wait on their records start a commit beside one in flight', async () => {
    const be = new HeldBackend();
    const store = LogStore.onBackend(be, { log, maxCommitsInFlight: 2 });
    const raw = (seq: number) => Buffer.from(Record.encode(dataRecord('c', seq * 10, payload(seq, 10))).finish());
    const daemon = (seq: number) => store.append('svc', 0, 'D', seq, [raw(seq)], [decodeRecord(raw(seq)).meta], false);
    const d = watch(daemon(1));
    await settle();
    expect(be.writes).toHaveLength(1);
    daemon(2); // the daemon's own record: waits for the commit in flight
    await settle();
    expect(be.writes).toHaveLength(1);
    const s = watch(appendData(store, 'S', 1)); // a waiting writer's (the shim's): overlaps, and takes the daemon's along
    await settle();
    expect(be.writes).toHaveLength(2);
    be.writes[0]!.finish();
    be.writes[1]!.finish();
    await settle();
    expect(d.acks).toEqual([1, 2]);
    expect(s.acks).toEqual([1]);
  });

  it('gathers records nobody waits on for lazyGatherMs, unless a waiting writer or 64 KiB comes', async () => {
    const be = new HeldBackend();
    const store = LogStore.onBackend(be, { log, lazyGatherMs: 100 }); // the test's steps take far less
    const lazy = (seq: number, bytes = 10) => {
      const r = Buffer.from(Record.encode(dataRecord('c', seq * 100_000, payload(seq, bytes))).finish());
      return store.append('svc', 0, 'D', seq, [r], [decodeRecord(r).meta], false);
    };
    const d = watch(lazy(1)); // no commit for 100 ms before: starts at once
    await settle();
    expect(be.writes).toHaveLength(1);
    be.writes[0]!.finish();
    await settle();
    expect(d.acks).toEqual([1]);
    lazy(2); // right after a commit: gathered
    await settle();
    expect(be.writes).toHaveLength(1);
    lazy(3, 64 * 1024); // 64 KiB queued: starts now
    await settle();
    expect(be.writes).toHaveLength(2);
    be.writes[1]!.finish();
    await settle();
    expect(d.acks).toEqual([1, 3]);
    lazy(4);
    await settle();
    expect(be.writes).toHaveLength(2);
    const s = watch(appendData(store, 'S', 1)); // a waiting writer: starts now, with the gathered one
    await settle();
    expect(be.writes).toHaveLength(3);
    be.writes[2]!.finish();
    await settle();
    expect(d.acks).toEqual([1, 3, 4]);
    expect(s.acks).toEqual([1]);
    lazy(5);
    await settle();
    expect(be.writes).toHaveLength(3);
    await new Promise((r) => setTimeout(r, 150)); // the gather ends: its commit starts by itself
    expect(be.writes).toHaveLength(4);
    be.writes[3]!.finish();
    await settle();
    expect(d.acks).toEqual([1, 3, 4, 5]);
  });

  it('refuses a lazy gather out of range with a message that names the setting', () => {
    expect(() => LogStore.onBackend(new HeldBackend(), { log, lazyGatherMs: -1 })).toThrow(/FTCP_LOG_LAZY_GATHER_MS/);
    expect(() => LogStore.onBackend(new HeldBackend(), { log, lazyGatherMs: 1.5 })).toThrow(/integer/);
  });

  it('fails the failed commit and every later one, even those already on disk, then carries on', async () => {
    const be = new HeldBackend();
    const store = LogStore.onBackend(be, { log, maxCommitsInFlight: 3 });
    const stA = appendData(store, 'A', 1);
    const a = watch(stA);
    await settle();
    const stB = appendData(store, 'B', 1);
    const b = watch(stB);
    await settle();
    const stC = appendData(store, 'C', 1);
    const c = watch(stC);
    await settle();
    expect(be.writes).toHaveLength(3);

    be.writes[2]!.finish(); // C on disk
    be.writes[1]!.failWith(Object.assign(new Error('EIO: i/o error'), { code: 'EIO' })); // B fails
    await settle();
    expect(b.failures).toHaveLength(0); // nothing decided while A is still in flight
    expect(be.recovers).toBe(0);
    appendData(store, 'D', 1); // arrives during the failure: queued, not written
    await settle();
    expect(be.writes).toHaveLength(3);

    be.writes[0]!.finish(); // A, before the failure, is durable
    await settle();
    expect(a.acks).toEqual([1]);
    expect(be.recovers).toBe(1); // cut back once every write in flight finished
    expect(b.failures.map((e) => e.code)).toEqual(['UNAVAILABLE']);
    expect(c.failures.map((e) => e.code)).toEqual(['UNAVAILABLE']);
    expect(c.acks).toEqual([]);
    expect([stA.applied, stB.applied, stC.applied]).toEqual([1, 0, 0]); // resends are accepted
    expect(store.stats()).toMatchObject({ lastLsn: 1, writeErrors: 1 });

    // The writers resend; the store works again and numbers from after the last durable lsn.
    appendData(store, 'B', 1);
    await settle();
    expect(be.writes).toHaveLength(4);
    be.writes[3]!.finish();
    await settle();
    expect(b.acks).toEqual([1]);
    expect(store.stats().lastLsn).toBe(2);
  });

  it('acknowledges a stream once when its commits retire together', async () => {
    const be = new HeldBackend();
    const store = LogStore.onBackend(be, { log, maxCommitsInFlight: 2 });
    const a = watch(appendData(store, 'A', 1));
    await settle();
    appendData(store, 'A', 2);
    await settle();
    expect(be.writes).toHaveLength(2);
    be.writes[1]!.finish();
    be.writes[0]!.finish();
    await settle();
    expect(a.acks).toEqual([2]);
  });

  it('lets bulk data wait for the commit in flight so that commits stay large', async () => {
    const be = new HeldBackend();
    const store = LogStore.onBackend(be, { log, maxCommitsInFlight: 2 });
    appendData(store, 'A', 1);
    await settle();
    const big = Buffer.from(Record.encode(dataRecord('c', 0, Buffer.alloc(100 * 1024, 1))).finish());
    store.append('svc', 0, 'B', 1, [big], [decodeRecord(big, 0).meta]);
    appendData(store, 'C', 1);
    await settle();
    expect(be.writes).toHaveLength(1);
    be.writes[0]!.finish();
    await settle();
    expect(be.writes).toHaveLength(2); // one commit with both
    be.writes[1]!.finish();
    await settle();
    expect(store.stats()).toMatchObject({ commits: 2, lastLsn: 3 });
  });

  it('sends a commit that starts a new segment alone', async () => {
    const be = new HeldBackend();
    const store = LogStore.onBackend(be, { log, maxCommitsInFlight: 4 });
    appendData(store, 'A', 1);
    await settle();
    be.roll = true;
    appendData(store, 'A', 2);
    await settle();
    expect(be.writes).toHaveLength(1); // waits until the old segment has nothing in flight
    be.writes[0]!.finish();
    await settle();
    expect(be.writes).toHaveLength(2);
    appendData(store, 'A', 3);
    await settle();
    expect(be.writes).toHaveLength(2); // and nothing goes with it
    be.roll = false;
    be.writes[1]!.finish();
    await settle();
    expect(be.writes).toHaveLength(3);
    be.writes[2]!.finish();
    await settle();
    expect(store.stats().lastLsn).toBe(3);
  });

  it('stages the next commit while one is written and writes it the moment that one finishes', async () => {
    const be = new HeldBackend();
    const store = LogStore.onBackend(be, { log, maxCommitsInFlight: 1, stageBytes: 60 });
    const stA = appendData(store, 'A', 1);
    const a = watch(stA);
    let writesAtAck = 0;
    stA.listeners.add({ onDurable: () => (writesAtAck = be.writes.length), onFailed: () => undefined });
    await settle();
    expect(be.writes).toHaveLength(1);
    const b = watch(appendData(store, 'B', 1, 5)); // ≥ 60 bytes queued: encoded now, not written
    await settle();
    expect(be.writes).toHaveLength(1);
    appendData(store, 'A', 2); // nothing starts while one is staged (commits go out in log order)
    await settle();
    expect(be.writes).toHaveLength(1);

    be.writes[0]!.finish();
    await settle();
    expect(be.writes).toHaveLength(2);
    expect(writesAtAck).toBe(2); // written before the acknowledgements of the one that finished
    expect(be.writes[1]!.pos).toBe(be.writes[0]!.pos + be.writes[0]!.buf.length);
    expect(a.acks).toEqual([1]);
    expect(b.acks).toEqual([]);
    expect(be.writes).toHaveLength(2); // A's second record (< 60 bytes) waits for B's write

    be.writes[1]!.finish();
    await settle();
    expect(b.acks).toEqual([5]);
    expect(be.writes).toHaveLength(3);
    be.writes[2]!.finish();
    await settle();
    expect(a.acks).toEqual([1, 2]);
    expect(store.stats()).toMatchObject({ commits: 3, appendedRecords: 7, lastLsn: 7 });
  });

  it('never writes a staged commit after the one before it failed: both fail, then the store carries on', async () => {
    const be = new HeldBackend();
    const store = LogStore.onBackend(be, { log, maxCommitsInFlight: 1, stageBytes: 60 });
    const a = watch(appendData(store, 'A', 1));
    await settle();
    const stB = appendData(store, 'B', 1, 5);
    const b = watch(stB);
    await settle();
    be.writes[0]!.failWith(Object.assign(new Error('EIO: i/o error'), { code: 'EIO' }));
    await settle();
    expect(be.writes).toHaveLength(1);
    expect(be.recovers).toBe(1);
    expect(a.failures.map((e) => e.code)).toEqual(['UNAVAILABLE']);
    expect(b.failures.map((e) => e.code)).toEqual(['UNAVAILABLE']);
    expect(stB.applied).toBe(0);
    appendData(store, 'B', 1, 5); // the writer resends
    await settle();
    expect(be.writes).toHaveLength(2);
    be.writes[1]!.finish();
    await settle();
    expect(b.acks).toEqual([5]);
    expect(store.stats().lastLsn).toBe(5);
  });

  it('stages behind a commit that starts a new segment, written once that one finished', async () => {
    const be = new HeldBackend();
    const store = LogStore.onBackend(be, { log, maxCommitsInFlight: 2, stageBytes: 60 });
    be.roll = true;
    appendData(store, 'A', 1);
    await settle();
    expect(be.writes).toHaveLength(1); // alone
    be.roll = false;
    const b = watch(appendData(store, 'B', 1, 5));
    await settle();
    expect(be.writes).toHaveLength(1); // staged, not beside it
    be.writes[0]!.finish();
    await settle();
    expect(be.writes).toHaveLength(2);
    be.writes[1]!.finish();
    await settle();
    expect(b.acks).toEqual([5]);
    expect(store.stats().lastLsn).toBe(6);
  });

  it('rejects a bad stage size at start, naming the setting', () => {
    expect(() => LogStore.onBackend(new HeldBackend(), { log, stageBytes: -1 })).toThrow(/FTCP_LOG_STAGE_BYTES/);
  });

  it('rejects a bad commits-in-flight setting at start', () => {
    expect(() => LogStore.onBackend(new HeldBackend(), { log, maxCommitsInFlight: 0 })).toThrow(/from 1 to 16/);
  });

  it('keeps every record of many concurrent writers on disk, in lsn order, across a reopen', async () => {
    const t = tempDir();
    cleanups.push(t.cleanup);
    const store = await LogStore.open({ dataDir: t.dir, durability: 'fsync', log, maxCommitsInFlight: 4, segmentBytes: 2048 });
    const streams = ['s1', 's2', 's3', 's4'];
    const done: Promise<void>[] = [];
    for (let round = 1; round <= 40; round++) {
      for (const s of streams) {
        const st = appendData(store, s, round);
        done.push(
          new Promise((resolve, reject) => {
            const l = {
              onDurable: (d: number) => d >= round && (st.listeners.delete(l), resolve()),
              onFailed: reject,
            };
            if (st.durable >= round) resolve();
            else st.listeners.add(l);
          }),
        );
      }
      if (round % 3 === 0) await settle(); // let commits overlap
    }
    await Promise.all(done);
    const before = store.stats();
    expect(before.appendedRecords).toBe(160);
    expect(before.segments).toBeGreaterThan(1);
    await store.close();

    const again = await LogStore.open({ dataDir: t.dir, durability: 'fsync', log });
    cleanups.push(() => again.close());
    const lsns: number[] = [];
    const seqs = new Map<string, number[]>();
    for await (const batch of again.read('svc')) {
      for (const b of batch) {
        const r = StoredRecord.decode(b);
        lsns.push(r.lsn);
        seqs.set(r.streamId, [...(seqs.get(r.streamId) ?? []), r.seq]);
      }
    }
    expect(lsns).toEqual(Array.from({ length: 160 }, (_, i) => i + 1));
    for (const s of streams) expect(seqs.get(s)).toEqual(Array.from({ length: 40 }, (_, i) => i + 1));
    expect(again.stats().tornTailsCut).toBe(0);
  });
  it('after a crash that kept a later commit but not an earlier one, keeps neither and accepts the resend', async () => {
    const t = tempDir();
    cleanups.push(t.cleanup);
    const store = await LogStore.open({ dataDir: t.dir, durability: 'fsync', log });
    for (let seq = 1; seq <= 3; seq++) {
      const st = appendData(store, 'w', seq);
      await new Promise<void>((resolve) => st.listeners.add({ onDurable: (d) => d >= seq && resolve(), onFailed: () => {} }));
    }
    await store.close();
    // Commits 2 and 3 overlapped; the crash came after 3's write reached the disk but before 2's:
    // 2's frame is a hole of zeros in front of a valid frame 3.
    const seg = join(t.dir, 'segments', readdirSync(join(t.dir, 'segments'))[0]!);
    const bytes = readFileSync(seg);
    const first = 8 + 8 + bytes.readUInt32LE(8);
    bytes.fill(0, first, first + 8 + bytes.readUInt32LE(first));
    writeFileSync(seg, bytes);

    const again = await LogStore.open({ dataDir: t.dir, durability: 'fsync', log });
    cleanups.push(() => again.close());
    expect(again.stats()).toMatchObject({ tornTailsCut: 1, lastLsn: 1 });
    const st = again.stream('svc', 'w');
    expect(st.applied).toBe(1); // 3 did not survive, so its resend is not taken for a duplicate
    const resent = appendData(again, 'w', 2, 2);
    await new Promise<void>((resolve, reject) => resent.listeners.add({ onDurable: (d) => d >= 3 && resolve(), onFailed: reject }));
    expect(resent.durable).toBe(3);
    const seqs: number[] = [];
    for await (const batch of again.read('svc')) for (const b of batch) seqs.push(StoredRecord.decode(b).seq);
    expect(seqs).toEqual([1, 2, 3]);
  });
});
