// The restore's checkpoint source: the embedded store's latest checkpoint read in-process
// (synchronously), or the same checkpoint over gRPC when the log server is elsewhere.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { LogClient } from '../../../src/log/client.js';
import { startEmbeddedLogServer } from '../../../src/log/embedded.js';
import { checkpointSource } from '../../../src/wrapper/checkpoint-source.js';

const cleanups: (() => Promise<unknown> | void)[] = [];
afterEach(async () => {
  while (cleanups.length) await cleanups.pop()!();
});

describe('checkpointSource', () => {
  it('gives the latest checkpoint in-process and over gRPC, undefined before any', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'ftcp-ckptsrc-'));
    cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
    const srv = await startEmbeddedLogServer({ dataDir: dir, durability: 'memory' });
    cleanups.push(() => srv.close());
    const client = new LogClient({ target: srv.target, service: 'svc', inProcess: false });
    cleanups.push(() => client.close(1000).catch(() => undefined));
    const local = checkpointSource(client, srv.target);
    const remote = checkpointSource(client, undefined);
    expect(local.latest()).toBeUndefined();
    expect(await remote.latest()).toBeUndefined();
    await client.checkpoint(Buffer.from('S1'), [{ connId: '10.0.0.9:40000>9000#1', clientOffset: 10, serverOffset: 20 }]);
    const sync = local.latest();
    expect(sync).not.toBeInstanceOf(Promise);
    const here = await sync;
    const there = await remote.latest();
    for (const c of [here, there]) {
      expect(Buffer.from(c!.state).toString()).toBe('S1');
      expect(c!.positions).toEqual([{ connId: '10.0.0.9:40000>9000#1', clientOffset: 10, serverOffset: 20 }]);
    }
  });
});
