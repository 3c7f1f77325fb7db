// Host failover (issue 8) on a NATS cluster that wants TLS and a token from its clients: the
// primary and the standby both reach it with --log-tls-ca and --log-token-file (the log stream,
// the lease, the standby watch), and the standby takes over open connections byte-exact when the
// primary host dies. Needs `npm run build:ts`, nats-server, arping and openssl.
import { describe, expect, it } from 'vitest';
import { sleep } from '../helpers/host.js';
import { ECHO_APP, FailoverLan, useFailoverLan, logLines } from '../helpers/failover-lan.js';

const tag = (process.pid % 10000).toString(36);
let fl: FailoverLan | undefined;
useFailoverLan(`fz${tag}`, (x) => (fl = x), { secure: true });

describe('host failover on a NATS cluster with TLS and a token', () => {
  it('the standby takes over every open connection byte-exact', async (ctx) => {
    if (!fl) return ctx.skip();
    const svc = `fz${tag}`;
    const vip = fl.lan.freeAddr(0);
    const extra = ['--lease-ms', '1000'];
    const primary = await fl.startPrimary(svc, vip, ECHO_APP, extra);
    const standby = await fl.startStandby(svc, vip, ECHO_APP, extra);
    let ok = false;
    try {
      const bytes = 8 * 1024 * 1024;
      const open = [0, 1].map(() => fl!.echoClient(vip, bytes, 1024 * 1024, 60));
      await sleep(2500);
      expect(fl.killHost('primary', svc).length).toBeGreaterThan(1);
      for (const r of await Promise.all(open)) {
        expect(r.error).toBeUndefined();
        expect(r.received).toBe(bytes);
        expect(r.recvSha).toBe(r.sentSha);
      }
      const log = standby.stderr();
      expect(logLines(log, "the primary's lease expired: taking over")).toHaveLength(1);
      expect(logLines(log, 'connection restored')).toHaveLength(2);
      expect(primary.stderr() + log).not.toMatch(/Authorization Violation|certificate/);
      ok = true;
    } finally {
      if (!ok) fl.keepLogs('secured', { primary, standby });
    }
  }, 120_000);
});
