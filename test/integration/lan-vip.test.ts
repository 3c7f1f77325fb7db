// The VIP moves between hosts as on a real LAN (issue 8): a bridge, a client, a primary and a
// secondary host, each a namespace. The primary runs `ftcp run --no-log` around an echo server and
// claims the VIP (proxy ARP + gratuitous ARP, src/failover/vip.ts); the client echoes through it.
// Then every process of the primary is SIGKILLed and its LAN link goes down; the secondary starts
// its own `ftcp run` with the same VIP and claims it: the client's ARP entry takes the secondary's
// MAC from the gratuitous ARP alone (no cache expiry awaited) and a new connection is served there.
// Needs `npm run build:ts` (the daemon and the claim script run from dist/).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ROOT, sh, sleep, startFtcp, stopFtcp, type FtcpRunHandle } from '../helpers/host.js';
import { LanTopology, netnsPidsOf } from '../helpers/lan-topology.js';

const ECHO = join(ROOT, 'test', 'apps', 'echo.py');
const CLIENT = join(ROOT, 'test', 'apps', 'echo_client.py');
const VIP_JS = join(ROOT, 'dist', 'failover', 'vip.js');
const LOGGER_JS = join(ROOT, 'dist', 'util', 'logger.js');
const PORT = '9000';
const tag = (process.pid % 10000).toString(36);
const namePrimary = `vp${tag}`;
const nameSecondary = `vs${tag}`;
const nameDaemonClaim = `vd${tag}`;

// Claims the VIP from inside a host namespace the way the daemon will: finds the LAN link, claims,
// prints one JSON line; releases on SIGTERM and prints "released".
const CLAIM_SCRIPT = `
const [vipJs, loggerJs, vip] = process.argv.slice(1);
const { claimVip, lanIfFor } = await import(vipJs);
const { createLogger } = await import(loggerJs);
const log = createLogger('vip-claim', 'info');
const lanIf = await lanIfFor(vip);
const t0 = performance.now();
const claim = await claimVip({ vip, lanIf, log });
console.log(JSON.stringify({ lanIf, outerTun: claim.outerTun, claimMs: performance.now() - t0 }));
claim.announced.then((r) => console.log(JSON.stringify({ announced: r })));
process.on('SIGTERM', async () => { await claim.release(); console.log('released'); process.exit(0); });
setInterval(() => {}, 1 << 30);
`;

// Claim bookkeeping on one host, without daemons: veth pairs stand in for two daemons' TUNs (the
// claim only needs the VIP routed to a device other than the LAN link). Prints one JSON object.
const BOOKKEEPING_SCRIPT = `
const [vipJs, loggerJs, v1, v2, v3] = process.argv.slice(1);
const { claimVip, disownVip } = await import(vipJs);
const { silentLogger } = await import(loggerJs);
const { readFileSync } = await import('node:fs');
const { execFileSync } = await import('node:child_process');
const log = silentLogger();
const ip = (...a) => execFileSync('ip', a, { encoding: 'utf8' });
const rd = (p) => readFileSync('/proc/sys/net/' + p, 'utf8').trim();
const state = () => ({
  fwd: rd('ipv4/conf/lan0/forwarding'), delay: rd('ipv4/neigh/lan0/proxy_delay'), nonlocal: rd('ipv4/ip_nonlocal_bind'),
  proxies: JSON.parse(ip('-j', 'neigh', 'show', 'proxy', 'dev', 'lan0') || '[]').map((r) => r.dst).sort(),
});
const code = async (p) => { try { await p; return 'claimed'; } catch (e) { return e.code ?? e.message; } };
const out = { before: state() };
out.unrouted = await code(claimVip({ vip: v1, lanIf: 'lan0', log }));
out.noLink = await code(claimVip({ vip: v1, lanIf: 'nope0', log }));
out.ipv6 = await code(claimVip({ vip: 'fd00::1', lanIf: 'lan0', log }));
out.afterErrors = state();
for (const [dev, v] of [['tv1', v1], ['tv2', v2]]) {
  ip('link', 'add', dev, 'type', 'veth', 'peer', 'name', dev + 'p');
  ip('link', 'set', dev, 'up'); ip('link', 'set', dev + 'p', 'up');
  ip('route', 'add', v + '/32', 'dev', dev);
}
out.wrongTun = await code(claimVip({ vip: v1, lanIf: 'lan0', outerTun: 'tv2', log }));
const c1 = await claimVip({ vip: v1, lanIf: 'lan0', log });
const c2 = await claimVip({ vip: v2, lanIf: 'lan0', outerTun: 'tv2', log, announceCount: 1 });
out.both = { ...state(), tv1: rd('ipv4/conf/tv1/forwarding'), tv2: rd('ipv4/conf/tv2/forwarding'), outer: [c1.outerTun, c2.outerTun] };
await c1.release();
out.afterFirst = { ...state(), tv1: rd('ipv4/conf/tv1/forwarding'), tv2: rd('ipv4/conf/tv2/forwarding') };
await c2.release();
await c2.release();
out.afterBoth = { ...state(), tv2: rd('ipv4/conf/tv2/forwarding') };
out.announced = [await c1.announced, await c2.announced];
ip('route', 'add', v3 + '/32', 'dev', 'tv1');
ip('link', 'set', 'lan0', 'down');
const c3 = await claimVip({ vip: v3, lanIf: 'lan0', log });
out.linkDown = { announced: await c3.announced, proxies: state().proxies };
await c3.release();
ip('link', 'set', 'lan0', 'up');
await claimVip({ vip: v1, lanIf: 'lan0', log, announceCount: 1 }); // its process "dies": no release
out.leftBehind = state();
out.disowned = [await disownVip({ vip: v1, lanIf: 'lan0', log }), await disownVip({ vip: v1, lanIf: 'lan0', log })];
out.end = state();
console.log(JSON.stringify(out));
`;

// probeVipOwner from a host that is not involved: the MAC answering for the VIP, or null.
const PROBE_SCRIPT = `
const [vipJs, vip] = process.argv.slice(1);
const { probeVipOwner } = await import(vipJs);
console.log(JSON.stringify({ owner: (await probeVipOwner(vip, 'lan0')) ?? null }));
`;

const probeFromSpare = (): string | null =>
  (JSON.parse(lan.exec('spare', process.execPath, ['--input-type=module', '-e', PROBE_SCRIPT, VIP_JS, vip], { timeout: 20_000 })) as { owner: string | null })
    .owner;

interface ClaimProc {
  child: ChildProcess;
  out: () => string;
  err: () => string;
  first: { lanIf: string; outerTun: string; claimMs: number };
}

let lan: LanTopology;
let vip: string;
let runDir: string;
const runDirBefore = process.env.FTCP_RUN_DIR;
const daemons: FtcpRunHandle[] = [];
const claims: ClaimProc[] = [];

function startClaim(host: string): Promise<ClaimProc> {
  const child = lan.spawn(host, process.execPath, ['--input-type=module', '-e', CLAIM_SCRIPT, VIP_JS, LOGGER_JS, vip]);
  let out = '';
  let err = '';
  child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (err += d.toString()));
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`claim in ${host} not done in 15 s; stderr: ${err}`));
    }, 15_000);
    child.stdout!.on('data', () => {
      const line = out.split('\n')[0];
      if (out.includes('\n') && line) {
        clearTimeout(timer);
        const proc: ClaimProc = { child, out: () => out, err: () => err, first: JSON.parse(line) as ClaimProc['first'] };
        claims.push(proc);
        resolve(proc);
      }
    });
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`claim in ${host} exited ${code}; stderr: ${err}`));
    });
  });
}

function echo(bytes: number, to = vip): { sentSha: string; recvSha: string; received: number; error?: string } {
  const out = lan.exec('client', 'python3', [CLIENT, to, PORT, String(bytes), '20'], { timeout: 40_000 });
  return JSON.parse(out) as { sentSha: string; recvSha: string; received: number };
}

/** The client's neighbour entry for the VIP: MAC and state. */
function clientNeigh(): { lladdr?: string; state?: string[] } {
  const rows = JSON.parse(lan.exec('client', 'ip', ['-j', '-4', 'neigh', 'show', 'to', vip, 'dev', 'lan0'])) as {
    lladdr?: string;
    state?: string[];
  }[];
  return rows[0] ?? {};
}

/** Asks the LAN who has the VIP (arping from the client); returns the MACs that answered. */
function whoHasVip(addr = vip): string[] {
  const r = spawnSync('ip', ['netns', 'exec', lan.ns('client'), 'arping', '-c', '1', '-w', '1', '-I', 'lan0', addr], { encoding: 'utf8', timeout: 10_000 });
  return [...r.stdout.matchAll(/reply from \S+ \[([0-9a-fA-F:]+)\]/g)].map((m) => m[1]!.toLowerCase());
}

async function waitFor(what: string, ok: () => boolean, timeoutMs = 5_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!ok()) {
    if (Date.now() > deadline) throw new Error(`${what}: not within ${timeoutMs} ms`);
    await sleep(20);
  }
}

beforeAll(() => {
  if (!existsSync(VIP_JS)) throw new Error(`${VIP_JS} missing: run npm run build:ts first`);
  runDir = mkdtempSync(join(tmpdir(), 'ftcpt-lanvip-'));
  process.env.FTCP_RUN_DIR = runDir; // the daemons' pid files and control sockets
  lan = LanTopology.create({ id: `lv${tag}`, hosts: ['client', 'primary', 'secondary', 'spare'] });
  vip = lan.freeAddr(0);
});

afterAll(async () => {
  for (const c of claims) c.child.kill('SIGKILL');
  for (const d of daemons) await stopFtcp(d, 3_000);
  lan?.destroy();
  for (const n of [namePrimary, nameSecondary, nameDaemonClaim]) {
    const ns = `ftcp-${n}`;
    for (const pid of netnsPidsOf(ns)) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        /* gone */
      }
    }
    if (existsSync(`/var/run/netns/${ns}`)) sh('ip', ['netns', 'del', ns]);
  }
  if (runDir) rmSync(runDir, { recursive: true, force: true });
  if (runDirBefore === undefined) delete process.env.FTCP_RUN_DIR;
  else process.env.FTCP_RUN_DIR = runDirBefore;
});

describe('the VIP moves between hosts on a LAN', () => {
  it('the client reaches the primary, then after the primary host is lost, the secondary', async () => {
    const ftcpArgs = (name: string): string[] => ['run', '--name', name, '--vip', vip, '--port', PORT, '--no-log', '--', 'python3', ECHO, PORT];

    // Primary: daemon + app, then the claim.
    daemons.push(await startFtcp(lan.netns('primary'), ftcpArgs(namePrimary)));
    const cp = await startClaim('primary');
    expect(cp.first.lanIf).toBe('lan0');
    expect(cp.first.outerTun).toBe(`ft-${namePrimary}`);
    const proxied = JSON.parse(lan.exec('primary', 'ip', ['-j', 'neigh', 'show', 'proxy', 'dev', 'lan0'])) as { dst: string }[];
    expect(proxied.map((p) => p.dst)).toContain(vip);
    expect(lan.exec('primary', 'sysctl', ['-n', 'net.ipv4.ip_forward']).trim()).toBe('0'); // per-interface only
    expect(lan.exec('primary', 'sysctl', ['-n', 'net.ipv4.ip_nonlocal_bind']).trim()).toBe('0'); // never opened: the gratuitous ARP binds no socket to the VIP

    const first = echo(200_000);
    expect(first.error).toBeUndefined();
    expect(first.recvSha).toBe(first.sentSha);
    const primaryMac = lan.mac('primary');
    expect(clientNeigh().lladdr).toBe(primaryMac);
    expect(whoHasVip()).toEqual([primaryMac]);
    expect(probeFromSpare()).toBe(primaryMac);

    // The primary host is lost: every process of it (daemon, app, claim), then its LAN link.
    const appPids = netnsPidsOf(`ftcp-${namePrimary}`);
    expect(appPids.length).toBeGreaterThan(0);
    const killed = lan.killAll('primary'); // the app is found as the daemon's descendant
    expect(killed).toEqual(expect.arrayContaining(appPids));
    await waitFor('primary processes gone', () => netnsPidsOf(lan.ns('primary')).length === 0);
    // With the daemon dead its TUN and route are gone: the proxy entry alone answers nothing.
    await waitFor('VIP route gone with the TUN', () => lan.exec('primary', 'ip', ['-4', 'route', 'get', vip]).includes('dev lan0'));
    expect(whoHasVip()).toEqual([]); // link still up, proxy entry still there: nobody answers
    expect(probeFromSpare()).toBeNull();
    lan.setLinkDown('primary');
    expect(clientNeigh().lladdr).toBe(primaryMac); // the client still points at the lost host

    // Secondary: its own daemon with the same VIP, then the claim with gratuitous ARP.
    daemons.push(await startFtcp(lan.netns('secondary'), ftcpArgs(nameSecondary)));
    const secondaryMac = lan.mac('secondary');
    const t0 = performance.now();
    const cs = await startClaim('secondary');
    const tClaimed = performance.now();
    expect(cs.first.outerTun).toBe(`ft-${nameSecondary}`);
    // The client has sent nothing since: only the gratuitous ARP can have changed its entry.
    await waitFor('client ARP entry takes the secondary MAC', () => clientNeigh().lladdr === secondaryMac);
    const moved = clientNeigh();
    const tMoved = performance.now();
    const after = echo(200_000);
    const t1 = performance.now();
    expect(after.error).toBeUndefined();
    expect(after.recvSha).toBe(after.sentSha);
    console.log(
      `lan-vip: claimVip ${cs.first.claimMs.toFixed(1)} ms; claim script start → claimed ${(tClaimed - t0).toFixed(0)} ms` +
        ` → client entry on the secondary's MAC ${(tMoved - tClaimed).toFixed(0)} ms → new connection echoed (200 kB)` +
        ` ${(t1 - tMoved).toFixed(0)} ms; total ${(t1 - t0).toFixed(0)} ms; entry: ${moved.lladdr} ${moved.state?.join(',')}`,
    );

    // All three announcements go out, then release undoes the claim.
    await waitFor('announcements done', () => cs.out().includes('"announced"'), 6_000);
    expect(cs.out()).toMatch(/"announced":\{"ok":true,"sent":3\}/);
    cs.child.kill('SIGTERM');
    await waitFor('released', () => cs.out().includes('released'));
    expect(lan.exec('secondary', 'ip', ['-j', 'neigh', 'show', 'proxy', 'dev', 'lan0']).trim()).toMatch(/^\[?\]?$/);
    expect(lan.exec('secondary', 'sysctl', ['-n', 'net.ipv4.conf.lan0.forwarding']).trim()).toBe('0');
    expect(lan.exec('secondary', 'sysctl', ['-n', 'net.ipv4.neigh.lan0.proxy_delay']).trim()).toBe('80');
    expect(lan.exec('secondary', 'sysctl', ['-n', `net.ipv4.conf.ft-${nameSecondary}.forwarding`]).trim()).toBe('0');
  });

  it('a claim undoes exactly what it did; errors leave nothing behind', () => {
    const [v1, v2, v3] = [lan.freeAddr(1), lan.freeAddr(2), lan.freeAddr(3)];
    const out = JSON.parse(
      lan.exec('spare', process.execPath, ['--input-type=module', '-e', BOOKKEEPING_SCRIPT, VIP_JS, LOGGER_JS, v1, v2, v3], { timeout: 30_000 }),
    ) as Record<string, unknown>;
    const untouched = { fwd: '0', delay: '80', nonlocal: '0', proxies: [] };
    expect(out.before).toEqual(untouched);
    expect(out.unrouted).toBe('not-routed');
    expect(out.noLink).toBe('no-such-link');
    expect(out.ipv6).toBe('unsupported-family');
    expect(out.wrongTun).toBe('not-routed');
    expect(out.afterErrors).toEqual(untouched);
    expect(out.both).toEqual({ fwd: '1', delay: '0', nonlocal: '0', proxies: [v1, v2].sort(), tv1: '1', tv2: '1', outer: ['tv1', 'tv2'] });
    // The LAN link's settings stay while another VIP is still answered for.
    expect(out.afterFirst).toEqual({ fwd: '1', delay: '0', nonlocal: '0', proxies: [v2], tv1: '0', tv2: '1' });
    expect(out.afterBoth).toEqual({ ...untouched, tv2: '0' });
    // Released before the next announcement: stopped, the first one sent.
    expect(out.announced).toEqual([
      { ok: true, sent: 1 },
      { ok: true, sent: 1 },
    ]);
    // LAN link down: the claim holds (the host answers once the link is back), the announcement failed.
    const down = out.linkDown as { announced: { ok: boolean; error?: string }; proxies: string[] };
    expect(down.announced.ok).toBe(false);
    expect(down.announced.error).toMatch(/down/);
    expect(down.proxies).toEqual([v3]);
    // A claim whose process died leaves its entry and settings; disownVip clears them (once).
    expect(out.leftBehind).toEqual({ fwd: '1', delay: '0', nonlocal: '0', proxies: [v1] });
    expect(out.disowned).toEqual([true, false]);
    expect(out.end).toEqual(untouched);
  });

  it('ftcp run --lan-if claims the VIP itself and releases it when stopped', async () => {
    const vipD = lan.freeAddr(5);
    const proxies = (): string[] =>
      (JSON.parse(lan.exec('spare', 'ip', ['-j', 'neigh', 'show', 'proxy', 'dev', 'lan0']) || '[]') as { dst: string }[]).map((p) => p.dst);
    const d = await startFtcp(lan.netns('spare'), ['run', '--name', nameDaemonClaim, '--vip', vipD, '--port', PORT, '--lan-if', 'lan0', '--no-log', '--', 'python3', ECHO, PORT]);
    daemons.push(d);
    expect(proxies()).toContain(vipD);
    const r = echo(100_000, vipD);
    expect(r.error).toBeUndefined();
    expect(r.recvSha).toBe(r.sentSha);
    expect(whoHasVip(vipD)).toEqual([lan.mac('spare')]);
    expect(await stopFtcp(d)).toBe(0);
    expect(proxies()).not.toContain(vipD);
    expect(lan.exec('spare', 'sysctl', ['-n', 'net.ipv4.conf.lan0.forwarding']).trim()).toBe('0');
    expect(whoHasVip(vipD)).toEqual([]);
  });
});
