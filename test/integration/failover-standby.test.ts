// Host failover (issue 8), the standby's side: (a) a secondary started late — after the primary
// has carried several connections and stored a checkpoint-free log — catches up from the log and
// takes over every open connection byte-exact when the primary host dies; (b) the secondary lost:
// the primary keeps serving (the client's stream unaffected) and says so — its standby watch
// (src/run/standby-watch.ts) logs "no standby is following the log", and "a standby follows the
// log again" once a standby is back.
// Needs `npm run build:ts` (the daemons run from dist/), nats-server and arping.
import { describe, expect, it } from 'vitest';
import { sleep } from '../helpers/host.js';
import { ECHO_APP, FailoverLan, useFailoverLan, logLines, type EchoResult } from '../helpers/failover-lan.js';

const tag = (process.pid % 10000).toString(36);
let fl: FailoverLan | undefined;
useFailoverLan(`fs${tag}`, (x) => (fl = x));

async function waitFor(what: string, cond: () => boolean, timeoutMs: number): Promise<void> {
  const until = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > until) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(50);
  }
}

function expectExact(r: EchoResult, bytes: number): void {
  expect(r.error).toBeUndefined();
  expect(r.received).toBe(bytes);
  expect(r.recvSha).toBe(r.sentSha);
}

describe('the standby', () => {
  it('started late, catches up from the log and takes over every open connection', async (ctx) => {
    if (!fl) return ctx.skip();
    const svc = `fa${tag}`;
    const vip = fl.lan.freeAddr(0);
    const extra = ['--lease-ms', '1000'];
    const primary = await fl.startPrimary(svc, vip, ECHO_APP, extra);
    let standby: Awaited<ReturnType<FailoverLan['startStandby']>> | undefined;
    let ok = false;
    try {
      // Traffic the log keeps: two connections that come and go, three that stay open.
      const done = await Promise.all([fl.echoClient(vip, 1024 * 1024, 0, 30), fl.echoClient(vip, 2 * 1024 * 1024, 0, 30)]);
      for (const r of done) expect(r.error).toBeUndefined();
      const bytes = 10 * 1024 * 1024;
      const open = [0, 1, 2].map(() => fl!.echoClient(vip, bytes, 1024 * 1024, 60));
      await sleep(3000);
      // A checkpoint-free log (no `.k` message: the echo app has no shim to take one), many records.
      const subjects = await fl.subjectsOf(`FTCP_${svc}`);
      expect(subjects[`ftcp.${svc}.k`]).toBeUndefined();
      expect(subjects[`ftcp.${svc}.r`]).toBeGreaterThan(10);

      standby = await fl.startStandby(svc, vip, ECHO_APP, extra);
      const started = logLines(standby.stderr(), 'following the log')[0];
      await sleep(2000);
      const killedAt = Date.now();
      expect(fl.killHost('primary', svc).length).toBeGreaterThan(1);

      const results = await Promise.all(open);
      for (const r of results) expectExact(r, bytes);
      const log = standby.stderr();
      const takeover = logLines(log, "the primary's lease expired: taking over")[0];
      expect(takeover).toBeDefined();
      const found = logLines(log, 'connections found open in the log')[0];
      expect(found?.connections).toBe(3);
      const restored = logLines(log, 'connection restored');
      expect(restored.length).toBe(3);
      console.log(
        `failover-standby (late): the log held ${subjects[`ftcp.${svc}.r`]} record messages and no checkpoint just before the standby started; it was ready with appliedSeq ${String(started?.appliedSeq)} and took over at appliedSeq ${String(takeover?.appliedSeq)} (lag ${String(takeover?.lag)}); ` +
          `3 connections restored ${restored.map((l) => l.time - killedAt).join(', ')} ms after the primary host was killed`,
      );
      ok = true;
    } finally {
      if (!ok) fl.keepLogs('late', standby ? { primary, standby } : { primary });
    }
  });

  it('lost: the primary keeps serving and says no standby follows the log, then that one does again', async (ctx) => {
    if (!fl) return ctx.skip();
    fl.lan.setLinkUp('primary');
    const svc = `fb${tag}`;
    const vip = fl.lan.freeAddr(1);
    const extra = ['--lease-ms', '1000'];
    const primary = await fl.startPrimary(svc, vip, ECHO_APP, extra);
    let standby = await fl.startStandby(svc, vip, ECHO_APP, extra);
    const NONE = `no standby is following the log of ${svc}: a host failure now loses the service`;
    let ok = false;
    try {
      await waitFor('the primary to see its standby', () => primary.stderr().includes('"a standby follows the log"'), 20_000);
      const bytes = 12 * 1024 * 1024;
      const client = fl.echoClient(vip, bytes, 1.5 * 1024 * 1024, 60);
      await sleep(2000);
      const lostAt = Date.now();
      fl.killHost('secondary', svc);
      await waitFor('the "no standby" warning', () => primary.stderr().includes(NONE), 30_000);
      const warned = logLines(primary.stderr(), NONE)[0]!;

      expectExact(await client, bytes);
      expect(primary.child.exitCode).toBeNull(); // still serving
      expect(primary.stderr()).not.toContain('no longer the primary');
      expect(logLines(primary.stderr(), NONE).length).toBe(1); // said once

      // A standby again (the same host back).
      fl.lan.setLinkUp('secondary');
      const backAt = Date.now();
      standby = await fl.startStandby(svc, vip, ECHO_APP, extra);
      await waitFor('"a standby follows the log again"', () => primary.stderr().includes('a standby follows the log again'), 30_000);
      const back = logLines(primary.stderr(), 'a standby follows the log again')[0]!;
      console.log(
        `failover-standby (lost): the primary warned "no standby" ${warned.time - lostAt} ms after the standby host was lost, ` +
          `and said "follows again" ${back.time - backAt} ms after the standby's restart began (check every 2 s, warning after 2 empty checks)`,
      );
      ok = true;
    } finally {
      if (!ok) fl.keepLogs('lost', { primary, standby });
    }
  });

  // nats-server 2.9 takes a filtered purge with seq 1 as "no limit" and purges the subject whole,
  // so the first primary of a new stream (epoch marker at seq 1) deleted its own marker and a
  // standby taking over before any record was appended waited in promote() forever (found by this
  // test): purgeBelow never goes below 2.
  it('takes over a primary that never carried a connection', async (ctx) => {
    if (!fl) return ctx.skip();
    fl.lan.setLinkUp('primary');
    const svc = `fc${tag}`;
    const vip = fl.lan.freeAddr(2);
    const extra = ['--lease-ms', '1000'];
    const primary = await fl.startPrimary(svc, vip, ECHO_APP, extra);
    const standby = await fl.startStandby(svc, vip, ECHO_APP, extra);
    let ok = false;
    try {
      fl.killHost('primary', svc);
      await waitFor('the standby to serve', () => /ready vip=/.test(standby.stdout()), 30_000);
      const r = await fl.echoClient(vip, 256 * 1024, 0, 20);
      expectExact(r, 256 * 1024);
      ok = true;
    } finally {
      if (!ok) {
        fl.keepLogs('idle', { primary, standby });
        console.error(`stream FTCP_${svc}: ${JSON.stringify(await fl.streamState(`FTCP_${svc}`).catch((e: unknown) => String(e)))}`);
      }
    }
  });
});
