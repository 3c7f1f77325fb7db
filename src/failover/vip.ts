// The VIP on the LAN: the host that owns it answers ARP for it on its LAN link and forwards its
// traffic into the daemon's outer TUN; a host taking it over announces it with gratuitous ARP.
//
// How (decided with test/integration/lan-vip.test.ts, docs/FAILOVER.md "Standby and takeover"):
// a proxy-ARP entry `ip neigh add proxy VIP dev LANIF` — the VIP stays a non-local address routed
// into the TUN, so the host's own stack never answers for it (no RST for a connection the daemon
// is restoring). The kernel answers a proxied ARP request only while forwarding is on for the LAN
// link and the VIP's route leaves by another device (the TUN): when the daemon dies its TUN and
// route vanish, and the host stops answering for the VIP by itself. Forwarding is enabled per
// interface (LAN link: client → VIP; outer TUN: app → client), never net.ipv4.ip_forward.
import { ip, ipJson } from '../netns/ip-command.js';
import { ipv4Bytes, lanAddon } from './lan-addon.js';
import type { Logger } from '../util/logger.js';
import { isIP } from 'node:net';
import { announceVip, type AnnounceResult, type Announcement } from './vip-announce.js';
import { VipError } from './vip-errors.js';
import { pickLanLink, vipRouteDevice, type IpLinkAddrs, type IpRouteGet } from './vip-lan-link.js';
import { enableLanSettings, restoreLanSettings } from './vip-lan-settings.js';
import { ifSysctl, restoreSysctl, setSysctl, type SysctlChange } from './vip-sysctl.js';

export { VipError, type VipErrorCode } from './vip-errors.js';
export { checkAnnounceSocket, type AnnounceResult } from './vip-announce.js';
export { probeVipOwner } from './vip-probe.js';

export interface VipClaimOptions {
  vip: string;
  /** The LAN link (see lanIfFor). */
  lanIf: string;
  /** The daemon's outer TUN; the VIP's route must lead there. Looked up from the route when absent. */
  outerTun?: string;
  log: Logger;
  /** Gratuitous ARPs sent: the first at once, then one a second (default 3). */
  announceCount?: number;
  /**
   * The LAN link's index and the VIP's route device, looked up ahead (claimLinks): two spawned
   * `ip` (~5 ms of fork each on the caller's thread) fewer on a takeover's path.
   */
  links?: ClaimLinks;
}

/** What a claim looks up before it changes anything. */
export interface ClaimLinks {
  ifindex: number;
  /** The LAN link's MAC, the gratuitous ARPs' sender. */
  mac: string;
  outerTun: string;
}

/** The LAN link's index and the device the VIP's route leads to (which must be the outer TUN). */
export async function claimLinks(opts: { vip: string; lanIf: string; outerTun?: string }): Promise<ClaimLinks> {
  const { ifindex, mac } = await linkInfo(opts.lanIf);
  const outerTun = vipRouteDevice(await ipJson<IpRouteGet[]>(['-4', 'route', 'get', opts.vip]), opts.vip, opts.lanIf, opts.outerTun);
  return { ifindex, mac, outerTun };
}

export interface VipClaim {
  readonly vip: string;
  readonly lanIf: string;
  readonly outerTun: string;
  /**
   * Settles when the last gratuitous ARP has gone out, or with ok=false when a send failed (the
   * claim still holds: neighbours then find the VIP when their cache entry expires). Never rejects.
   */
  readonly announced: Promise<AnnounceResult>;
  /**
   * Undoes the claim: stops the announcements, removes the VIP's proxy entry, puts back the outer
   * TUN's forwarding and, once no other VIP is proxied on the link, the LAN link's settings as the
   * first claim found them. Idempotent.
   */
  release(): Promise<void>;
}

/** The link whose connected subnet contains VIP, in this process's network namespace. */
export async function lanIfFor(vip: string): Promise<string> {
  if (isIP(vip) === 0) throw new VipError('bad-vip', `VIP ${JSON.stringify(vip)} is not an IP address`);
  const links = await ipJson<IpLinkAddrs[]>([isIP(vip) === 6 ? '-6' : '-4', 'addr', 'show']);
  return pickLanLink(links, vip).ifname;
}

async function proxyEntries(lanIf: string): Promise<string[]> {
  const rows = await ipJson<{ dst?: string }[]>(['-4', 'neigh', 'show', 'proxy', 'dev', lanIf]);
  return rows.map((r) => r.dst ?? '').filter(Boolean);
}

async function linkInfo(lanIf: string): Promise<{ ifindex: number; mac: string }> {
  // (Not from /sys/class/net: sysfs shows the namespace it was mounted in, which under nsenter is
  // not the daemon's.)
  try {
    const rows = await ipJson<{ ifindex: number; address?: string }[]>(['link', 'show', 'dev', lanIf]);
    return { ifindex: rows[0]!.ifindex, mac: rows[0]!.address ?? '' };
  } catch {
    throw new VipError('no-such-link', `LAN link ${lanIf} does not exist: check --lan-if`);
  }
}

async function linkIndex(lanIf: string): Promise<number> {
  return (await linkInfo(lanIf)).ifindex;
}

/** Puts the LAN link's settings back once no VIP is proxied there any more. */
async function restoreLanIfUnused(lanIf: string, ifindex: number, log: Logger): Promise<void> {
  let others: string[] = [];
  try {
    others = await proxyEntries(lanIf);
  } catch {
    return; // link gone: its settings went with it
  }
  if (others.length === 0) restoreLanSettings(lanIf, ifindex);
  else log.info({ lanIf, others }, 'LAN link settings kept: other proxied addresses remain');
}

/**
 * Makes sure this host does not answer for VIP on LANIF: removes a proxy entry left by a claim
 * whose process died (and the LAN link's settings when no other VIP is proxied). For a standby at
 * start, and for a fenced primary that cannot reach its claim's release(). Idempotent.
 */
export async function disownVip(opts: { vip: string; lanIf: string; log: Logger }): Promise<boolean> {
  const { vip, lanIf, log } = opts;
  if (isIP(vip) !== 4) return false;
  const ifindex = await linkIndex(lanIf);
  const had = (await proxyEntries(lanIf)).includes(vip);
  if (had) {
    await ip(['-4', 'neigh', 'del', 'proxy', vip, 'dev', lanIf]);
    log.warn({ vip, lanIf }, 'removed a proxy ARP entry for the VIP left by an earlier claim');
  }
  await restoreLanIfUnused(lanIf, ifindex, log);
  return had;
}

/**
 * Makes this host answer ARP for VIP on LANIF and forward its traffic into the daemon's outer TUN,
 * then announces it; resolves once the first gratuitous ARP is sent. On failure nothing is left.
 */
export async function claimVip(opts: VipClaimOptions): Promise<VipClaim> {
  const { vip, lanIf, log } = opts;
  const family = isIP(vip);
  if (family === 0) throw new VipError('bad-vip', `VIP ${JSON.stringify(vip)} is not an IP address`);
  if (family === 6) {
    throw new VipError('unsupported-family', `VIP ${vip}: moving an IPv6 VIP between hosts is not supported yet (IPv4 only)`);
  }
  const { ifindex, mac, outerTun } = opts.links ?? (await claimLinks(opts));

  let lanEnabled = false;
  const tunChanges: SysctlChange[] = [];
  let addedProxy = false;
  let announcement: Announcement | undefined;
  let released = false;

  const release = async (): Promise<void> => {
    if (released) return;
    released = true;
    announcement?.stop();
    if (addedProxy) {
      try {
        lanAddon().delProxyNeigh(ifindex, ipv4Bytes(vip));
      } catch (err) {
        log.warn({ vip, lanIf, err: (err as Error).message }, 'removing the proxy ARP entry failed');
      }
    }
    for (const c of tunChanges) restoreSysctl(c);
    // The LAN link's settings are shared with any other VIP this host still answers for.
    if (lanEnabled) await restoreLanIfUnused(lanIf, ifindex, log);
    log.info({ vip, lanIf }, 'VIP released');
  };

  try {
    // Forwarding on the LAN link (client → VIP) and, without delay, proxied ARP answers: a
    // broadcast request for a proxied address otherwise waits a random 0–0.8 s (proxy_delay).
    lanEnabled = true;
    enableLanSettings(lanIf, ifindex);
    const tun = setSysctl(ifSysctl('ipv4/conf', outerTun, 'forwarding'), '1'); // app → client
    if (tun) tunChanges.push(tun);
    // Created or replaced (NLM_F_REPLACE): an existing entry is only ever left by a claim of this
    // VIP on this host whose daemon died (a start removes those, disownVip); it is then ours, and
    // release removes it. By rtnetlink, synchronously: `ip` as an awaited child needed turns of
    // the relay thread's event loop, which a takeover keeps busy (tens of ms), and a fork of the
    // daemon's large process.
    lanAddon().addProxyNeigh(ifindex, ipv4Bytes(vip));
    addedProxy = true;
  } catch (err) {
    await release();
    throw err;
  }

  const count = opts.announceCount ?? 3;
  let announced: Promise<AnnounceResult>;
  try {
    announcement = announceVip(vip, lanIf, { ifindex, mac }, count, log);
    announced = announcement.done.then((r) => {
      if (!r.ok && !released) log.error({ vip, lanIf, error: r.error }, 'gratuitous ARP failed');
      return r;
    });
  } catch (err) {
    // The host answers for the VIP all the same; neighbours that cached the old owner's MAC
    // find the new one only when their entry expires.
    const error = (err as Error).message;
    log.error({ vip, lanIf, error }, 'VIP claimed but not announced');
    announced = Promise.resolve({ ok: false, sent: 0, error });
  }
  log.info({ vip, lanIf, outerTun, announceCount: count }, 'VIP claimed');
  return { vip, lanIf, outerTun, announced, release };
}
