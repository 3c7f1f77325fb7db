// Host failover (issue 8) on a real LAN in namespaces: a bridge; a client, a primary host, a
// secondary host and three NATS JetStream nodes, each a namespace. The primary runs `ftcp run --log
// nats://…` and claims the VIP on the LAN; the secondary runs `ftcp standby`, following the
// replicated log. Mid-stream every process of the primary host is SIGKILLed and its LAN link goes
// down: the standby takes the lease, fences the log, claims the VIP (gratuitous ARP), adopts the
// connections, starts the app and restores them. Clients (Python sockets) see no RST, no lost,
// duplicated or wrong byte. Cases: an unmodified echo server (no shim) with a 50 MB stream, a
// key-value server on the shim, 1000 connections open through the failover.
// Needs `npm run build:ts` (the daemons run from dist/) and Debian's nats-server and arping.
// FTCP_KEEP_LOGS=1 keeps both daemons' logs of every case (else only of a failed one).
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ROOT, netnsExists, runFtcp, sh, sleep, spawnCollect, startFtcp, stopFtcp, type FtcpRunHandle } from '../helpers/host.js';
import { LanTopology } from '../helpers/lan-topology.js';
import { NATS_SERVER, NatsCluster } from '../helpers/nats-cluster.js';

const APPS = join(ROOT, 'test', 'apps');
const EX = join(ROOT, 'examples');
const tag = (process.pid % 10000).toString(36);

let lan: LanTopology | undefined;
let nats: NatsCluster | undefined;
let daemons: FtcpRunHandle[] = [];
const services: string[] = [];
const dirs: string[] = [];

/** One "host" on this machine: its own run dir (control socket, lock), node id and data dir. */
function hostDirs(node: string): { env: NodeJS.ProcessEnv; dataDir: string } {
  const dir = mkdtempSync(join(tmpdir(), `ftcpt-hf-${node}-`));
  dirs.push(dir);
  return { env: { FTCP_NODE: node, FTCP_RUN_DIR: join(dir, 'run') }, dataDir: join(dir, 'data') };
}

beforeAll(async () => {
  if (NATS_SERVER === undefined) return;
  lan = LanTopology.create({ id: `hf${tag}`, hosts: ['client', 'primary', 'secondary', 'nats1', 'nats2', 'nats3'] });
  const natsHosts = ['nats1', 'nats2', 'nats3'];
  nats = await NatsCluster.start({ nodes: 3, hosts: natsHosts.map((h) => lan!.addr(h)), netns: natsHosts.map((h) => lan!.ns(h)), clientPort: 4222, routePort: 6222 });
}, 60_000);

// Each case leaves the LAN as it found it: daemons stopped, the primary's link up again.
afterEach(async () => {
  for (const d of daemons) await stopFtcp(d, 5000).catch(() => undefined);
  daemons = [];
  if (lan) lan.setLinkUp('primary');
});

afterAll(async () => {
  await nats?.stop();
  lan?.destroy();
  for (const svc of services) for (const node of ['p', 's']) if (netnsExists(`ftcp-${node}-${svc}`)) sh('ip', ['netns', 'del', `ftcp-${node}-${svc}`]);
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

interface Pair {
  svc: string;
  vip: string;
  primary: FtcpRunHandle;
  standby: FtcpRunHandle;
  /** The standby host's environment (for `ftcp status` there). */
  standbyEnv: NodeJS.ProcessEnv;
}

/** `ftcp status NAME --json` on the standby host: its failover block. */
async function standbyStatus(p: Pair): Promise<{ role: string; epoch: number; lag: number | null; primary: { epoch: number } | null }> {
  const r = await runFtcp(lan!.netns('secondary'), ['status', p.svc, '--json'], 20_000, p.standbyEnv);
  expect(r.code, r.stderr).toBe(0);
  return (JSON.parse(r.stdout) as { service: { failover: { role: string; epoch: number; lag: number | null; primary: { epoch: number } | null } } }).service.failover;
}

/** A primary (`ftcp run`) and a standby (`ftcp standby`) of service SVC around APP, on the LAN. */
async function startPair(svc: string, vipIndex: number, app: string[], extra: string[] = []): Promise<Pair> {
  services.push(svc);
  const vip = lan!.freeAddr(vipIndex);
  const common = ['--name', svc, '--vip', vip, '--port', '9000', '--log', nats!.target, '--lease-ms', '1000', ...extra];
  const p = hostDirs('p');
  const s = hostDirs('s');
  const primary = await startFtcp(lan!.netns('primary'), ['run', ...common, '--data-dir', p.dataDir, '--', ...app], 60_000, 'info', { env: p.env });
  daemons.push(primary);
  const standby = await startFtcp(lan!.netns('secondary'), ['standby', ...common, '--data-dir', s.dataDir, '--', ...app], 60_000, 'info', {
    env: s.env,
    ready: /standby \(following the log\)/,
  });
  daemons.push(standby);
  return { svc, vip, primary, standby, standbyEnv: s.env };
}

/** The primary host is lost: every process (daemon and app) at once, and its LAN link. */
function killPrimaryHost(p: Pair): number {
  const killed = lan!.killAll('primary', [`ftcp-p-${p.svc}`]);
  expect(killed.length).toBeGreaterThan(1);
  lan!.setLinkDown('primary');
  return Date.now();
}

/** Whole logs for a post-mortem (the tail alone rarely shows where it went wrong). */
function keepLogs(p: Pair, what: string): void {
  const base = join(tmpdir(), `ftcpt-hf-${process.pid}-${what}`);
  writeFileSync(`${base}-primary.log`, p.primary.stderr());
  writeFileSync(`${base}-standby.log`, p.standby.stderr());
  console.error(`host-failover: logs in ${base}-primary.log and ${base}-standby.log`);
}

/** Informational (not a timed assertion): when the standby's daemon restored its last connection. */
function reportRestore(p: Pair, what: string, killedAt: number): void {
  if (process.env.FTCP_KEEP_LOGS !== undefined) keepLogs(p, what);
  const times = p.standby
    .stderr()
    .split('\n')
    .filter((l) => l.includes('"connection restored"'))
    .map((l) => (JSON.parse(l) as { time: number }).time - killedAt)
    .sort((a, b) => a - b);
  if (times.length === 0) return;
  const pct = (q: number): number => times[Math.min(times.length - 1, Math.floor(q * times.length))]!;
  console.log(`host-failover ${what}: ${times.length} connection(s) restored; after the kill p50 ${pct(0.5)} ms, p99 ${pct(0.99)} ms, last ${times.at(-1)} ms`);
}

describe('host failover on a replicated log', () => {
  it('the primary host dies mid-stream: the standby takes over the connection, byte-exact, no RST', async (ctx) => {
    if (!lan || !nats) return ctx.skip();
    const p = await startPair(`he${tag}`, 0, ['python3', join(APPS, 'echo.py'), '9000']);
    // FTCP_HF_PCAP=FILE: what the client's link sees, for a post-mortem of the takeover.
    const pcap = process.env.FTCP_HF_PCAP !== undefined ? lan.spawn('client', 'tcpdump', ['-i', 'lan0', '-s', '128', '-U', '-w', process.env.FTCP_HF_PCAP]) : undefined;
    const bytes = 50 * 1024 * 1024;
    const client = spawnCollect(lan.netns('client'), 'python3', [join(APPS, 'echo_client.py'), p.vip, '9000', String(bytes), '60', String(8 * 1024 * 1024)], 90_000);
    await sleep(2500);
    // `ftcp status` on the secondary: a standby following the log of the primary's epoch.
    const before = await standbyStatus(p);
    expect(before.role).toBe('standby');
    expect(before.primary?.epoch).toBeGreaterThan(0);
    expect(before.lag).not.toBeNull();
    const killedAt = killPrimaryHost(p);

    const out = await client;
    const result = JSON.parse(out.stdout) as { sent: number; received: number; sentSha: string; recvSha: string; error?: string };
    if (result.error || result.recvSha !== result.sentSha) keepLogs(p, 'echo');
    expect(result.error).toBeUndefined();
    expect(result.received).toBe(bytes);
    expect(result.recvSha).toBe(result.sentSha);
    const log = p.standby.stderr();
    expect(log).toContain("the primary's lease expired: taking over");
    expect(log).toContain('adopted connections: every client answered');
    expect(log).toContain('connection restored');
    reportRestore(p, 'echo', killedAt);
    const after = await standbyStatus(p);
    expect(after.role).toBe('primary');
    expect(after.epoch).toBeGreaterThan(before.primary!.epoch);
    pcap?.kill('SIGINT');
  }, 120_000);

  it('a key-value server on the shim: every answer exact through the primary host failing', async (ctx) => {
    if (!lan || !nats) return ctx.skip();
    // A checkpoint every second keeps the replay short.
    const p = await startPair(`hk${tag}`, 1, ['node', join(EX, 'kv-server.mjs'), '9000', '1000']);
    const client = spawnCollect(lan.netns('client'), 'python3', [join(APPS, 'kv_client.py'), p.vip, '9000', '20', '12', '30'], 90_000);
    await sleep(4000);
    const killedAt = killPrimaryHost(p);
    const out = await client;
    if (out.code !== 0) keepLogs(p, 'kv');
    const r = JSON.parse(out.stdout) as { answers: number; rounds: number; errors: string[] };
    expect(r.errors).toEqual([]);
    expect(out.code).toBe(0);
    expect(r.rounds).toBeGreaterThan(20 * 5);
    expect(p.standby.stderr()).not.toMatch(/divergence:/);
    expect(p.standby.stderr()).toContain('adopted connections: every client answered');
    reportRestore(p, 'kv', killedAt);
  }, 120_000);

  it('1000 connections open through a host failover are all recovered', async (ctx) => {
    if (!lan || !nats) return ctx.skip();
    const p = await startPair(`hm${tag}`, 2, ['python3', join(APPS, 'echo.py'), '9000']);
    const go = join(dirs[0]!, `${p.svc}.go`);
    const client = lan.spawn('client', 'python3', [join(APPS, 'many_clients.py'), p.vip, '9000', '1000', go, '90']);
    let out = '';
    client.stdout!.on('data', (d: Buffer) => (out += d.toString()));
    const exited = new Promise<void>((r) => client.once('exit', () => r()));
    for (let i = 0; i < 1200 && !out.includes('"phase"'); i++) await sleep(50);
    expect(JSON.parse(out.split('\n')[0]!)).toEqual({ phase: 'open', ok: 1000 });
    const killedAt = killPrimaryHost(p);
    writeFileSync(go, '');
    await exited;
    const res = JSON.parse(out.trim().split('\n').pop()!) as { ok: number; errorCount: number; errors: string[] };
    if (res.ok !== 1000) keepLogs(p, 'many');
    expect(res.errors).toEqual([]);
    expect(res.ok).toBe(1000);
    reportRestore(p, '1000 connections', killedAt);
  }, 150_000);
});
