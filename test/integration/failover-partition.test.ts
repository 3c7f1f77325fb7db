// Host failover (issue 8): a partitioned primary that comes back after the takeover. The primary
// host is cut off the LAN (nftables in its namespace drops every IP packet and ARP frame on its
// link; the link stays up, so its VIP claim stays in place) with every process left running. The
// standby takes the lease and the connection; the client's echo goes on byte-exact. Then the
// partition heals: the old primary must be fenced — no frame of it carrying the VIP reaches the
// client after the partition (tcpdump on the client's link), it logs the fenced line and exits 3,
// and it releases its VIP claim (only the new primary answers ARP for the VIP).
// Needs `npm run build:ts` (the daemons run from dist/), nats-server, arping, nft, tcpdump, tshark.
import { describe, expect, it } from 'vitest';
import { copyFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { netnsExists, sh, sleep } from '../helpers/host.js';
import { ECHO_APP, FailoverLan, useFailoverLan, logLines } from '../helpers/failover-lan.js';

const tag = (process.pid % 10000).toString(36);
let fl: FailoverLan | undefined;
useFailoverLan(`fp${tag}`, (x) => (fl = x));

interface Frame {
  ms: number;
  mac: string;
  ipSrc: string;
  arpSrc: string;
  sport: string;
}

/** Every frame of a capture: time (ms), source MAC, IP source, ARP sender address, TCP source port. */
function framesOf(file: string): Frame[] {
  return sh('tshark', ['-r', file, '-T', 'fields', '-E', 'separator=,', '-e', 'frame.time_epoch', '-e', 'eth.src', '-e', 'ip.src', '-e', 'arp.src.proto_ipv4', '-e', 'tcp.srcport'], { timeout: 60_000 })
    .split('\n')
    .filter(Boolean)
    .map((l) => {
      const [t, mac, ipSrc, arpSrc, sport] = l.split(',');
      return { ms: Number(t) * 1000, mac: (mac ?? '').toLowerCase(), ipSrc: ipSrc ?? '', arpSrc: arpSrc ?? '', sport: sport ?? '' };
    });
}

/** MACs answering a broadcast ARP request for ADDR from the client. */
function arpAnswers(lan: FailoverLan['lan'], addr: string): string[] {
  let arp: string;
  try {
    arp = lan.exec('client', 'arping', ['-c', '3', '-w', '5', '-I', 'lan0', addr], { timeout: 10_000 });
  } catch (err) {
    arp = String((err as { stdout?: unknown }).stdout ?? ''); // exit 1: fewer answers than requests
  }
  return [...arp.matchAll(/\[([0-9A-Fa-f:]{17})\]/g)].map((m) => m[1]!.toLowerCase());
}

async function waitFor(what: string, cond: () => boolean, timeoutMs: number): Promise<void> {
  const until = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > until) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(50);
  }
}

/** A primary and a standby of SVC around the echo app, a capture on the client, a stream running. */
async function streamThroughPair(fl: FailoverLan, svc: string, vipIndex: number, timeoutS: number) {
  const { lan } = fl;
  const vip = lan.freeAddr(vipIndex);
  const extra = ['--lease-ms', '1000'];
  const primary = await fl.startPrimary(svc, vip, ECHO_APP, extra);
  const standby = await fl.startStandby(svc, vip, ECHO_APP, extra);
  const oldMac = lan.mac('primary').toLowerCase();
  const newMac = lan.mac('secondary').toLowerCase();
  const cap = await fl.capture('client');
  const bytes = 24 * 1024 * 1024;
  const client = fl.echoClient(vip, bytes, 2 * 1024 * 1024, timeoutS);
  await sleep(2500);
  return { lan, svc, vip, primary, standby, oldMac, newMac, cap, bytes, client };
}

type Pair = Awaited<ReturnType<typeof streamThroughPair>>;

/**
 * Heals the partition; then the stream is byte-exact, the old primary exited 3 with the fenced line,
 * and (the zombie rule) its lease deadline passed before the standby took the lease. Both logs use
 * this machine's clock; the lease's line says how late its timer fired, so a busy loop does not blur it.
 */
async function healAndExpectFenced(fl: FailoverLan, primary: Pair['primary'], standby: Pair['standby'], client: Pair['client'], cap: Pair['cap'], bytes: number) {
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
  // Logged once per fencing event (the lease lost, the log fenced): at least the first.
  const fenced = logLines(primary.stderr(), 'this daemon is no longer the primary; stopping without a word to the clients');
  expect(fenced.length).toBeGreaterThan(0);
  const deadlineLine = logLines(primary.stderr(), 'lease deadline passed without a renewal')[0]!;
  const deadlineAt = deadlineLine.time - Number(deadlineLine.lateMs ?? 0);
  const tookOver = logLines(standby.stderr(), "the primary's lease expired: taking over")[0]!;
  expect(deadlineAt).toBeLessThan(tookOver.time);
  return { healAt, fenced, deadlineAt, tookOver };
}

describe('a partitioned primary', () => {
  it('is replaced by the standby, then fenced when the partition heals: silent, exits 3, releases the VIP', async (ctx) => {
    if (!fl) return ctx.skip();
    const { lan, svc, vip, primary, standby, oldMac, newMac, cap, bytes, client } = await streamThroughPair(fl, `fp${tag}`, 0, 60);
    fl.partition('primary');
    // Taken once nft has returned: frames the old primary sent before are legitimately on the wire.
    const partitionAt = Date.now();

    let ok = false;
    try {
      await waitFor('the standby to restore the connection', () => standby.stderr().includes('"connection restored"'), 30_000);
      const { healAt, fenced, deadlineAt, tookOver } = await healAndExpectFenced(fl, primary, standby, client, cap, bytes);
      const suspended = logLines(primary.stderr(), 'primary lease not renewed in time');
      expect(suspended.length).toBeGreaterThan(0);

      // The client's link saw nothing from the old primary carrying the VIP after the partition
      // (no TCP segment, no ICMP, no ARP answer for the VIP), and the new primary's segments.
      const frames = framesOf(cap.file);
      const fromVip = (f: Frame): boolean => f.ipSrc === vip || f.arpSrc === vip;
      const zombie = frames.filter((f) => f.mac === oldMac && fromVip(f) && f.ms >= partitionAt);
      const before = frames.filter((f) => f.mac === oldMac && fromVip(f) && f.ms < partitionAt);
      const served = frames.filter((f) => f.mac === newMac && f.ipSrc === vip && f.sport === '9000');
      expect(before.length).toBeGreaterThan(0); // the capture saw the old primary serve
      expect(served.length).toBeGreaterThan(0); // and the new one
      const rel = (f: Frame): string => `${Math.round(f.ms - partitionAt)}ms(+${Math.round(f.ms - healAt)} after heal) ${f.ipSrc || 'arp ' + f.arpSrc}:${f.sport}`;
      expect(zombie.length, `frames of the old primary after the partition: ${zombie.slice(0, 5).map(rel).join(', ')} … last ${zombie.length > 0 ? rel(zombie.at(-1)!) : ''}`).toBe(0);

      // The old primary's app namespace is gone with it; its VIP claim too: only the new primary
      // answers ARP for the VIP.
      expect(netnsExists(`ftcp-p-${svc}`)).toBe(false);
      expect(lan.exec('primary', 'ip', ['neigh', 'show', 'proxy']).includes(vip)).toBe(false);
      const answers = arpAnswers(lan, vip);
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

  // Cut off NATS only, the old primary keeps relaying until its lease deadline, so the app's echo
  // runs ahead of the durable client bytes (by ~130 KB here). After the takeover the restored
  // stack's pure ACKs would carry its own, lower seq and the client would drop them as old
  // duplicates (a stall, found by this test): they carry the client's ack point instead.
  it('cut off NATS only (clients still reach it): silent while the standby serves, fenced on heal', async (ctx) => {
    if (!fl) return ctx.skip();
    const { lan, vip, primary, standby, oldMac, newMac, cap, bytes, client } = await streamThroughPair(fl, `fq${tag}`, 1, 40);
    fl.partitionFromNats('primary');
    const partitionAt = Date.now();
    let ok = false;
    try {
      await waitFor('the standby to restore the connection', () => standby.stderr().includes('"connection restored"'), 30_000);
      // The old primary is alive on the LAN, suspended. (No arping from the client here: an answer
      // from the old host would turn the client's neighbour entry back to it — see the next test.)
      const proxyDuring = lan.exec('primary', 'ip', ['neigh', 'show', 'proxy']).includes(vip);
      // Cut off NATS only, the old primary still reaches the client: it may send until its lease
      // deadline (it still holds the lease then), and not a frame after it.
      const { healAt, fenced, deadlineAt, tookOver } = await healAndExpectFenced(fl, primary, standby, client, cap, bytes);
      const frames = framesOf(cap.file);
      const beforeDeadline = frames.filter((f) => f.mac === oldMac && f.ipSrc === vip && f.ms >= partitionAt && f.ms < deadlineAt);
      const tcpAfter = frames.filter((f) => f.mac === oldMac && f.ipSrc === vip && f.ms >= deadlineAt);
      const arpAfter = frames.filter((f) => f.mac === oldMac && f.arpSrc === vip && f.ms >= deadlineAt);
      console.log(
        `failover-partition (NATS only): restored by the standby ${logLines(standby.stderr(), 'connection restored')[0]!.time - partitionAt} ms after the partition; ` +
          `the old host's proxy-ARP entry for the VIP during the partition: ${proxyDuring ? 'still there' : 'gone'}; old primary fenced ${fenced[0]!.time - healAt} ms after the heal; ` +
          `frames from the old primary carrying the VIP: ${beforeDeadline.length} between the partition and its lease deadline ` +
          `(${deadlineAt - partitionAt} ms after the partition, ${tookOver.time - deadlineAt} ms before the standby took the lease), after it IP ${tcpAfter.length}, ARP ${arpAfter.length}`,
      );
      expect(tcpAfter.length).toBe(0);
      expect(lan.exec('primary', 'ip', ['neigh', 'show', 'proxy']).includes(vip)).toBe(false);
      expect(new Set(arpAnswers(lan, vip))).toEqual(new Set([newMac]));
      ok = true;
    } finally {
      if (!ok) {
        fl.keepLogs('nats-only', { primary, standby });
        await cap.stop();
        copyFileSync(cap.file, join(tmpdir(), `ftcpt-fp-${process.pid}-nats-only-client.pcap`));
        console.error(`nats-only: client capture in ${join(tmpdir(), `ftcpt-fp-${process.pid}-nats-only-client.pcap`)}`);
      }
    }
  });

  // A primary whose lease is suspended kept its proxy-ARP entry (found by this test), so while it
  // was cut off NATS but not the LAN it and the new primary both answered ARP for the VIP: a client
  // taking the old MAC sent into a silent host. The daemon now withdraws the proxy entry on
  // 'suspended' (and claims it again, with a gratuitous ARP, on 'resumed').
  it('cut off NATS only: while suspended, the old primary does not answer ARP for the VIP', async (ctx) => {
    if (!fl) return ctx.skip();
    const { lan } = fl;
    const svc = `fr${tag}`;
    const vip = lan.freeAddr(2);
    const extra = ['--lease-ms', '1000'];
    await fl.startPrimary(svc, vip, ECHO_APP, extra);
    const standby = await fl.startStandby(svc, vip, ECHO_APP, extra);
    const newMac = lan.mac('secondary').toLowerCase();
    fl.partitionFromNats('primary');
    await waitFor('the standby to claim the VIP', () => standby.stderr().includes('VIP claimed on the LAN'), 30_000).catch(async (err: Error) => {
      fl!.keepLogs('arp', { standby });
      console.error(`stream FTCP_${svc}: ${JSON.stringify(await fl!.streamState(`FTCP_${svc}`).catch((e: unknown) => String(e)))}`);
      throw err;
    });
    const t0 = Date.now();
    const answers = arpAnswers(lan, vip);
    console.log(`failover-partition (NATS only): ARP for the VIP answered by ${answers.map((m) => (m === newMac ? 'the new primary' : 'the OLD primary')).join(', ')} (${Date.now() - t0} ms)`);
    expect(answers.length).toBeGreaterThan(0);
    expect(new Set(answers)).toEqual(new Set([newMac]));
  });
});
