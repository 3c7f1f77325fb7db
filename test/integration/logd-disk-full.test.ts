// A full disk under `ftcp logd`: a small tmpfs mounted by the test. Appends fail with
// RESOURCE_EXHAUSTED, nothing acknowledged is lost, reads keep working, and the writer's records
// all become durable by themselves once space is freed.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, statfsSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as grpc from '@grpc/grpc-js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LogClient } from '../../src/log/client.js';
import { dataRecord, payload } from '../unit/log/helpers.js';
import { ensureBuilt, killAllLogd, startLogd } from '../unit/log/logd-process.js';

const mnt = mkdtempSync(join(tmpdir(), 'ftcp-logd-full-'));
let mounted = false;
const clients: LogClient[] = [];

beforeAll(() => {
  ensureBuilt();
  execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=4m,mode=0700', 'tmpfs', mnt]);
  mounted = true;
}, 300_000);

afterAll(async () => {
  for (const c of clients) await c.close(500).catch(() => {});
  killAllLogd();
  if (mounted) {
    try {
      execFileSync('umount', [mnt]);
    } catch {
      execFileSync('umount', ['-l', mnt]);
    }
  }
  rmSync(mnt, { recursive: true, force: true });
});

function free(): number {
  const s = statfsSync(mnt);
  return s.bavail * s.bsize;
}

describe('ftcp logd on a full disk', () => {
  it('fails appends with RESOURCE_EXHAUSTED, keeps reads, and recovers when space returns', async () => {
    const data = join(mnt, 'data');
    const logd = await startLogd(['--data-dir', data, '--segment-mb', '1']);
    const target = logd.listen[0]!;
    const writer = new LogClient({ target, service: 'svc', reconnectMinMs: 20, reconnectMaxMs: 200 });
    const reader = new LogClient({ target, service: 'svc' });
    clients.push(writer, reader);
    const SIZE = 4000;
    // Some records while there is room.
    for (let i = 1; i <= 50; i++) writer.append(dataRecord('c', (i - 1) * SIZE, payload(i, SIZE)));
    await writer.waitDurable();
    // Leave ~200 KiB free, then write ~600 KiB.
    writeFileSync(join(mnt, 'filler'), Buffer.alloc(Math.max(0, free() - 200 * 1024)));
    const disconnects: grpc.ServiceError[] = [];
    const full = new Promise<grpc.ServiceError>((resolve) =>
      writer.on('disconnect', (e: grpc.ServiceError) => {
        disconnects.push(e);
        if (e.code === grpc.status.RESOURCE_EXHAUSTED) resolve(e);
      }),
    );
    const N = 200;
    for (let i = 51; i <= N; i++) writer.append(dataRecord('c', (i - 1) * SIZE, payload(i, SIZE)));
    const err = await full;
    expect(err.details).toMatch(/disk full \(ENOSPC\)/);
    const durableWhileFull = writer.durableSeq;
    expect(durableWhileFull).toBeLessThan(N);
    expect(durableWhileFull).toBeGreaterThanOrEqual(50);

    // Reads keep working and show exactly the acknowledged prefix (or more, never less).
    let n = 0;
    for await (const x of reader.read({ skipCheckpoint: true })) if (x.type === 'record') n++;
    expect(n).toBeGreaterThanOrEqual(durableWhileFull);
    expect((await reader.stats('svc')).writeErrors).toBeGreaterThan(0);

    // Free the space: the writer's retries go through without any help.
    rmSync(join(mnt, 'filler'));
    await writer.waitDurable(N);
    const seqs: number[] = [];
    for await (const x of reader.read({ skipCheckpoint: true })) {
      if (x.type !== 'record' || x.record.kind?.$case !== 'clientData') continue;
      seqs.push(x.seq);
      if (Buffer.compare(x.record.kind.value.data, payload(x.seq, SIZE)) !== 0) throw new Error(`seq ${x.seq}: bytes differ`);
    }
    expect(seqs).toEqual(Array.from({ length: N }, (_, i) => i + 1));
    expect(logd.stderr()).toMatch(/disk full/);
    logd.proc.kill('SIGTERM');
    expect(await logd.exited).toBe(0);
  });
});
