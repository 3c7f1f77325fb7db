// The daemon itself SIGKILLed mid-stream (the app dies with its network) and started again on the
// same log: the new daemon adopts the open connection from the log, learns from the client where it
// stands, and restores it into the new app. The client (an unmodified Python socket streaming
// through an echo server) sees no RST and reads back exactly what it sent. This is a host takeover
// on one host: the same steps run on a secondary host after the primary is lost (issue 8).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { join } from 'node:path';
import { ROOT, sleep, spawnCollect } from '../helpers/host.js';
import { ProtectedHost } from '../helpers/protected-host.js';

const ECHO = join(ROOT, 'test', 'apps', 'echo.py');
const CLIENT = join(ROOT, 'test', 'apps', 'echo_client.py');
const tag = (process.pid % 10000).toString(36);

let env: ProtectedHost;

beforeAll(() => {
  env = ProtectedHost.create('drs');
});

afterAll(async () => {
  await env?.cleanup();
});

describe('daemon restart on the same log', () => {
  it('a daemon SIGKILLed mid-stream and started again: the connection is adopted and restored, byte-exact', async () => {
    const name = `drs${tag}`;
    const vip = '10.81.0.2';
    const bytes = 12 * 1024 * 1024;
    const first = await env.protect(name, vip, ['python3', ECHO, '9000']);
    const client = spawnCollect(env.host, 'python3', [CLIENT, vip, '9000', String(bytes), '60', String(3 * 1024 * 1024)], 90_000);
    await sleep(1500);
    first.child.kill('SIGKILL');
    await first.exited;
    await sleep(1000); // the client retransmits into nothing meanwhile
    const second = await env.protect(name, vip, ['python3', ECHO, '9000']);
    const out = await client;
    const result = JSON.parse(out.stdout) as { sent: number; received: number; sentSha: string; recvSha: string; error?: string };
    const log = second.stderr();
    if (result.error || result.recvSha !== result.sentSha) {
      console.error(log.split('\n').filter((l) => !l.includes('restoring connections:')).join('\n').slice(-8000));
    }
    expect(result.error).toBeUndefined();
    expect(result.received).toBe(bytes);
    expect(result.recvSha).toBe(result.sentSha);
    expect(log).toContain('connections found open in the log');
    expect(log).toContain('adopted connections: every client answered');
    expect(log).toContain('connection restored');
  });
});
