// The daemon's in-process link to the shim over a real embedded log server (gRPC on a unix socket):
// a durable close intent reaches the wrapper by tuple key before the shim hears it is durable, and
// the end of a `shim-` Append stream is reported; other services and streams are not.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { LogClient } from '../../../src/log/client.js';
import { shimConnId } from '../../../src/log/conn-key.js';
import { startEmbeddedLogServer } from '../../../src/log/embedded.js';
import { CloseIntent_How, type Record } from '../../../src/log/gen/ftcp/v1/log.js';
import { silentLogger } from '../../../src/util/logger.js';
import { linkShim, type ShimSignals } from '../../../src/wrapper/shim-link.js';

const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  while (cleanups.length) await cleanups.pop()!();
});

const TUPLE = '10.0.0.9:40000>9000';

function intent(connId: string, how: CloseIntent_How, serverOffset: number): Record {
  return { connId, kind: { $case: 'closeIntent', value: { how, serverOffset, globalOrder: 7 } } };
}

async function setup(): Promise<{ target: string; seen: string[]; client: (service: string, streamId: string) => LogClient }> {
  const dir = mkdtempSync(join(tmpdir(), 'ftcp-shimlink-'));
  cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
  const srv = await startEmbeddedLogServer({ dataDir: dir, durability: 'memory' });
  cleanups.push(() => srv.close());
  const seen: string[] = [];
  const signals: ShimSignals = {
    closeIntent: (tuple, how, off) => seen.push(`intent ${tuple} ${how} ${off}`),
    shimSessionLost: (streamId) => seen.push(`lost ${streamId}`),
    checkpointStored: () => seen.push('checkpoint'),
  };
  cleanups.push(linkShim({ store: srv.store, server: srv.server, service: 'svc', wrapper: signals, logger: silentLogger() }));
  const client = (service: string, streamId: string): LogClient => {
    const c = new LogClient({ target: srv.target, service, streamId, inProcess: false });
    cleanups.push(() => c.close(1000).catch(() => undefined));
    return c;
  };
  return { target: srv.target, seen, client };
}

async function until(cond: () => boolean): Promise<void> {
  while (!cond()) await new Promise((r) => setTimeout(r, 5));
}

describe('linkShim', () => {
  it('hands durable close intents to the wrapper by tuple key, before the writer hears of durability', async () => {
    const { seen, client } = await setup();
    const c = client('svc', 'shim-1-a');
    const seq = c.append(intent(shimConnId(TUPLE, 3), CloseIntent_How.END, 1234));
    await c.waitDurable(seq);
    expect(seen).toEqual([`intent ${TUPLE} ${CloseIntent_How.END} 1234`]);
    // Another service's intents are not this daemon's.
    const other = client('other', 'shim-2-b');
    await other.waitDurable(other.append(intent(shimConnId(TUPLE, 1), CloseIntent_How.RESET, 0)));
    expect(seen).toHaveLength(1);
  });

  it('reports the end of a shim session, not of other writers', async () => {
    const { seen, client } = await setup();
    const d = client('svc', 'daemon-x');
    await d.waitDurable(d.append(intent(shimConnId(TUPLE, 1), CloseIntent_How.DESTROY, 0)));
    const s = client('svc', 'shim-9-z');
    await s.waitDurable(s.append(intent(shimConnId('10.0.0.9:40001>9000', 1), CloseIntent_How.END, 0)));
    await d.close(1000);
    await s.close(1000);
    await until(() => seen.some((l) => l.startsWith('lost')));
    expect([...new Set(seen.filter((l) => l.startsWith('lost')))]).toEqual(['lost shim-9-z']);
  });

  it('tells the wrapper when a checkpoint of its service is stored (it logs its connection records again)', async () => {
    const { seen, client } = await setup();
    await client('other', 'shim-3-c').checkpoint(Buffer.from('x'), []);
    expect(seen).toEqual([]);
    await client('svc', 'shim-4-d').checkpoint(Buffer.from('x'), []);
    expect(seen).toEqual(['checkpoint']);
  });
});
