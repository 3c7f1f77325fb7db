// LogStore ingest, without NATS: what one store's backend wrote (the bytes a replicated backend
// publishes) and its checkpoint, fed to a second store, read back identically under the same
// lsns, epochs, stream ids and seqs — also with a prefix missing (a late follower after a purge).
import { describe, expect, it } from 'vitest';
import type { LogError } from '../../../src/log/errors.js';
import { CheckpointFile, Record, StoredRecord } from '../../../src/log/gen/ftcp/v1/log.js';
import { decodeRecord } from '../../../src/log/record-meta.js';
import { MemorySegments, type SegmentBackend, type WriteResult } from '../../../src/log/segment-files.js';
import { LogStore } from '../../../src/log/store.js';
import { silentLogger } from '../../../src/util/logger.js';
import { closedRecord, dataRecord, openedRecord, payload } from './helpers.js';

const log = silentLogger();

/** A memory backend that remembers every buffer written (what would be published). */
class Capture extends MemorySegments implements SegmentBackend {
  readonly writes: Buffer[] = [];
  // The store writes through writeNow when a backend has it; write() goes through it too.
  override writeNow(buf: Buffer): WriteResult {
    this.writes.push(Buffer.from(buf));
    return super.writeNow(buf);
  }
}

async function put(store: LogStore, epoch: number, stream: string, firstSeq: number, recs: Record[]): Promise<void> {
  const raws = recs.map((r) => Buffer.from(Record.encode(r).finish()));
  const metas = raws.map((r, i) => decodeRecord(r, i).meta);
  const st = store.append('svc', epoch, stream, firstSeq, raws, metas);
  const last = firstSeq + recs.length - 1;
  if (st.durable >= last) return;
  await new Promise<void>((resolve, reject) => {
    const l = { onDurable: (d: number) => d >= last && (st.listeners.delete(l), resolve()), onFailed: (e: LogError) => reject(e) };
    st.listeners.add(l);
  });
}

async function readAll(store: LogStore): Promise<StoredRecord[]> {
  const out: StoredRecord[] = [];
  for await (const batch of store.read('svc')) for (const b of batch) out.push(StoredRecord.decode(b));
  return out;
}

async function primaryWithHistory(): Promise<{ store: LogStore; cap: Capture; ckpt: () => Uint8Array | undefined }> {
  const cap = new Capture(64 * 1024 * 1024);
  const store = LogStore.onBackend(cap, { log });
  let file: Uint8Array | undefined;
  store.setCheckpointPublisher(async (f) => {
    file = f;
  });
  await put(store, 1, 'w', 1, [openedRecord('a'), openedRecord('b')]);
  for (let i = 0; i < 20; i++) await put(store, 1, 'w', 3 + i, [dataRecord(i % 2 ? 'a' : 'b', i * 100, payload(i, 100))]);
  await put(store, 1, 'w', 23, [closedRecord('b'), openedRecord('a')]); // 'a' logged again, as after a checkpoint
  await store.checkpoint('svc', 1, Buffer.from('S'), [{ connId: 'a', clientOffset: 1000, serverOffset: 0 }]);
  await put(store, 2, 'w2', 1, [dataRecord('a', 5000, payload(99, 50))]);
  return { store, cap, ckpt: () => file };
}

describe('LogStore ingest', () => {
  it('a store fed the frames and the checkpoint reads exactly as the original', async () => {
    const p = await primaryWithHistory();
    expect(p.ckpt()).toBeDefined();
    const f = LogStore.onBackend(new MemorySegments(64 * 1024 * 1024), { log });
    const ckptAt = p.cap.writes.length - 1; // the checkpoint was published before the last write
    for (let i = 0; i < p.cap.writes.length; i++) {
      if (i === ckptAt) await f.ingestCheckpoint(CheckpointFile.decode(p.ckpt()!));
      await f.ingestFrames(p.cap.writes[i]!);
    }
    f.raiseEpoch('svc', 2);
    expect(await readAll(f)).toEqual(await readAll(p.store));
    expect(f.stats('svc').lastLsn).toBe(p.store.stats('svc').lastLsn);
    const norm = (c: ReturnType<LogStore['latestCheckpoint']>) => c && { ...c, state: Buffer.from(c.state).toString('hex') };
    expect(norm(f.latestCheckpoint('svc'))).toEqual(norm(p.store.latestCheckpoint('svc')));
    expect(f.currentEpoch('svc')).toBe(2);
    // Ingesting the same frames again adds nothing.
    expect(await f.ingestFrames(p.cap.writes[0]!)).toBe(0);
    // The follower's dedupe marks came along: a resend of w's records is skipped, lsns continue.
    await put(f, 2, 'w', 1, [openedRecord('a')]);
    expect(f.stats('svc').lastLsn).toBe(p.store.stats('svc').lastLsn);
    await put(f, 2, 'w', 25, [dataRecord('a', 6000, payload(1, 10))]);
    expect(f.stats('svc').lastLsn).toBe(p.store.stats('svc').lastLsn + 1);
  });

  it('a late store (prefix purged) starting from the checkpoint reads the same live records', async () => {
    const p = await primaryWithHistory();
    const f = LogStore.onBackend(new MemorySegments(64 * 1024 * 1024), { log });
    // Only the checkpoint and the writes from the first one holding a live record on.
    const live = await readAll(p.store);
    const firstLiveLsn = Math.min(...live.map((r) => r.lsn));
    const writes = p.cap.writes.filter((w) => {
      const lsnOfLastFrame = StoredRecordsLsns(w).at(-1)!;
      return lsnOfLastFrame >= firstLiveLsn;
    });
    expect(writes.length).toBeLessThan(p.cap.writes.length);
    await f.ingestCheckpoint(CheckpointFile.decode(p.ckpt()!));
    for (const w of writes) await f.ingestFrames(w);
    expect(await readAll(f)).toEqual(live);
  });

  it('refuses a batch whose CRC does not match', async () => {
    const p = await primaryWithHistory();
    const f = LogStore.onBackend(new MemorySegments(64 * 1024 * 1024), { log });
    const bad = Buffer.from(p.cap.writes[0]!);
    bad[bad.length - 1]! ^= 0xff;
    await expect(f.ingestFrames(bad)).rejects.toMatchObject({ code: 'DATA_LOSS' });
  });
});

function StoredRecordsLsns(buf: Buffer): number[] {
  const out: number[] = [];
  for (let pos = 0; pos < buf.length; ) {
    const len = buf.readUInt32LE(pos);
    out.push(buf.readUInt32LE(pos + 8 + 4) + buf.readUInt32LE(pos + 8 + 8) * 2 ** 32);
    pos += 8 + len;
  }
  return out;
}
