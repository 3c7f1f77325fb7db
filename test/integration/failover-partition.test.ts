// Host failover (issue 8): a partitioned primary that comes back after the takeover. The primary
// host is cut off the LAN (nftables in its namespace drops every IP packet and ARP frame on its
// link; the link stays up, so its VIP claim stays in place) with every process left running. The
// standby takes the lease and the connection; the client's echo goes on byte-exact. Then the
// partition heals: the old primary must be fenced — no frame of it carrying the VIP reaches the
// client after the partition (tcpdump on the client's link), it logs the fenced line and exits 3,
// and it releases its VIP claim (only the new primary answers ARP for the VIP).
// Needs `npm run build:ts` (the daemons run from dist/), nats-server, arping, nft, tcpdump, tshark.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { netnsExists, sh, sleep } from '../helpers/host.js';
import { ECHO_APP, FailoverLan, logLines } from '../helpers/failover-lan.js';

const tag = (process.pid % 10000).toString(36);
let fl: FailoverLan | undefined;

beforeAll(async () => {
  fl = await FailoverLan.start(`fp${tag}`);
}, 60_000);

afterAll(async () => {
  await fl?.cleanup();
}, 60_000);

async function waitFor(what: string, cond: () => boolean, timeoutMs: number): Promise<void> {
  const until = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > until) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(50);
  }
}

describe('a partitioned primary', () => {
  it('is replaced by the standby, then fenced when the partition heals: silent, exits 3, releases the VIP', async (ctx) => {
    if (!fl) return ctx.skip();
    const { lan } = fl;
    const svc = `fp${tag}`;
    const vip = lan.freeAddr(0);
    const extra = ['--lease-ms', '1000'];
    const primary = await fl.startPrimary(svc, vip, ECHO_APP, extra);
    const standby = await fl.startStandby(svc, vip, ECHO_APP, extra);
    const oldMac = lan.mac('primary').toLowerCase();
    const newMac = lan.mac('secondary').toLowerCase();
    const cap = await fl.capture('client');

    const bytes = 24 * 1024 * 1024;
    const client = fl.echoClient(vip, bytes, 2 * 1024 * 1024, 60);
    await sleep(2500);
    fl.partition('primary');
    // Taken once nft has returned: frames the old primary sent before are legitimately on the wire.
    const partitionAt = Date.now();

    let ok = false;
    try {
      await waitFor('the standby to restore the connection', () => standby.stderr().includes('"connection restored"'), 30_000);
      const healAt = Date.now();
      fl.heal('primary');
      // The old primary finds its lease taken (or its log fenced) as soon as it reaches NATS again.
      const code = await Promise.race([primary.exited, sleep(30_000).then(() => 'still running' as const)]);
      const result = await client;
      await cap.stop();

      expect(result.error).toBeUndefined();
      expect(result.received).toBe(bytes);
      expect(result.recvSha).toBe(result.sentSha);

      expect(code).toBe(3);
      const fenced = logLines(primary.stderr(), 'this daemon is no longer the primary; stopping without a word to the clients');
      // Logged once per fencing event (the lease lost, the log fenced): at least the first.
      expect(fenced.length).toBeGreaterThan(0);
      const suspended = logLines(primary.stderr(), 'primary lease not renewed in time');
      expect(suspended.length).toBeGreaterThan(0);
      // The zombie rule: the old primary's lease deadline (from then on it sends nothing) passed
      // before the standby took the lease. Both logs use this machine's clock; the lease's line
      // says how late its timer fired, so a busy event loop does not blur the deadline.
      const deadlineLine = logLines(primary.stderr(), 'lease deadline passed without a renewal')[0]!;
      const deadlineAt = deadlineLine.time - Number(deadlineLine.lateMs ?? 0);
      const tookOver = logLines(standby.stderr(), "the primary's lease expired: taking over")[0]!;
      expect(deadlineAt).toBeLessThan(tookOver.time);

      // The client's link saw nothing from the old primary carrying the VIP after the partition
      // (no TCP segment, no ICMP, no ARP answer for the VIP), and the new primary's segments.
      const frames = sh('tshark', ['-r', cap.file, '-T', 'fields', '-E', 'separator=,', '-e', 'frame.time_epoch', '-e', 'eth.src', '-e', 'ip.src', '-e', 'arp.src.proto_ipv4', '-e', 'tcp.srcport'], { timeout: 60_000 })
        .split('\n')
        .filter(Boolean)
        .map((l) => {
          const [t, mac, ipSrc, arpSrc, sport] = l.split(',');
          return { ms: Number(t) * 1000, mac: (mac ?? '').toLowerCase(), ipSrc, arpSrc, sport };
        });
      const fromVip = (f: (typeof frames)[number]): boolean => f.ipSrc === vip || f.arpSrc === vip;
      const zombie = frames.filter((f) => f.mac === oldMac && fromVip(f) && f.ms >= partitionAt);
      const before = frames.filter((f) => f.mac === oldMac && fromVip(f) && f.ms < partitionAt);
      const served = frames.filter((f) => f.mac === newMac && f.ipSrc === vip && f.sport === '9000');
      expect(before.length).toBeGreaterThan(0); // the capture saw the old primary serve
      expect(served.length).toBeGreaterThan(0); // and the new one
      const rel = (f: (typeof frames)[number]): string => `${Math.round(f.ms - partitionAt)}ms(+${Math.round(f.ms - healAt)} after heal) ${f.ipSrc || 'arp ' + f.arpSrc}:${f.sport}`;
      expect(zombie.length, `frames of the old primary after the partition: ${zombie.slice(0, 5).map(rel).join(', ')} … last ${zombie.length > 0 ? rel(zombie.at(-1)!) : ''}`).toBe(0);

      // The old primary's app namespace is gone with it; its VIP claim too: only the new primary
      // answers ARP for the VIP.
      expect(netnsExists(`ftcp-p-${svc}`)).toBe(false);
      expect(lan.exec('primary', 'ip', ['neigh', 'show', 'proxy']).includes(vip)).toBe(false);
      const arp = lan.exec('client', 'arping', ['-c', '3', '-w', '5', '-I', 'lan0', vip], { timeout: 10_000 });
      const answers = [...arp.matchAll(/\[([0-9A-Fa-f:]{17})\]/g)].map((m) => m[1]!.toLowerCase());
      expect(answers.length).toBeGreaterThan(0);
      expect(new Set(answers)).toEqual(new Set([newMac]));
      const neigh = lan.exec('client', 'ip', ['neigh', 'show', vip]).toLowerCase();
      expect(neigh).toContain(newMac);

      const restoredAt = logLines(standby.stderr(), 'connection restored')[0]?.time;
      console.log(
        `failover-partition: connection restored by the standby ${restoredAt !== undefined ? restoredAt - partitionAt : '?'} ms after the partition; ` +
          `old primary fenced ${fenced[0]!.time - healAt} ms after the heal (${fenced[0]!.msg.split(':')[0]}); ` +
          `silent (lease deadline) ${deadlineAt - partitionAt} ms after the partition, ${tookOver.time - deadlineAt} ms before the standby took the lease; frames captured ${frames.length}, from the old primary after the partition 0`,
      );
      ok = true;
    } finally {
      if (!ok) fl.keepLogs('partition', { primary, standby });
    }
  });
});
