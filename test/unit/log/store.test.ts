import { readdirSync, readFileSync, statSync, truncateSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { pino } from "pino";
import type { Logger } from "../../../src/util/logger.js";
import { afterEach, describe, expect, it } from 'vitest';
import { LogError } from '../../../src/log/errors.js';
import { Record } from '../../../src/log/gen/ftcp/v1/log.js';
import { decodeRecord, Kind } from '../../../src/log/record-meta.js';
import { LogStore } from '../../../src/log/store.js';
import { decodeStored, storedRecordBytes } from '../../../src/log/stored-record.js';
import { StoredRecord } from '../../../src/log/gen/ftcp/v1/log.js';
import { closedRecord, dataRecord, openedRecord, payload, tempDir } from './helpers.js';

const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  while (cleanups.length) await cleanups.pop()!();
});

/** A pino logger whose lines are kept for assertions. */
function capturingLogger(): { log: Logger; lines: () => { msg: string; [k: string]: unknown }[] } {
  const out: string[] = [];
  const dest = new Writable({
    write(chunk: Buffer, _enc, cb) {
      out.push(chunk.toString());
      cb();
    },
  });
  return { log: pino({ level: 'info' }, dest) as unknown as Logger, lines: () => out.join('').split('\n').filter(Boolean).map((l) => JSON.parse(l)) };
}

async function open(dir: string, segmentBytes?: number) {
  const cap = capturingLogger();
  const store = await LogStore.open({ dataDir: dir, durability: 'fsync', log: cap.log, ...(segmentBytes ? { segmentBytes } : {}) });
  cleanups.push(() => store.close());
  return { store, lines: cap.lines };
}

function enc(r: Record): Buffer {
  return Buffer.from(Record.encode(r).finish());
}

/** Appends records to a stream and waits until they are durable. */
async function put(store: LogStore, stream: string, firstSeq: number, recs: Record[], epoch = 0): Promise<void> {
  const raws = recs.map(enc);
  const metas = raws.map((r, i) => decodeRecord(r, i).meta);
  const st = store.append('svc', epoch, stream, firstSeq, raws, metas);
  const last = firstSeq + recs.length - 1;
  if (st.durable >= last) return;
  await new Promise<void>((resolve, reject) => {
    const l = {
      onDurable: (d: number) => {
        if (d >= last) {
          st.listeners.delete(l);
          resolve();
        }
      },
      onFailed: (e: LogError) => reject(e),
    };
    st.listeners.add(l);
  });
}

async function readAll(store: LogStore, connId?: string): Promise<StoredRecord[]> {
  const out: StoredRecord[] = [];
  for await (const batch of store.read('svc', connId ? { connId } : {})) for (const b of batch) out.push(StoredRecord.decode(b));
  return out;
}

function segFiles(dir: string): string[] {
  return readdirSync(join(dir, 'segments')).sort().map((f) => join(dir, 'segments', f));
}

describe('LogStore on disk', () => {
  it('cuts a segment truncated mid-record on start and counts it in the log', async () => {
    const { dir, cleanup } = tempDir();
    cleanups.push(cleanup);
    let { store } = await open(dir);
    await put(store, 's1', 1, [openedRecord('a'), ...Array.from({ length: 20 }, (_, i) => dataRecord('a', i * 100, payload(i, 100)))]);
    await store.close();
    const [seg] = segFiles(dir);
    const size = statSync(seg!).size;
    truncateSync(seg!, size - 50); // the last record (100 data bytes + headers) loses its tail
    const r = await open(dir);
    store = r.store;
    const cut = r.lines().find((l) => l.msg.includes('torn'));
    expect(cut).toMatchObject({ reason: 'torn frame' });
    expect(store.stats().tornTailsCut).toBe(1);
    const recs = await readAll(store);
    expect(recs.length).toBe(20); // opened + 19 data records
    expect(recs.map((x) => x.seq)).toEqual(Array.from({ length: 20 }, (_, i) => i + 1));
    // The stream resumes after the last intact record: the lost one is appended again.
    await put(store, 's1', 21, [dataRecord('a', 1900, payload(19, 100))]);
    await store.close();
    const again = await open(dir);
    expect(again.store.stats().tornTailsCut).toBe(0);
    expect((await readAll(again.store)).length).toBe(21);
  });

  it('detects a flipped byte by CRC and cuts from that record on', async () => {
    const { dir, cleanup } = tempDir();
    cleanups.push(cleanup);
    const { store } = await open(dir);
    await put(store, 's1', 1, Array.from({ length: 10 }, (_, i) => dataRecord('a', i * 1000, payload(i, 1000))));
    await store.close();
    const [seg] = segFiles(dir);
    const bytes = readFileSync(seg!);
    // Walk the frames ([u32 len][u32 crc][body]) past the magic to the 6th record; flip a byte in it.
    let pos = 8;
    for (let i = 0; i < 5; i++) pos += 8 + bytes.readUInt32LE(pos);
    const sixth = pos;
    const at = sixth + 8 + Math.floor(bytes.readUInt32LE(sixth) / 2);
    bytes[at] = bytes[at]! ^ 0x40;
    writeFileSync(seg!, bytes);
    const r = await open(dir);
    expect(r.lines().find((l) => l.msg.includes('torn'))).toMatchObject({ reason: 'crc mismatch' });
    const recs = await readAll(r.store);
    expect(recs.map((x) => x.seq)).toEqual([1, 2, 3, 4, 5]);
    for (const x of recs) {
      const rec = Record.decode(x.record);
      expect(rec.kind?.$case).toBe('clientData');
      if (rec.kind?.$case === 'clientData') expect(Buffer.compare(rec.kind.value.data, payload(x.seq - 1, 1000))).toBe(0);
    }
    expect(statSync(seg!).size).toBe(sixth);
  });

  it('deduplicates a resent batch by per-stream sequence, also across a restart', async () => {
    const { dir, cleanup } = tempDir();
    cleanups.push(cleanup);
    let { store } = await open(dir);
    const recs = Array.from({ length: 10 }, (_, i) => dataRecord('a', i, payload(i, 1)));
    await put(store, 'w', 1, recs);
    await put(store, 'w', 1, recs); // full resend
    await put(store, 'w', 6, [...recs.slice(5), dataRecord('a', 10, payload(10, 1))]); // overlap + one new
    expect((await readAll(store)).map((x) => x.seq)).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11]);
    await store.close();
    ({ store } = await open(dir));
    await put(store, 'w', 1, recs);
    expect((await readAll(store)).length).toBe(11);
    expect(() => store.append('svc', 0, 'w', 20, [enc(recs[0]!)], [decodeRecord(enc(recs[0]!)).meta])).toThrow(/gap/);
  });

  it('reclaims segments below a checkpoint or of closed connections, and keeps marks and epoch', async () => {
    const { dir, cleanup } = tempDir();
    cleanups.push(cleanup);
    let { store } = await open(dir, 4096);
    await put(store, 'w', 1, [openedRecord('old'), openedRecord('live')], 3);
    let seq = 3;
    for (let i = 0; i < 40; i++) await put(store, 'w', seq++, [dataRecord('old', i * 500, payload(i, 500))], 3);
    for (let i = 0; i < 10; i++) await put(store, 'w', seq++, [dataRecord('live', i * 500, payload(i, 500))], 3);
    await put(store, 'w', seq++, [closedRecord('old')], 3);
    const before = segFiles(dir).length;
    expect(before).toBeGreaterThan(4);
    const res = await store.checkpoint('svc', 3, Buffer.from('S'), [{ connId: 'live', clientOffset: 2500, serverOffset: 0 }]);
    // 'live' opened record lives in the first segment, so nothing can go yet (prefix rule).
    expect(res.reclaimedSegments).toBe(0);
    await put(store, 'w', seq++, [closedRecord('live')], 3);
    const res2 = await store.checkpoint('svc', 3, Buffer.from('S2'), []);
    expect(res2.reclaimedSegments).toBeGreaterThan(0);
    expect(segFiles(dir).length).toBeLessThan(before);
    expect(await readAll(store)).toEqual([]);
    await store.close();
    ({ store } = await open(dir, 4096));
    expect(store.currentEpoch('svc')).toBe(3);
    expect(store.stream('svc', 'w').durable).toBe(seq - 1);
    expect(store.latestCheckpoint('svc')?.state.toString()).toBe('S2');
    await expect(store.checkpoint('svc', 2, Buffer.alloc(0), [])).rejects.toThrow(/fenced/);
  });

  it('reclaims segments of closed connections on segment roll, without a checkpoint', async () => {
    const { dir, cleanup } = tempDir();
    cleanups.push(cleanup);
    const { store } = await open(dir, 4096);
    let seq = 1;
    for (let round = 0; round < 6; round++) {
      const id = `conn-${round}`;
      await put(store, 'w', seq++, [openedRecord(id)]);
      for (let i = 0; i < 10; i++) await put(store, 'w', seq++, [dataRecord(id, i * 600, payload(i, 600))]);
      await put(store, 'w', seq++, [closedRecord(id)]);
    }
    await store.flushed();
    await store.reclaim(); // let a reclaim started by the last roll finish
    // Each round fills ~2 segments; all but the last one or two are gone.
    expect(segFiles(dir).length).toBeLessThanOrEqual(3);
    expect(store.stats('svc')).toMatchObject({ records: 0, connections: 0 });
  });

  it('stores the writer ids and sequence in a self-describing body', () => {
    const body = Buffer.alloc(0);
    expect(() => decodeStored(body)).toThrow();
  });
});

describe('LogStore filtered read', () => {
  it('returns only the kinds asked for, in lsn order, across rows it skips', async () => {
    const { dir, cleanup } = tempDir();
    cleanups.push(cleanup);
    const { store } = await open(dir);
    const recs: Record[] = [openedRecord('a')];
    for (let i = 0; i < 200; i++) {
      recs.push(dataRecord('a', i * 100, payload(i, 100)));
      recs.push({ connId: 'a#0', kind: { $case: 'shimChunks', value: { offset: i * 100, lengths: [100], globalOrder: i } } });
    }
    await put(store, 's1', 1, recs);
    const out: StoredRecord[] = [];
    for await (const batch of store.read('svc', { kinds: new Set([Kind.ShimChunks, Kind.Opened]) })) for (const b of batch) out.push(StoredRecord.decode(b));
    const kinds = out.map((s) => Record.decode(s.record).kind?.$case);
    expect(kinds[0]).toBe('opened');
    expect(kinds.slice(1)).toEqual(Array(200).fill('shimChunks'));
    expect(out.map((s) => s.lsn)).toEqual([...out.map((s) => s.lsn)].sort((x, y) => x - y));
    const orders = out.slice(1).map((s) => (Record.decode(s.record).kind as { value: { globalOrder: number } }).value.globalOrder);
    expect(orders).toEqual(Array.from({ length: 200 }, (_, i) => i));
  });

  it('readStored gives the stored bodies the wire form is made of, same rows, same order', async () => {
    const { dir, cleanup } = tempDir();
    cleanups.push(cleanup);
    const { store } = await open(dir);
    const recs: Record[] = [openedRecord('a')];
    for (let i = 0; i < 50; i++) recs.push(dataRecord('a', i * 10, payload(i, 10)));
    await put(store, 's1', 1, recs);
    const wire: StoredRecord[] = [];
    for await (const batch of store.read('svc', { kinds: new Set([Kind.ClientData]) })) for (const b of batch) wire.push(StoredRecord.decode(b));
    const bodies: Buffer[] = [];
    for await (const batch of store.readStored('svc', { kinds: new Set([Kind.ClientData]) })) bodies.push(...batch);
    expect(bodies.length).toBe(50);
    expect(bodies.map((b) => decodeStored(b).lsn)).toEqual(wire.map((w) => w.lsn));
    for (let i = 0; i < 50; i++) expect(storedRecordBytes(bodies[i]!).equals(Buffer.from(wire[i]!.record))).toBe(true);
    expect(() => storedRecordBytes(Buffer.from([9, 0, 0, 0]))).toThrow(/format/);
  });
});

describe('LogStore reclamation with a long-lived connection', () => {
  it('the connection record logged again after a checkpoint frees the segment of the first one', async () => {
    const { dir, cleanup } = tempDir();
    cleanups.push(cleanup);
    const { store } = await open(dir, 64 * 1024);
    let seq = 1;
    await put(store, 's1', seq++, [openedRecord('a')]);
    for (let i = 0; i < 40; i++) await put(store, 's1', seq++, [dataRecord('a', i * 4000, payload(i, 4000))]);
    const before = store.stats('svc').segments;
    expect(before).toBeGreaterThan(2);
    // The checkpoint covers every byte; the first connection record still pins segment 0.
    expect((await store.checkpoint('svc', 0, Buffer.from('s'), [{ connId: 'a', clientOffset: 160_000, serverOffset: 0 }])).reclaimedSegments).toBe(0);
    // Logged again (as the daemon does after a checkpoint): the next checkpoint reclaims.
    await put(store, 's1', seq++, [openedRecord('a')]);
    const r = await store.checkpoint('svc', 0, Buffer.from('s'), [{ connId: 'a', clientOffset: 160_000, serverOffset: 0 }]);
    expect(r.reclaimedSegments).toBeGreaterThan(0);
    const kinds = (await readAll(store)).map((s) => Record.decode(s.record).kind?.$case);
    expect(kinds).toEqual(['opened']);
  });
});
