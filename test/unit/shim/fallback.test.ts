// Outside `ftcp run` the shim is plain node:net with a one-line warning, so the same app runs in
// development; a half-set environment fails at start with a message that says what to fix.
import { describe, expect, it } from 'vitest';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = join(fileURLToPath(import.meta.url), '..', '..', '..', '..');
const script = `
import { createServer, now, random, checkpoint, isProtected } from 'ftcp/shim';
import * as net from 'node:net';
const server = createServer((s) => s.on('data', (d) => s.end(d)));
server.listen(0, '127.0.0.1', () => {
  const c = net.connect(server.address().port, '127.0.0.1', () => c.write('ping'));
  let got = '';
  c.on('data', (d) => (got += d));
  c.on('close', async () => {
    await checkpoint({ ignored: true });
    console.log(JSON.stringify({ got, protectedRun: isProtected(), now: typeof now(), random: random() < 1 }));
    server.close();
  });
});
`;

function run(env: NodeJS.ProcessEnv) {
  const clean = { ...process.env };
  delete clean.FTCP_LOG_TARGET;
  delete clean.FTCP_SERVICE;
  return spawnSync(process.execPath, ['--input-type=module', '-e', script], { cwd: ROOT, env: { ...clean, ...env }, encoding: 'utf8', timeout: 15_000 });
}

describe('ftcp/shim outside ftcp run', () => {
  it('is plain node:net with a one-line warning', () => {
    const r = run({});
    expect(r.status).toBe(0);
    expect(JSON.parse(r.stdout)).toEqual({ got: 'ping', protectedRun: false, now: 'number', random: true });
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
    expect(r.stderr).toMatch(/^ftcp\/shim: no log to write to/);
  });

  it('fails at start when only half of its environment is set', () => {
    const r = run({ FTCP_LOG_TARGET: 'unix:/nonexistent/logd.sock' });
    expect(r.status).not.toBe(0);
    expect(r.stderr).toMatch(/FTCP_LOG_TARGET is set but FTCP_SERVICE is not/);
  });
});
