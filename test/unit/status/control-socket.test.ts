// The control socket over real Unix sockets in a temp dir: protocol, bad input, socket file life.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, statSync, writeFileSync, existsSync } from 'node:fs';
import { createConnection } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { ControlError, listServices, requestStatus } from '../../../src/status/control-client.js';
import { parseRequest } from '../../../src/status/control-protocol.js';
import { startControlServer, type ControlServer } from '../../../src/status/control-server.js';
import { statusSnapshot } from '../../../src/status/snapshot.js';
import { groupId } from '../../../src/status/socket-path.js';
import { fakeDaemon } from './fake-daemon.js';

const dir = mkdtempSync(join(tmpdir(), 'ftcp-status-'));
const servers: ControlServer[] = [];
afterEach(async () => {
  for (const s of servers.splice(0)) await s.close();
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

async function start(name: string, status: () => unknown = () => statusSnapshot(fakeDaemon().source)): Promise<ControlServer> {
  const s = await startControlServer({ name, status, dir });
  servers.push(s);
  return s;
}

/** Writes raw bytes, half-closes, and returns every response line. */
function exchange(path: string, data: string | Buffer, opts: { end?: boolean } = {}): Promise<string[]> {
  return new Promise((resolve, reject) => {
    const sock = createConnection(path);
    let buf = '';
    sock.setEncoding('utf8');
    sock.on('data', (d: string) => (buf += d));
    sock.on('error', reject);
    sock.on('close', () => resolve(buf.split('\n').filter((l) => l !== '')));
    sock.on('connect', () => {
      sock.write(data);
      if (opts.end ?? true) sock.end();
    });
  });
}

/** A socket file nobody listens on, as a daemon killed with SIGKILL leaves it. */
function staleSocket(path: string): void {
  execFileSync('python3', ['-c', 'import socket,sys; s=socket.socket(socket.AF_UNIX); s.bind(sys.argv[1])', path]);
}

describe('control protocol', () => {
  it('parses requests without throwing', () => {
    expect(parseRequest('{"cmd":"status"}')).toEqual({ ok: true, cmd: 'status' });
    for (const bad of ['', 'status', '[1]', 'null', '42', '{"cmd":1}', '{}', '{"cmd":"reboot"}', '{"cmd":"status"', '\u0000\u00ff']) {
      const r = parseRequest(bad);
      expect(r.ok, bad).toBe(false);
      if (!r.ok) expect(r.error).toMatch(/bad request|unknown command/);
    }
  });

  it('answers status requests, several on one connection, the last one without a newline', async () => {
    const s = await start('web');
    expect(s.path).toBe(join(dir, 'web.sock'));
    const lines = await exchange(s.path, '{"cmd":"status"}\n\n{"cmd":"status"}');
    expect(lines).toHaveLength(2);
    for (const l of lines) expect(JSON.parse(l).service.name).toBe('web');
  });

  it('answers bad input with one error line each and keeps serving', async () => {
    const s = await start('bad');
    const lines = await exchange(s.path, 'hello\n[1,2]\n{"cmd":"nope"}\n{"cmd":"status"}\n');
    expect(lines.map((l) => Object.keys(JSON.parse(l))[0])).toEqual(['error', 'error', 'error', 'version']);
    expect(JSON.parse(lines[2]!).error).toBe('unknown command "nope": known commands are status, capture');
    expect(await requestStatus('bad', { dir })).toMatchObject({ version: 1 });
  });

  it('closes a connection whose line is too long, and keeps serving others', async () => {
    const s = await start('long');
    const lines = await exchange(s.path, Buffer.alloc(200_000, 'x'), { end: false });
    expect(lines).toHaveLength(1);
    expect(JSON.parse(lines[0]!).error).toMatch(/longer than/);
    expect((await requestStatus('long', { dir })).service.name).toBe('web');
  });

  it('answers a client that sends many requests before reading, in order, without queuing them all', async () => {
    const big = { pad: 'x'.repeat(1 << 20) };
    let n = 0;
    const s = await start('flood', () => ({ n: ++n, ...big }));
    const lines = await exchange(s.path, '{"cmd":"status"}\n'.repeat(40));
    expect(lines.map((l) => JSON.parse(l).n)).toEqual(Array.from({ length: 40 }, (_, i) => i + 1));
  });

  it('turns away clients beyond the limit with one line', async () => {
    const s = await startControlServer({ name: 'busy', status: () => ({}), dir, maxClients: 1 });
    servers.push(s);
    const first = createConnection(s.path);
    await new Promise((r) => first.once('connect', r));
    await new Promise((r) => setImmediate(r));
    expect(await exchange(s.path, '{"cmd":"status"}\n')).toEqual(['{"error":"busy: too many control connections"}']);
    first.destroy();
  });

  it('reports a status that throws as an error line, not a crash', async () => {
    await start('boom', () => {
      throw new Error('not ready');
    });
    await expect(requestStatus('boom', { dir })).rejects.toThrow('ftcp service boom: internal error: not ready');
  });

  it('creates the socket 0660, replaces a stale one, refuses a live one or a non-socket, removes it on close', async () => {
    const path = join(dir, 'life.sock');
    staleSocket(path);
    await expect(requestStatus('life', { dir })).rejects.toThrow(`ftcp service life is not running (${path} is left from a daemon that died)`);
    const s = await start('life');
    expect(statSync(path).mode & 0o777).toBe(0o660);
    const gid = groupId('ftcp');
    if (gid !== undefined) expect(statSync(path).gid).toBe(gid);
    await expect(startControlServer({ name: 'life', status: () => ({}), dir })).rejects.toThrow(/in use by another process/);
    await s.close();
    servers.splice(servers.indexOf(s), 1);
    expect(existsSync(path)).toBe(false);
    writeFileSync(join(dir, 'plain.sock'), 'x');
    await expect(startControlServer({ name: 'plain', status: () => ({}), dir })).rejects.toThrow(/is not a socket: remove it/);
    rmSync(join(dir, 'plain.sock'));
  });

  it('names a missing service and lists running ones', async () => {
    await expect(requestStatus('ghost', { dir })).rejects.toThrow(`no ftcp service ghost is running (no ${join(dir, 'ghost.sock')})`);
    await expect(requestStatus('ghost', { dir })).rejects.toBeInstanceOf(ControlError);
    await start('b');
    await start('a');
    writeFileSync(join(dir, 'notsock.sock'), 'x');
    expect(listServices(dir)).toEqual(['a', 'b']);
    rmSync(join(dir, 'notsock.sock'));
    expect(listServices(join(dir, 'missing'))).toEqual([]);
  });
});

describe('groupId', () => {
  it('reads /etc/group format', () => {
    const f = join(dir, 'group');
    writeFileSync(f, 'root:x:0:\nftcp:x:998:alice\nbad:x:zz:\n');
    expect(groupId('ftcp', f)).toBe(998);
    expect(groupId('bad', f)).toBeUndefined();
    expect(groupId('none', f)).toBeUndefined();
    expect(groupId('ftcp', join(dir, 'nofile'))).toBeUndefined();
  });
});
