// Host failover (issue 8), the log's side: one NATS node — the leader of the service's stream —
// SIGKILLed while a client streams through `ftcp run --log nats://…` (with a standby following).
// The remaining two nodes elect a new leader; meanwhile appends wait and the client is held. The
// client's echo completes byte-exact: nothing lost. How long appends stalled is printed
// (informational; the engine's election time, not ours). The lease is 10 s, above the election
// time, so that losing the node that also leads the lease bucket does not fail the service over
// (docs/FAILOVER.md, "Bucket leader loss with a short ttl").
// Needs `npm run build:ts` (the daemons run from dist/), nats-server and arping.
import { describe, expect, it } from 'vitest';
import { sleep } from '../helpers/host.js';
import { ECHO_APP, FailoverLan, useFailoverLan, logLines } from '../helpers/failover-lan.js';

const tag = (process.pid % 10000).toString(36);
let fl: FailoverLan | undefined;
useFailoverLan(`fn${tag}`, (x) => (fl = x));

describe('a NATS node lost during a stream', () => {
  it('the stream leader is killed: the echo completes byte-exact, appends resume after the election', async (ctx) => {
    if (!fl) return ctx.skip();
    const svc = `fn${tag}`;
    const vip = fl.lan.freeAddr(0);
    const extra = ['--lease-ms', '10000'];
    const primary = await fl.startPrimary(svc, vip, ECHO_APP, extra);
    const standby = await fl.startStandby(svc, vip, ECHO_APP, extra);
    let ok = false;
    try {
      const bytes = 16 * 1024 * 1024;
      const clientAt = Date.now();
      const client = fl.echoClient(vip, bytes, 2 * 1024 * 1024, 60);
      await sleep(2500);
      const leader = await fl.leaderOf(`FTCP_${svc}`);
      const leaseLeader = await fl.leaderOf(`KV_ftcp_lease_${svc}`).catch(() => undefined);
      expect(leader).toMatch(/^n[123]$/);
      const killedAt = Date.now();
      await fl.nats.kill(leader!);

      const result = await client;
      const clientMs = Date.now() - clientAt;
      if (result.error) console.error(`echo client: ${result.error}`);
      expect(result.error).toBeUndefined();
      expect(result.received).toBe(bytes);
      expect(result.recvSha).toBe(result.sentSha);
      const newLeader = await fl.leaderOf(`FTCP_${svc}`);
      expect(newLeader).toBeDefined();
      expect(newLeader).not.toBe(leader);

      // Still the primary (no failover), the standby still following.
      const log = primary.stderr();
      expect(primary.child.exitCode).toBeNull();
      expect(log).not.toContain('no longer the primary');
      expect(standby.child.exitCode).toBeNull();
      expect(standby.stderr()).not.toContain("the primary's lease expired");
      expect(standby.stderr()).not.toContain('following the log failed');

      const stalled = logLines(log, 'replicated log: appends stalled');
      const resumed = logLines(log, 'replicated log: appends stored again');
      const stall =
        stalled.length > 0
          ? `stall reported ${stalled[0]!.time - killedAt} ms after the kill, appends stored again ${resumed.length > 0 ? resumed.at(-1)!.time - killedAt : '?'} ms after the kill (stalledMs ${resumed.map((r) => String(r.stalledMs)).join(', ') || '?'})`
          : 'no append stall logged';
      console.log(
        `failover-nats-node: killed ${leader} (stream leader${leaseLeader === leader ? ', also the lease bucket\'s' : `; lease bucket led by ${leaseLeader ?? '?'}`}); new stream leader ${newLeader}; ` +
          `${stall}; the client's 16 MB echo took ${clientMs} ms (8 s at its own rate); lease 10 s`,
      );
      ok = true;
    } finally {
      if (!ok) fl.keepLogs('nats-node', { primary, standby });
    }
  });
});
