// Who answers ARP for the VIP on the LAN right now: before a takeover, an answer means the old
// primary is still alive there (a partition, not a lost host). A plain request from this host's
// own address on the link: a duplicate-address probe (`arping -D`, sender 0.0.0.0) is answered
// only for local addresses, never through a proxy entry. The host's own entry never answers it.
import { execFile } from 'node:child_process';
import { VipError } from './vip-errors.js';

/** The MACs in arping's "reply from A.B.C.D [MAC]" lines, lower case. */
export function parseArpingReplies(stdout: string): string[] {
  return [...stdout.matchAll(/reply from \S+ \[([0-9A-Fa-f:]{17})\]/g)].map((m) => m[1]!.toLowerCase());
}

/** The MAC of a host answering ARP for VIP on LANIF within WAITS seconds, or undefined. */
export function probeVipOwner(vip: string, lanIf: string, waitS = 1): Promise<string | undefined> {
  if (!Number.isInteger(waitS) || waitS < 1 || waitS > 60) throw new RangeError(`probe wait must be 1..60 s, got ${waitS}`);
  return new Promise((resolve, reject) => {
    const args = ['-f', '-c', String(waitS), '-w', String(waitS), '-I', lanIf, vip];
    execFile('arping', args, { encoding: 'utf8', timeout: (waitS + 5) * 1000 }, (err, stdout, stderr) => {
      const code = err ? (typeof err.code === 'number' ? err.code : -1) : 0;
      // 0: an answer; 1: none; anything else: arping failed.
      if (code === 0 || code === 1) resolve(parseArpingReplies(stdout)[0]);
      else reject(new VipError('probe-failed', `arping for ${vip} on ${lanIf} failed: ${(stderr || stdout || String(err)).trim()}`));
    });
  });
}
