// The primary's lease (src/failover/lease.ts) on a real 3-node nats-server cluster on loopback:
// take, renew, expiry after the holder dies (SIGKILL), the zombie rule for a paused holder
// (SIGSTOP past the ttl), release, and the loss of one NATS node. Holders that must die or pause
// are child processes (test/apps/lease_holder.mjs, on the compiled module); standbys run here.
// Every process prints times as performance.timeOrigin + performance.now(), one machine clock.
// FTCP_KEEP_NATS=1 keeps the nodes' configs, logs and data for a post-mortem.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connect } from '@nats-io/transport-node';
import { jetstreamManager } from '@nats-io/jetstream';
import { Kvm } from '@nats-io/kv';
import { Lease, leaseBucketName, type LeaseLoss } from '../../src/failover/lease.js';
import { silentLogger } from '../../src/util/logger.js';
import { NATS_SERVER, NatsCluster } from '../helpers/nats-cluster.js';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const HOLDER = join(ROOT, 'test', 'apps', 'lease_holder.mjs');
const TTL_MS = 1000;
const POLL_MS = 100;
/** Longer than a stream leader election on nats-server 2.9 (4–9 s seen here). */
const LONG_TTL_MS = 15_000;

let cluster: NatsCluster | undefined;
const leases: Lease[] = [];
const children: ChildProcess[] = [];
let serviceNo = 0;

const wallNow = (): number => performance.timeOrigin + performance.now();
const newService = (): string => `t${process.pid}x${++serviceNo}`;

beforeAll(async () => {
  // Other modules may not typecheck yet; tsc still emits ours, which the holder process loads.
  spawnSync('npm', ['run', 'build:ts'], { cwd: ROOT, stdio: 'ignore', timeout: 300_000 });
  if (!existsSync(join(ROOT, 'dist', 'failover', 'lease.js'))) throw new Error('dist/failover/lease.js missing after npm run build:ts');
  cluster = await NatsCluster.start({ nodes: 3 });
}, 360_000);

afterAll(async () => {
  for (const c of children) if (c.exitCode === null && c.signalCode === null) {
    c.kill('SIGCONT');
    c.kill('SIGKILL');
  }
  await Promise.all(leases.map((l) => l.close().catch(() => undefined)));
  await cluster?.stop();
});

const serviceOf = new Map<Lease, string>();

async function openLease(service: string, id: string, ttlMs = TTL_MS): Promise<Lease> {
  const l = await Lease.open({ servers: cluster!.urls, service, ttlMs, pollMs: POLL_MS, holder: { id, host: hostname() }, log: silentLogger() });
  leases.push(l);
  serviceOf.set(l, service);
  return l;
}

interface HolderEvent {
  ev: string;
  t: number;
  epoch?: number;
  continues?: number;
  deadline?: number;
  validNow?: boolean;
  loss?: LeaseLoss;
  err?: string;
}

interface Holder {
  proc: ChildProcess;
  events: HolderEvent[];
  /** Resolves with the nth (default first) event named `ev` (bounded). */
  waitFor(ev: string, timeoutMs?: number, nth?: number): Promise<HolderEvent>;
}

function spawnHolder(service: string, id: string): Holder {
  const cfg = { servers: cluster!.urls, service, ttlMs: TTL_MS, pollMs: POLL_MS, id };
  const proc = spawn(process.execPath, [HOLDER, JSON.stringify(cfg)], { stdio: ['pipe', 'pipe', 'inherit'] });
  children.push(proc);
  const events: HolderEvent[] = [];
  const waiters: (() => void)[] = [];
  createInterface({ input: proc.stdout! }).on('line', (line) => {
    try {
      events.push(JSON.parse(line) as HolderEvent);
    } catch {
      return;
    }
    for (const w of waiters.splice(0)) w();
  });
  const waitFor = async (ev: string, timeoutMs = 20_000, nth = 1): Promise<HolderEvent> => {
    const give = Date.now() + timeoutMs;
    for (;;) {
      const hit = events.filter((e) => e.ev === ev)[nth - 1];
      if (hit) return hit;
      if (proc.exitCode !== null) throw new Error(`holder exited (${proc.exitCode}) before '${ev}': ${JSON.stringify(events)}`);
      if (Date.now() > give) throw new Error(`holder: no '${ev}' within ${timeoutMs} ms: ${JSON.stringify(events)}`);
      await Promise.race([new Promise<void>((r) => waiters.push(r)), sleep(200)]);
    }
  };
  return { proc, events, waitFor };
}

function killed(proc: ChildProcess): Promise<void> {
  return new Promise((r) => (proc.exitCode !== null || proc.signalCode !== null ? r() : proc.once('exit', () => r())));
}

/** acquire() with a bound, so a broken lease fails the test instead of hanging it. */
async function acquireWithin(l: Lease, ms: number): Promise<{ epoch: number; at: number }> {
  const epoch = await l.acquire(AbortSignal.timeout(ms));
  return { epoch, at: wallNow() };
}

describe.skipIf(NATS_SERVER === undefined)('lease on a 3-node JetStream cluster', () => {
  it('is taken once, renewals keep its epoch, a second lease cannot take it; concurrent bucket creation works', async () => {
    const service = newService();
    // Both create the bucket at the same moment.
    const [a, b] = await Promise.all([openLease(service, 'a'), openLease(service, 'b')]);
    const lost: LeaseLoss[] = [];
    a.on('lost', (x) => lost.push(x));
    const epoch = await a.tryAcquire();
    expect(epoch).toBeGreaterThan(0);
    expect(a.held).toBe(true);
    expect(a.valid()).toBe(true);
    expect(await b.tryAcquire()).toBeUndefined();

    // b polls for three lease times while a renews.
    const bTry = b.acquire(AbortSignal.timeout(3 * TTL_MS)).then(() => 'acquired', () => 'still held');
    expect(await bTry).toBe('still held');
    expect(lost).toEqual([]);
    expect(a.epoch).toBe(epoch);
    expect(a.held).toBe(true);
    expect(a.stats.renewals).toBeGreaterThanOrEqual(3);
    const seen = await b.peek();
    expect(seen).toMatchObject({ holder: 'a', host: hostname(), pid: process.pid, epoch });
    console.log(`lease: epoch ${epoch}, ${a.stats.renewals} renewals in ${3 * TTL_MS} ms, ${a.stats.failedRenewals} failed; peek age ${seen?.ageMs} ms`);

    const conn = await connect({ servers: cluster!.urls });
    try {
      const si = await (await jetstreamManager(conn)).streams.info(`KV_${leaseBucketName(service)}`);
      expect(si.config.num_replicas).toBe(3);
      expect(si.config.max_msgs_per_subject).toBe(1);
    } finally {
      await conn.close();
    }
    await a.release();
    expect(a.held).toBe(false);
    expect(a.valid()).toBe(false);
  });

  it('a killed holder is replaced by the standby with a higher epoch (5 runs: kill → acquire)', async () => {
    const service = newService();
    const standby = await openLease(service, 'standby');
    const gaps: number[] = [];
    for (let run = 0; run < 5; run++) {
      const holder = spawnHolder(service, `holder${run}`);
      const { epoch: held } = await holder.waitFor('acquired');
      expect(standby.held).toBe(false);
      const taking = acquireWithin(standby, 20_000);
      let early = false;
      void taking.then(() => (early = true), () => undefined);
      // The standby polls while the holder renews; the kill lands anywhere in a renewal period.
      await sleep(1.5 * TTL_MS + Math.random() * (TTL_MS / 3));
      expect(early).toBe(false);
      const killedAt = wallNow();
      holder.proc.kill('SIGKILL');
      const { epoch, at } = await taking;
      await killed(holder.proc);
      expect(epoch).toBeGreaterThan(held!);
      expect(standby.valid()).toBe(true);
      gaps.push(Math.round(at - killedAt));
      await standby.release();
    }
    console.log(`lease takeover after SIGKILL of the holder (R3, ttl ${TTL_MS} ms, poll ${POLL_MS} ms): ${gaps.join(', ')} ms`);
  });

  it('a holder paused past the ttl is suspended before the standby takes over, then loses (never resumes)', async () => {
    const service = newService();
    const holder = spawnHolder(service, 'paused');
    const { epoch: held } = await holder.waitFor('acquired');
    const standby = await openLease(service, 'standby');
    await sleep(TTL_MS / 2);
    holder.proc.kill('SIGSTOP');
    const stoppedAt = wallNow();
    // The standby polls here so the comparison below uses the time its winning create was SENT:
    // the holder must have been invalid before the request that took the lease even left.
    let epoch: number | undefined;
    let acquiredAt = 0;
    for (let i = 0; epoch === undefined; i++) {
      if (i > 200) throw new Error('standby did not acquire within 200 polls');
      acquiredAt = wallNow();
      epoch = await standby.tryAcquire();
      if (epoch === undefined) await sleep(POLL_MS);
    }
    expect(epoch).toBeGreaterThan(held!);
    await sleep(TTL_MS / 2);
    holder.proc.kill('SIGCONT');
    const lostEv = await holder.waitFor('lost');
    await sleep(TTL_MS); // room for a wrong 'resumed'
    const after = holder.events.filter((e) => e.ev !== 'error' && e.t >= stoppedAt - 1).map((e) => e.ev);
    const suspended = holder.events.find((e) => e.ev === 'suspended');
    console.log(
      `paused holder: stopped ${Math.round(stoppedAt)}, suspended at its deadline ${Math.round(suspended?.deadline ?? NaN)} ` +
        `(${Math.round((suspended?.deadline ?? NaN) - stoppedAt)} ms after the stop), standby sent its winning create ${Math.round(acquiredAt)} ` +
        `(${Math.round(acquiredAt - (suspended?.deadline ?? NaN))} ms after the deadline); holder events: ${after.join(' ')}`,
    );
    expect(after).toEqual(['suspended', 'lost']);
    expect(suspended!.deadline!).toBeLessThan(acquiredAt);
    expect(lostEv.validNow).toBe(false);
    expect(lostEv.loss).toMatchObject({ holder: 'standby', epoch });
    expect(holder.events.some((e) => e.ev === 'resumed')).toBe(false);
    holder.proc.kill('SIGKILL');
    await killed(holder.proc);
    await standby.release();
  });

  it('a holder that lost to nobody takes the lease again and learns whether anyone held it meanwhile', async () => {
    const service = newService();
    const holder = spawnHolder(service, 'comeback');
    const { epoch: first } = await holder.waitFor('acquired');
    // Paused past the ttl, nobody polling: the key expires unused.
    holder.proc.kill('SIGSTOP');
    await sleep(2.5 * TTL_MS);
    holder.proc.kill('SIGCONT');
    expect((await holder.waitFor('lost')).loss).toEqual({}); // holder, host, epoch undefined
    holder.proc.stdin!.write('take\n');
    const again = await holder.waitFor('take');
    expect(again.epoch).toBeGreaterThan(first!);
    expect(again.continues).toBe(first);

    // Paused again; this time a standby takes the lease and releases it before the holder wakes.
    holder.proc.kill('SIGSTOP');
    const standby = await openLease(service, 'standby');
    const { epoch: between } = await acquireWithin(standby, 20_000);
    await standby.release();
    holder.proc.kill('SIGCONT');
    expect((await holder.waitFor('lost', 20_000, 2)).loss).toEqual({}); // the key was deleted: nobody holds it
    holder.proc.stdin!.write('take\n');
    const third = await holder.waitFor('take', 20_000, 2);
    expect(third.epoch).toBeGreaterThan(between);
    expect(third.continues).toBeUndefined(); // someone held epoch `between` in the meantime
    holder.proc.kill('SIGKILL');
    await killed(holder.proc);
  });

  it('release() lets a polling standby take the lease without waiting for the ttl', async () => {
    const service = newService();
    const a = await openLease(service, 'a');
    const b = await openLease(service, 'b');
    const c = await openLease(service, 'c');
    const lost: LeaseLoss[] = [];
    a.on('lost', (x) => lost.push(x));
    const first = await a.tryAcquire();
    await sleep(TTL_MS / 2);
    await a.release();
    expect(a.held).toBe(false);
    expect(a.valid()).toBe(false);
    // Deleted, not left to expire: nobody holds it right after the release.
    expect(await b.peek()).toBeUndefined();
    const second = await b.tryAcquire();
    expect(second).toBeGreaterThan(first!);

    // The same with a standby polling (informational delay).
    const taking = acquireWithin(c, 20_000);
    await sleep(TTL_MS / 2);
    const releasedAt = wallNow();
    await b.release();
    const { epoch: third, at } = await taking;
    expect(third).toBeGreaterThan(second!);
    expect(lost).toEqual([]);
    console.log(`release → polling standby acquired after ${Math.round(at - releasedAt)} ms (poll ${POLL_MS} ms)`);
    await c.release();
  });

  it('fails at open with a typed error: NATS unreachable, or a bucket with another ttl', async () => {
    const service = newService();
    await openLease(service, 'a');
    const refused = Lease.open({ servers: ['127.0.0.1:1'], service, holder: { id: 'x', host: 'h' }, log: silentLogger() });
    await expect(refused).rejects.toMatchObject({ name: 'LeaseError', code: 'UNAVAILABLE' });
    const other = Lease.open({ servers: cluster!.urls, service, ttlMs: 2 * TTL_MS, holder: { id: 'x', host: 'h' }, log: silentLogger() });
    await expect(other).rejects.toMatchObject({ name: 'LeaseError', code: 'FAILED_PRECONDITION' });
    await expect(other).rejects.toThrow(/ttl 1000 ms.*2000 ms/);
  });

  it('a value ftcp did not write: the holder loses (to nobody known), peek() gives a typed error', async () => {
    const service = newService();
    const a = await openLease(service, 'a');
    const b = await openLease(service, 'b');
    const losses: LeaseLoss[] = [];
    a.on('lost', (x) => losses.push(x));
    await a.tryAcquire();
    const conn = await connect({ servers: cluster!.urls });
    try {
      const kv = await new Kvm(conn).open(leaseBucketName(service));
      await kv.put('primary', new TextEncoder().encode('{"not":"ours"}')); // an operator's hand edit
    } finally {
      await conn.close();
    }
    for (let i = 0; i < 100 && losses.length === 0; i++) await sleep(50);
    expect(losses).toEqual([{ holder: undefined, host: undefined, epoch: undefined }]);
    expect(a.valid()).toBe(false);
    await expect(b.peek()).rejects.toMatchObject({ name: 'LeaseError', code: 'MALFORMED_VALUE' });
  });

  it('the lease survives the loss of one NATS node (a follower at ttl 1 s; the bucket leader when ttl > the election)', async () => {
    // Part 1: a follower of the bucket's stream dies; a client connected to it reconnects to another.
    const a = await openLease(newService(), 'a');
    const aEvents = track(a);
    const epochA = (await a.tryAcquire())!;
    const leaderA = await bucketLeader(a);
    const follower = cluster!.nodes.find((n) => n.name !== leaderA)!;
    await sleep(TTL_MS);
    const before = a.stats.renewals;
    await cluster!.kill(follower.name);
    await sleep(4 * TTL_MS);
    console.log(
      `follower ${follower.name} killed (bucket leader ${leaderA}, ttl ${TTL_MS} ms): renewals failed for ${a.stats.lastFailureStreakMs} ms ` +
        `(${a.stats.failedRenewals} failed attempts); events: ${aEvents.join(' ') || 'none'}`,
    );
    expect(aEvents).not.toContain('lost');
    expect(a.held).toBe(true);
    expect(a.epoch).toBe(epochA);
    expect(a.stats.renewals).toBeGreaterThan(before);
    expect(a.valid()).toBe(true);
    await cluster!.restart(follower.name);
    await cluster!.waitReady();

    // Part 2: the bucket's stream leader dies; the two others elect a leader (seconds on 2.9).
    // A lease whose ttl outlasts the election survives it; one of 1 s on the same bucket leader
    // expires during it and is lost for good (informational: which happens depends on placement).
    const long = await openLease(newService(), 'long', LONG_TTL_MS);
    const longEvents = track(long);
    const epochLong = (await long.tryAcquire())!;
    const leader = await bucketLeader(long);
    const short = await openLease(newService(), 'short');
    const shortEvents = track(short);
    let shortLostAt: number | undefined;
    short.once('lost', () => (shortLostAt = wallNow()));
    await short.tryAcquire();
    const shortLeader = await bucketLeader(short);
    await sleep(3 * TTL_MS); // the restarted node catches up
    const failedBefore = long.stats.failedRenewals;
    const renewalsBefore = long.stats.renewals;
    const killedAt = wallNow();
    await cluster!.kill(leader!);
    const electedAfter = await newLeaderAfter(serviceOf.get(long)!, leader!, killedAt);
    // Bounded wait for two renewals after the kill (the period is ttl/3 = 5 s).
    for (let i = 0; i < 300 && long.stats.renewals < renewalsBefore + 2 && !longEvents.includes('lost'); i++) await sleep(100);
    console.log(
      `bucket leader ${leader} killed: a new leader after ${electedAfter} ms; ttl ${LONG_TTL_MS} ms lease: ` +
        `${long.stats.failedRenewals - failedBefore} renewals failed (last streak ${long.stats.lastFailureStreakMs} ms), ` +
        `events: ${longEvents.join(' ') || 'none'}; ttl ${TTL_MS} ms lease (bucket leader ${shortLeader}): ` +
        `events ${shortEvents.join(' ') || 'none'}` +
        (shortLostAt === undefined ? '' : ` (lost ${Math.round(shortLostAt - killedAt)} ms after the kill)`),
    );
    expect(longEvents).toEqual([]);
    expect(long.held).toBe(true);
    expect(long.epoch).toBe(epochLong);
    expect(long.valid()).toBe(true);
    // Whatever happened to the short one, a loss is final and leaves it invalid.
    if (shortEvents.includes('lost')) {
      expect(shortEvents[shortEvents.length - 1]).toBe('lost');
      expect(short.valid()).toBe(false);
    }
    await long.release();
  });
});

/** Polls the bucket's stream info (bounded) until a leader other than `old` is reported: ms since `since`. */
async function newLeaderAfter(service: string, old: string, since: number): Promise<number> {
  const conn = await connect({ servers: cluster!.urls.filter((u) => cluster!.nodes.find((n) => n.url === u)?.name !== old) });
  try {
    const jsm = await jetstreamManager(conn, { timeout: 500, checkAPI: false }); // the meta leader may be the dead node
    for (let i = 0; i < 300; i++) {
      const si = await jsm.streams.info(`KV_${leaseBucketName(service)}`).catch(() => undefined);
      const now = si?.cluster?.leader;
      if (now !== undefined && now !== old) return Math.round(wallNow() - since);
      await sleep(100);
    }
    throw new Error('no new bucket leader within 30 s');
  } finally {
    await conn.close();
  }
}

function track(l: Lease): string[] {
  const events: string[] = [];
  l.on('lost', () => events.push('lost'));
  l.on('suspended', () => events.push('suspended'));
  l.on('resumed', () => events.push('resumed'));
  return events;
}

async function bucketLeader(l: Lease): Promise<string | undefined> {
  const conn = await connect({ servers: cluster!.urls });
  try {
    // Bounded retries: the meta leader may still be re-electing after a node's restart.
    const jsm = await jetstreamManager(conn, { timeout: 2000, checkAPI: false });
    for (let i = 0; ; i++) {
      try {
        return (await jsm.streams.info(`KV_${leaseBucketName(serviceOf.get(l)!)}`)).cluster?.leader;
      } catch (err) {
        if (i >= 15) throw err;
        await sleep(200);
      }
    }
  } finally {
    await conn.close();
  }
}
