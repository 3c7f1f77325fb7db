// `ftcp run --no-log`: a real app in its own namespace behind the daemon's two TUNs, real
// clients, cleanup on stop and after a daemon crash. The daemon itself runs in a namespace made
// by the test (its "host"), so nothing touches the machine's own network.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { join } from 'node:path';
import { FTCP, ROOT, TestNetns, netnsExists, runFtcp, sh, startFtcp, stopFtcp, type FtcpRunHandle } from '../helpers/host.js';

const ECHO = join(ROOT, 'test', 'apps', 'echo.py');
const CLIENT = join(ROOT, 'test', 'apps', 'echo_client.py');
const tag = (process.pid % 10000).toString(36);
const nameA = `pa${tag}`;
const nameB = `pb${tag}`;

let host: TestNetns;
const running: FtcpRunHandle[] = [];

beforeAll(() => {
  host = TestNetns.create('run');
});

afterAll(async () => {
  for (const h of running) await stopFtcp(h);
  host?.destroy();
  for (const n of [nameA, nameB]) if (netnsExists(`ftcp-${n}`)) sh('ip', ['netns', 'del', `ftcp-${n}`]);
});

function echoThrough(vip: string, bytes: number): { sentSha: string; recvSha: string; received: number; error?: string } {
  const out = host.exec('python3', [CLIENT, vip, '9000', String(bytes), '20'], { timeout: 60_000 });
  return JSON.parse(out) as { sentSha: string; recvSha: string; received: number };
}

describe('ftcp run --no-log (pass-through)', () => {
  it('relays a TCP stream both ways, byte-exact, and cleans up on SIGTERM', async () => {
    const h = await startFtcp(host, ['run', '--name', nameA, '--vip', '10.77.1.2', '--port', '9000', '--no-log', '--', 'python3', ECHO, '9000']);
    running.push(h);
    expect(h.stdout()).toBe(`ftcp: ${nameA} ready vip=10.77.1.2\n`);
    expect(netnsExists(`ftcp-${nameA}`)).toBe(true);

    const r = echoThrough('10.77.1.2', 4 << 20);
    expect(r.error).toBeUndefined();
    expect(r.received).toBe(4 << 20);
    expect(r.recvSha).toBe(r.sentSha);

    // The app reaches the host side through the same relay.
    const srv = host.spawn('python3', ['-c', 'import socket;s=socket.socket();s.setsockopt(1,2,1);s.bind(("0.0.0.0",9100));s.listen();c,a=s.accept();c.sendall(b"hello "+a[0].encode());c.close()']);
    await new Promise((r) => setTimeout(r, 300));
    const got = sh('ip', ['netns', 'exec', `ftcp-${nameA}`, 'python3', '-c', 'import socket;s=socket.create_connection(("10.77.0.1",9100),timeout=5);print(s.recv(100).decode())']);
    srv.kill();
    expect(got.trim()).toBe('hello 10.77.1.2');

    expect(await stopFtcp(h)).toBe(0);
    expect(netnsExists(`ftcp-${nameA}`)).toBe(false);
    expect(host.exec('ip', ['-o', 'link', 'show', 'type', 'tun'])).toBe('');
    expect(host.exec('ip', ['route', 'show', '10.77.1.2/32'])).toBe('');
  });

  it('runs two instances side by side, one of them IPv6', async () => {
    const a = await startFtcp(host, ['run', '--name', nameA, '--vip', '10.77.2.2', '--port', '9000', '--no-log', '--', 'python3', ECHO, '9000']);
    running.push(a);
    const b = await startFtcp(host, ['run', '--name', nameB, '--vip', 'fd77::2:2', '--port', '9000', '--no-log', '--', 'python3', ECHO, '9000', '6']);
    running.push(b);
    const r4 = echoThrough('10.77.2.2', 1 << 20);
    const r6 = echoThrough('fd77::2:2', 1 << 20);
    expect(r4.recvSha).toBe(r4.sentSha);
    expect(r6.error).toBeUndefined();
    expect(r6.recvSha).toBe(r6.sentSha);
    expect(await stopFtcp(a)).toBe(0);
    expect(await stopFtcp(b)).toBe(0);
    expect(netnsExists(`ftcp-${nameB}`)).toBe(false);
  });

  it('after a daemon crash, the next start cleans up the stale state', async () => {
    const h = await startFtcp(host, ['run', '--name', nameA, '--vip', '10.77.3.2', '--port', '9000', '--no-log', '--', 'python3', ECHO, '9000']);
    h.child.kill('SIGKILL');
    await h.exited;
    expect(netnsExists(`ftcp-${nameA}`)).toBe(true); // left behind, with the orphaned app
    const again = await startFtcp(host, ['run', '--name', nameA, '--vip', '10.77.3.2', '--port', '9000', '--no-log', '--', 'python3', ECHO, '9000']);
    running.push(again);
    expect(again.stderr()).toMatch(/cleaning up state left by an earlier run/);
    const r = echoThrough('10.77.3.2', 1 << 20);
    expect(r.recvSha).toBe(r.sentSha);
    expect(await stopFtcp(again)).toBe(0);
    expect(netnsExists(`ftcp-${nameA}`)).toBe(false);
  });

  it('refuses bad invocations with a one-line error and leaves nothing behind', async () => {
    const unknown = await runFtcp(host, ['run', '--name', nameA, '--port', '9000', '--no-log', '--bogus', '--', 'true']);
    expect(unknown.code).not.toBe(0);
    expect(unknown.stderr.trim().split('\n')).toHaveLength(1);
    expect(unknown.stderr).toMatch(/unknown option '--bogus'/);

    const noPort = await runFtcp(host, ['run', '--name', nameA, '--no-log', '--', 'true']);
    expect(noPort.code).toBe(2);
    expect(noPort.stderr).toMatch(/--port/);

    const h = await startFtcp(host, ['run', '--name', nameA, '--vip', '10.77.4.2', '--port', '9000', '--no-log', '--', 'python3', ECHO, '9000']);
    running.push(h);
    const busy = await runFtcp(host, ['run', '--name', nameA, '--vip', '10.77.5.2', '--port', '9000', '--no-log', '--', 'python3', ECHO, '9000']);
    expect(busy.code).toBe(2);
    expect(busy.stderr.trim()).toMatch(/already running .*pick another --name/);
    const routed = await runFtcp(host, ['run', '--name', nameB, '--vip', '10.77.4.2', '--port', '9000', '--no-log', '--', 'python3', ECHO, '9000']);
    expect(routed.code).toBe(2);
    expect(routed.stderr.trim()).toMatch(/VIP 10.77.4.2 is already routed/);
    expect(netnsExists(`ftcp-${nameB}`)).toBe(false);
    expect(await stopFtcp(h)).toBe(0);

    const appDies = await runFtcp(host, ['run', '--name', nameB, '--vip', '10.77.6.2', '--port', '9000', '--no-log', '--', 'false']);
    expect(appDies.code).toBe(1);
    expect(appDies.stderr).toMatch(/exited \(code 1\) before it listened/);
    expect(netnsExists(`ftcp-${nameB}`)).toBe(false);

    const notRoot = sh('sh', ['-c', `setpriv --reuid=65534 --regid=65534 --clear-groups ${process.execPath} ${FTCP} run --name ${nameB} --port 9000 --no-log -- true 2>&1; echo "exit=$?"`]);
    expect(notRoot).toMatch(/needs root .*sudo/);
    expect(notRoot).toMatch(/exit=2/);
  });
});
