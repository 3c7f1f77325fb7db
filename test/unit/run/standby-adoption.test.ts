// The hot standby's fold: seeded from the store, then fed the frames the follower applies; at a
// takeover it gives what a full read of the log would.
import { EventEmitter } from 'node:events';
import { afterEach, describe, expect, it } from 'vitest';
import { Record } from '../../../src/log/gen/ftcp/v1/log.js';
import { decodeRecord } from '../../../src/log/record-meta.js';
import { LogStore } from '../../../src/log/store.js';
import { encodeIds, encodeStoredBatch } from '../../../src/log/stored-record.js';
import { StandbyAdoption } from '../../../src/run/standby-adoption.js';
import { silentLogger } from '../../../src/util/logger.js';
import { collectAdoptable } from '../../../src/wrapper/adopt.js';
import { recordOfStored } from '../../../src/wrapper/wrapper-log.js';
import { closedRecord, dataRecord, openedRecord, payload, tempDir } from '../log/helpers.js';

const cleanups: Array<() => unknown> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

const id = (i: number): string => `10.0.0.${i}:5000>80/${i}`;
const enc = (r: Record): Buffer => Buffer.from(Record.encode(r).finish());

async function put(store: LogStore, seq: number, recs: Record[]): Promise<void> {
  const raws = recs.map(enc);
  const st = store.append('svc', 0, 'w', seq, raws, raws.map((r, i) => decodeRecord(r, i).meta));
  const last = seq + recs.length - 1;
  if (st.durable >= last) return;
  await new Promise<void>((resolve) => {
    const l = {
      onDurable: (d: number): void => {
        if (d < last) return;
        st.listeners.delete(l);
        resolve();
      },
      onFailed: (): void => undefined,
    };
    st.listeners.add(l);
  });
}

async function* storeRecords(store: LogStore): AsyncIterable<Record> {
  for await (const batch of store.readStored('svc')) for (const b of batch) yield recordOfStored(b);
}

/** Frames as the follower applies them: stored bodies of `service`. */
function frames(service: string, firstLsn: number, recs: Record[]): Buffer {
  return encodeStoredBatch(recs.map((r, i) => ({ lsn: firstLsn + i, epoch: 0, seq: firstLsn + i, ids: encodeIds(service, 'w'), record: enc(r) }))).buf;
}

describe('StandbyAdoption', () => {
  it('seeded from the store, then kept current from applied frames: what a full read gives', async () => {
    const { dir, cleanup } = tempDir();
    cleanups.push(cleanup);
    const store = await LogStore.open({ dataDir: dir, durability: 'memory', log: silentLogger() });
    cleanups.push(() => store.close());
    await put(store, 1, [openedRecord(id(1)), dataRecord(id(1), 0, payload(1, 10)), openedRecord(id(2)), openedRecord(id(3))]);
    const source = new EventEmitter();
    const s = StandbyAdoption.start(source, store, 'svc', silentLogger());
    // Applied while the seed read runs: waits, then folds in order after it.
    source.emit('frames', frames('svc', 5, [dataRecord(id(2), 0, payload(2, 7)), closedRecord(id(3))]));
    expect(s.current()).toBeUndefined();
    for (let i = 0; i < 50 && !s.current(); i++) await new Promise((r) => setTimeout(r, 5));
    source.emit('frames', frames('svc', 7, [dataRecord(id(1), 10, payload(3, 5)), openedRecord(id(4))]));
    source.emit('frames', frames('other', 9, [openedRecord(id(9))]));
    const got = s.current()!.result();
    // The same records, read back whole.
    await put(store, 5, [dataRecord(id(2), 0, payload(2, 7)), closedRecord(id(3)), dataRecord(id(1), 10, payload(3, 5)), openedRecord(id(4))]);
    const want = await collectAdoptable(storeRecords(store));
    const byId = (a: { id: string }, b: { id: string }): number => a.id.localeCompare(b.id);
    expect(got.sort(byId)).toEqual(want.sort(byId));
    expect(got.map((c) => [c.id, c.pieces])).toEqual([[id(1), [[0, 15]]], [id(2), [[0, 7]]], [id(4), []]]);
    s.stop();
  });

  it('a frame it cannot read turns it off: the takeover then reads the whole log', async () => {
    const { dir, cleanup } = tempDir();
    cleanups.push(cleanup);
    const store = await LogStore.open({ dataDir: dir, durability: 'memory', log: silentLogger() });
    cleanups.push(() => store.close());
    const source = new EventEmitter();
    const s = StandbyAdoption.start(source, store, 'svc', silentLogger());
    for (let i = 0; i < 50 && !s.current(); i++) await new Promise((r) => setTimeout(r, 5));
    expect(s.current()).toBeDefined();
    const bad = frames('svc', 1, [openedRecord(id(1))]);
    bad[bad.length - 1] = 0xff; // the record no longer decodes
    bad.writeUInt8(9, 8); // nor does the stored body's format
    source.emit('frames', bad);
    expect(s.current()).toBeUndefined();
    expect(source.listenerCount('frames')).toBe(0);
  });
});
