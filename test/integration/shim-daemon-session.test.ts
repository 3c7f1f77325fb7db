// The shim's session as a crash signal, with a real writer process: when a process holding a
// `shim-` Append stream on the embedded log server is SIGKILLed, the kernel closes its socket and
// the daemon's link reports the session lost (the wrapper then checks the app's liveness).
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { startEmbeddedLogServer } from '../../src/log/embedded.js';
import { silentLogger } from '../../src/util/logger.js';
import { linkShim } from '../../src/wrapper/shim-link.js';
import { ROOT, sleep } from '../helpers/host.js';

const cleanups: (() => Promise<unknown> | void)[] = [];
afterEach(async () => {
  while (cleanups.length) await cleanups.pop()!();
});

// A writer in another process, as the shim is: appends one record, says so, then waits to be killed.
const WRITER = `
const { LogClient } = await import(process.argv[1] + '/dist/log/client.js');
const c = new LogClient({ target: process.argv[2], service: 'svc', streamId: 'shim-' + process.pid + '-k' });
await c.waitDurable(c.append({ connId: '10.0.0.9:40002>9000#1', kind: { $case: 'shimAccept', value: { acceptOrder: 1, globalOrder: 1 } } }));
process.stdout.write('durable\\n');
setInterval(() => {}, 1000);
`;

describe('shim session', () => {
  it('a SIGKILLed writer process is reported as a lost shim session', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'ftcp-shimsess-'));
    cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
    const srv = await startEmbeddedLogServer({ dataDir: dir, durability: 'memory' });
    cleanups.push(() => srv.close());
    const lost: string[] = [];
    const intents: string[] = [];
    cleanups.push(
      linkShim({
        store: srv.store,
        server: srv.server,
        service: 'svc',
        wrapper: { closeIntent: (t) => intents.push(t), shimSessionLost: (id) => lost.push(id), checkpointStored: () => {} },
        logger: silentLogger(),
      }),
    );
    const child = spawn(process.execPath, ['--input-type=module', '-e', WRITER, ROOT, srv.target], { stdio: ['ignore', 'pipe', 'inherit'] });
    cleanups.push(() => void child.kill('SIGKILL'));
    await new Promise<void>((resolve) => child.stdout.on('data', (d: Buffer) => d.toString().includes('durable') && resolve()));
    expect(lost).toEqual([]);
    child.kill('SIGKILL');
    while (lost.length === 0) await sleep(10);
    expect(lost[0]).toBe(`shim-${child.pid}-k`);
    expect(intents).toEqual([]);
  });
});
