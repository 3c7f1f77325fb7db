// Claims 11 and 13: the log on another host. `ftcp logd` runs in its own namespace (the log host)
// on a LAN address, which it serves only with TLS and a bearer token; `ftcp run --log HOST:PORT`
// in the app's host reaches it with --log-token-file and --log-tls-ca. An echo stream through a
// kill -9 of the app comes back whole; a daemon given a wrong token or no CA stops at start and
// says which flag to fix. The same with a replicated log on a NATS server that wants TLS and a
// token (issue 8's backend, on a secured NATS).
import type { ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { NATS_SERVER } from '../helpers/nats-cluster.js';
import { makeTestCerts } from '../helpers/test-certs.js';
import { FTCP, ROOT, TestNetns, killApp, netnsExists, runFtcp, sh, sleep, spawnCollect, startFtcp, stopFtcp, waitRestarted, type FtcpRunHandle } from '../helpers/host.js';

const APPS = join(ROOT, 'test', 'apps');
const id = process.pid % 10000;
const name = `lr${id.toString(36)}`;
// A /24 of this run's own inside the namespaces: 10.(150..199).(0..255).0.
const NET = `10.${150 + (id % 50)}.${Math.floor(id / 50) % 256}`;
const LOG_ADDR = `${NET}.2`;
const VIP = '10.77.42.2';
let appHost: TestNetns;
let logHost: TestNetns;
let dir: string;
let logd: ChildProcess | undefined;
let nats: ChildProcess | undefined;
let h: FtcpRunHandle | undefined;

async function startLogdIn(ns: TestNetns, args: string[]): Promise<ChildProcess> {
  const proc = ns.spawn(process.execPath, [FTCP, 'logd', ...args]);
  let out = '';
  let err = '';
  proc.stderr!.on('data', (d: Buffer) => (err += d.toString()));
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`logd not ready: ${err}`)), 20_000);
    proc.stdout!.on('data', (d: Buffer) => {
      out += d.toString();
      if (/logd ready/.test(out)) {
        clearTimeout(timer);
        resolve();
      }
    });
    proc.once('exit', (code) => reject(new Error(`logd exited ${code}: ${err}`)));
  });
  return proc;
}

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'ftcp-log-remote-'));
  makeTestCerts(join(dir, 'tls'), [LOG_ADDR]);
  writeFileSync(join(dir, 'token'), 'a-long-enough-bearer-token-for-the-log\n', { mode: 0o600 });
  writeFileSync(join(dir, 'wrong-token'), 'not-the-token-the-log-host-wants\n', { mode: 0o600 });
  appHost = TestNetns.create('lra');
  logHost = TestNetns.create('lrl');
  // The two hosts' LAN: one veth pair.
  const a = `lra${id}`;
  const b = `lrl${id}`;
  sh('ip', ['link', 'add', a, 'netns', appHost.name, 'type', 'veth', 'peer', 'name', b, 'netns', logHost.name]);
  appHost.exec('ip', ['addr', 'add', `${NET}.1/24`, 'dev', a]);
  appHost.exec('ip', ['link', 'set', a, 'up']);
  logHost.exec('ip', ['addr', 'add', `${LOG_ADDR}/24`, 'dev', b]);
  logHost.exec('ip', ['link', 'set', b, 'up']);
  const t = (f: string): string => join(dir, 'tls', f);
  logd = await startLogdIn(logHost, ['--data-dir', join(dir, 'logd'), '--listen', `${LOG_ADDR}:7000`, '--tls-cert', t('srv.crt'), '--tls-key', t('srv.key'), '--token-file', join(dir, 'token')]);
}, 60_000);

afterAll(async () => {
  await stopFtcp(h);
  logd?.kill('SIGKILL');
  nats?.kill('SIGKILL');
  appHost?.destroy(); // the veth pair goes with its namespaces
  logHost?.destroy();
  if (netnsExists(`ftcp-${name}`)) sh('ip', ['netns', 'del', `ftcp-${name}`]);
  rmSync(dir, { recursive: true, force: true });
});

/** SIGKILLs the app of SERVICE and waits until its supervisor has started it again. */
async function killAndWaitRestart(service: string): Promise<void> {
  const old = killApp(service);
  expect(old.length).toBeGreaterThan(0);
  await waitRestarted(service, old);
}

/** A 4 MB echo stream at 1 MB/s to VIP (in the app's host) with the app of SERVICE killed mid-stream: exact. */
async function expectEchoThroughKill(service: string, vip: string): Promise<void> {
  const client = spawnCollect(appHost, 'python3', [join(APPS, 'echo_client.py'), vip, '9000', String(4 << 20), '60', String(1 << 20)], 90_000);
  await sleep(1500);
  await killAndWaitRestart(service);
  const res = await client;
  expect(res.code, res.stdout + res.stderr).toBe(0);
  const r = JSON.parse(res.stdout) as { sent: number; received: number; sentSha: string; recvSha: string };
  expect(r.received).toBe(r.sent);
  expect(r.recvSha).toBe(r.sentSha);
}

const runArgs = (extra: string[]): string[] => [
  'run', '--name', name, '--vip', VIP, '--port', '9000', '--log', `${LOG_ADDR}:7000`, ...extra, '--', 'python3', join(APPS, 'echo.py'), '9000',
];

describe('a log server on another host (TLS and a bearer token)', () => {
  it('a daemon with a wrong token, or without the CA, stops at start naming the flag', async () => {
    const tls = ['--log-tls-ca', join(dir, 'tls', 'ca.crt')];
    const wrong = await runFtcp(appHost, runArgs(['--log-token-file', join(dir, 'wrong-token'), ...tls]), 30_000);
    expect(wrong.code, wrong.stderr).toBe(2);
    expect(wrong.stderr).toMatch(/refused the token: check --log-token-file \S+wrong-token/);
    const noCa = await runFtcp(appHost, runArgs(['--log-token-file', join(dir, 'token')]), 30_000);
    expect(noCa.code, noCa.stderr).toBe(2);
    expect(noCa.stderr).toMatch(/cannot reach the log server at .*if it serves TLS, give its CA with --log-tls-ca/);
    const otherCa = await runFtcp(appHost, runArgs(['--log-token-file', join(dir, 'token'), '--log-tls-ca', join(dir, 'tls', 'other.crt')]), 30_000);
    expect(otherCa.code, otherCa.stderr).toBe(2);
    expect(otherCa.stderr).toMatch(/--log-tls-ca \S+other\.crt/);
    // Said before the app was started.
    for (const r of [wrong, noCa, otherCa]) expect(r.stderr).not.toMatch(/app started/);
    expect(netnsExists(`ftcp-${name}`)).toBe(false);
  }, 120_000);

  it('protects an echo stream through a kill -9 of the app', async () => {
    h = await startFtcp(appHost, runArgs(['--log-token-file', join(dir, 'token'), '--log-tls-ca', join(dir, 'tls', 'ca.crt')]));
    await expectEchoThroughKill(name, VIP);
    await stopFtcp(h);
    expect(h.stderr()).toMatch(/connection restored/);
    expect(h.stderr()).not.toMatch(/refused appends|DeprecationWarning/);
  }, 120_000);
});

describe('a log server on another host, and an app on the shim', () => {
  const kvName = `lk${id.toString(36)}`;
  let hk: FtcpRunHandle | undefined;
  afterAll(async () => {
    await stopFtcp(hk);
    if (netnsExists(`ftcp-${kvName}`)) sh('ip', ['netns', 'del', `ftcp-${kvName}`]);
  });

  it("the shim writes to it through the daemon (the app's namespace has no route to it): every key-value answer exact through kill -9s", async () => {
    hk = await startFtcp(appHost, [
      'run', '--name', kvName, '--vip', '10.77.43.2', '--port', '9000', '--log', `${LOG_ADDR}:7000`,
      '--log-token-file', join(dir, 'token'), '--log-tls-ca', join(dir, 'tls', 'ca.crt'),
      '--', 'node', join(ROOT, 'examples', 'kv-server.mjs'), '9000',
    ]);
    const client = spawnCollect(appHost, 'python3', [join(APPS, 'kv_client.py'), '10.77.43.2', '9000', '20', '8', '30'], 90_000);
    for (let k = 0; k < 2; k++) {
      await sleep(2500);
      await killAndWaitRestart(kvName);
    }
    const res = await client;
    expect(res.code, res.stdout + res.stderr).toBe(0);
    await stopFtcp(hk);
    expect(hk.stderr()).toMatch(/the app's shim reaches the log server through this daemon/);
    expect(hk.stdout() + hk.stderr()).not.toMatch(/refused|UNAUTHENTICATED|cannot read/);
  }, 120_000);
});

describe('a replicated log on a NATS server with TLS and a token', () => {
  const natsName = `ln${id.toString(36)}`;
  const NATS_VIP = `${NET}.100`; // on the LAN, where a nats:// primary claims it
  const natsRun = (extra: string[]): string[] => [
    'run', '--name', natsName, '--vip', NATS_VIP, '--port', '9000', '--log', `nats://${LOG_ADDR}:4222`, '--replicas', '1', ...extra, '--', 'python3', join(APPS, 'echo.py'), '9000',
  ];
  let hn: FtcpRunHandle | undefined;

  beforeAll(async () => {
    if (!NATS_SERVER) return;
    const t = (f: string): string => join(dir, 'tls', f);
    writeFileSync(join(dir, 'nats-token'), 'nats-token-for-ftcp\n', { mode: 0o600 });
    nats = logHost.spawn(NATS_SERVER, ['-js', '-sd', join(dir, 'nats'), '-a', LOG_ADDR, '-p', '4222', '--tls', '--tlscert', t('srv.crt'), '--tlskey', t('srv.key'), '--auth', 'nats-token-for-ftcp']);
    for (let i = 0; i < 100; i++) {
      if (/:4222\b/.test(logHost.exec('ss', ['-Hltn']))) break;
      await sleep(100);
    }
  }, 30_000);

  afterAll(async () => {
    await stopFtcp(hn);
    if (netnsExists(`ftcp-${natsName}`)) sh('ip', ['netns', 'del', `ftcp-${natsName}`]);
  });

  it('a wrong token or an unknown CA stops the daemon at start, naming the flag', async (ctx) => {
    if (!NATS_SERVER) return ctx.skip();
    const ca = ['--log-tls-ca', join(dir, 'tls', 'ca.crt')];
    const wrong = await runFtcp(appHost, natsRun(['--log-token-file', join(dir, 'wrong-token'), ...ca]), 30_000);
    expect(wrong.code, wrong.stderr).toBe(2);
    expect(wrong.stderr).toMatch(/NATS at .* refused the credentials .*--log-token-file \S+wrong-token/);
    const otherCa = await runFtcp(appHost, natsRun(['--log-token-file', join(dir, 'nats-token'), '--log-tls-ca', join(dir, 'tls', 'other.crt')]), 30_000);
    expect(otherCa.code, otherCa.stderr).toBe(2);
    expect(otherCa.stderr).toMatch(/TLS .*--log-tls-ca \S+other\.crt/);
  }, 90_000);

  it('protects an echo stream through a kill -9 of the app', async (ctx) => {
    if (!NATS_SERVER) return ctx.skip();
    hn = await startFtcp(appHost, natsRun(['--log-token-file', join(dir, 'nats-token'), '--log-tls-ca', join(dir, 'tls', 'ca.crt')]), 40_000);
    await expectEchoThroughKill(natsName, NATS_VIP);
    await stopFtcp(hn);
    expect(hn.stderr()).toMatch(/primary lease taken/);
    expect(hn.stderr()).toMatch(/connection restored/);
  }, 120_000);
});
