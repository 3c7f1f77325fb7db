// Checkpoint positions apply by tuple key: a position naming the shim's connection id covers the
// daemon's records of the same 4-tuple too (and the reverse), never another tuple's.
import { afterEach, describe, expect, it } from 'vitest';
import { daemonConnId, shimConnId } from '../../../src/log/conn-key.js';
import { Record, StoredRecord } from '../../../src/log/gen/ftcp/v1/log.js';
import { Kind, decodeRecord } from '../../../src/log/record-meta.js';
import { checkpointRetention, isLive } from '../../../src/log/retention.js';
import { LogStore } from '../../../src/log/store.js';
import { silentLogger } from '../../../src/util/logger.js';
import { dataRecord, openedRecord, payload } from './helpers.js';

const T1 = '10.0.0.9:40000>9000';
const T2 = '10.0.0.9:40001>9000';
const D1 = daemonConnId(T1, 4294967040);
const S1 = shimConnId(T1, 1);
const D2 = daemonConnId(T2, 77);

const stores: LogStore[] = [];
afterEach(async () => {
  while (stores.length) await stores.pop()!.close();
});

function chunks(connId: string, offset: number, lengths: number[]): Record {
  return { connId, kind: { $case: 'shimChunks', value: { offset, lengths, globalOrder: 0 } } };
}

function progress(connId: string, sndMax: number): Record {
  return { connId, kind: { $case: 'serverProgress', value: { sndUna: sndMax, sndMax, lastTsval: 0, finSent: false, hashes: [{ offset: 0, length: sndMax, hash: new Uint8Array(4) }] } } };
}

async function put(store: LogStore, stream: string, firstSeq: number, recs: Record[]): Promise<void> {
  const raws = recs.map((r) => Buffer.from(Record.encode(r).finish()));
  store.append('svc', 0, stream, firstSeq, raws, raws.map((r, i) => decodeRecord(r, i).meta));
  await store.flushed();
}

async function readAll(store: LogStore, connId?: string): Promise<Record[]> {
  const out: Record[] = [];
  for await (const batch of store.read('svc', connId ? { connId } : {})) for (const b of batch) out.push(Record.decode(StoredRecord.decode(b).record));
  return out;
}

describe('retention by tuple key', () => {
  it('a position under the shim id covers the daemon id of the same tuple (pure)', () => {
    const ckpt = checkpointRetention(100, [{ connId: S1, clientOffset: 50, serverOffset: 20 }]);
    const open = { closed: false, lastProgressLsn: 90, lastOpenedLsn: 1 };
    expect(isLive(Kind.ClientData, 2, 50, T1, open, ckpt)).toBe(false);
    expect(isLive(Kind.ClientData, 2, 51, T1, open, ckpt)).toBe(true);
    expect(isLive(Kind.ShimChunks, 3, 40, T1, open, ckpt)).toBe(false);
    expect(isLive(Kind.ServerProgress, 80, 20, T1, open, ckpt)).toBe(false);
    expect(isLive(Kind.ServerProgress, 90, 20, T1, open, ckpt)).toBe(true); // the newest stays
    expect(isLive(Kind.ClientData, 2, 1, T2, open, ckpt)).toBe(true); // another tuple
    expect(isLive(Kind.ClientData, 101, 1, T1, open, ckpt)).toBe(true); // after the checkpoint
    // The reverse: a daemon id in the checkpoint covers the shim's records.
    const byDaemon = checkpointRetention(100, [{ connId: D1, clientOffset: 50, serverOffset: 0 }]);
    expect(isLive(Kind.ShimChunks, 3, 40, T1, open, byDaemon)).toBe(false);
  });

  it('the store drops both wrappers\' records below the position and keeps the rest', async () => {
    const store = await LogStore.open({ durability: 'memory', log: silentLogger() });
    stores.push(store);
    await put(store, 'daemon', 1, [
      openedRecord(D1),
      openedRecord(D2),
      dataRecord(D1, 0, payload(1, 100)),
      dataRecord(D1, 100, payload(2, 100)),
      dataRecord(D2, 0, payload(3, 100)),
      progress(D1, 10),
      progress(D1, 30),
    ]);
    await put(store, 'shim-1-x', 1, [chunks(S1, 0, [60, 40]), chunks(S1, 100, [100])]);
    const before = store.stats('svc').records;
    await store.checkpoint('svc', 0, Buffer.from('state'), [{ connId: S1, clientOffset: 100, serverOffset: 30 }]);
    const after = store.stats('svc').records;
    // Gone: D1's first data record, S1's first chunk record, D1's older progress record.
    expect(before - after).toBe(3);
    const d1 = await readAll(store, D1);
    expect(d1.map((r) => r.kind?.$case)).toEqual(['opened', 'clientData', 'serverProgress']);
    expect(d1[1]!.kind?.$case === 'clientData' && d1[1]!.kind.value.offset).toBe(100);
    expect((await readAll(store, S1)).map((r) => r.kind?.$case === 'shimChunks' && r.kind.value.offset)).toEqual([100]);
    expect((await readAll(store, D2)).map((r) => r.kind?.$case)).toEqual(['opened', 'clientData']);
    // Records after the checkpoint are live whatever their offset.
    await put(store, 'daemon', 8, [dataRecord(D1, 0, payload(4, 10))]);
    expect(store.stats('svc').records).toBe(after + 1);
  });
});
