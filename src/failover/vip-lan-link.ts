// Which link is "the LAN" for a VIP: the one whose connected subnet contains it, so the operator
// need not name the interface. Pure: works on `ip -j addr show` and `ip -j route get` output.
import { isIP } from 'node:net';
import { parseIpAddr } from '../wire/addr.js';
import { VipError } from './vip-errors.js';

/** One entry of `ip -j addr show` (the fields used here). */
export interface IpLinkAddrs {
  ifname: string;
  flags?: string[];
  addr_info?: { family?: string; local?: string; prefixlen?: number; scope?: string }[];
}

/** True when ADDR lies in NET/PLEN (same family only). */
export function prefixContains(net: string, plen: number, addr: string): boolean {
  if (isIP(net) === 0 || isIP(net) !== isIP(addr)) return false;
  const a = parseIpAddr(net);
  const b = parseIpAddr(addr);
  if (!Number.isInteger(plen) || plen < 0 || plen > a.length * 8) return false;
  const full = plen >> 3;
  for (let i = 0; i < full; i++) if (a[i] !== b[i]) return false;
  const rest = plen & 7;
  if (rest === 0) return true;
  const mask = (0xff << (8 - rest)) & 0xff;
  return (a[full]! & mask) === (b[full]! & mask);
}

export interface LanLinkChoice {
  ifname: string;
  /** The host's own address on that link, and its prefix length. */
  local: string;
  prefixlen: number;
}

/**
 * The link whose connected subnet contains VIP (longest prefix wins). Host routes (/32, /128, as
 * on the daemon's outer TUN) are not subnets; loopback is never the LAN. Throws VipError when the
 * VIP is one of the host's own addresses, when no link fits, or when two fit equally well.
 */
export function pickLanLink(links: IpLinkAddrs[], vip: string): LanLinkChoice {
  const family = isIP(vip);
  if (family === 0) throw new VipError('bad-vip', `VIP ${JSON.stringify(vip)} is not an IP address`);
  const full = family === 4 ? 32 : 128;
  let best: LanLinkChoice[] = [];
  for (const link of links) {
    if (link.flags?.includes('LOOPBACK')) continue;
    for (const a of link.addr_info ?? []) {
      if (!a.local || a.prefixlen === undefined || isIP(a.local) !== family) continue;
      if (a.local === vip) {
        throw new VipError('vip-is-local', `VIP ${vip} is an address of ${link.ifname}: remove it there (the daemon routes the VIP into its TUN)`);
      }
      if (a.prefixlen >= full || a.scope === 'link' || !prefixContains(a.local, a.prefixlen, vip)) continue;
      const cand = { ifname: link.ifname, local: a.local, prefixlen: a.prefixlen };
      if (best.length === 0 || a.prefixlen > best[0]!.prefixlen) best = [cand];
      else if (a.prefixlen === best[0]!.prefixlen && !best.some((b) => b.ifname === link.ifname)) best.push(cand);
    }
  }
  if (best.length === 0) {
    throw new VipError('no-lan-link', `no link has a subnet containing VIP ${vip}: put the VIP in the LAN's subnet or name the link with --lan-if`);
  }
  if (best.length > 1) {
    throw new VipError(
      'ambiguous-lan-link',
      `VIP ${vip} is in the subnets of ${best.map((b) => b.ifname).join(' and ')}: name the LAN link with --lan-if`,
    );
  }
  return best[0]!;
}

/** One entry of `ip -j route get ADDR` (the fields used here). */
export interface IpRouteGet {
  type?: string;
  dst?: string;
  dev?: string;
}

/**
 * The device the VIP is routed to, checked to be the daemon's TUN: not local (the host's own stack
 * would answer), not the LAN link itself (the TUN route is missing), and OUTER when given.
 */
export function vipRouteDevice(routes: IpRouteGet[], vip: string, lanIf: string, outerTun?: string): string {
  const r = routes[0];
  if (!r?.dev) throw new VipError('not-routed', `VIP ${vip} has no route: the daemon's route into its outer TUN must exist before the claim`);
  if (r.type === 'local') {
    throw new VipError('vip-is-local', `VIP ${vip} is a local address of this host: remove it (the daemon routes the VIP into its TUN)`);
  }
  if (r.dev === lanIf) {
    throw new VipError('not-routed', `VIP ${vip} is routed to the LAN link ${lanIf}, not into the daemon's TUN: start the daemon (its route) before the claim`);
  }
  if (outerTun !== undefined && r.dev !== outerTun) {
    throw new VipError('not-routed', `VIP ${vip} is routed via ${r.dev}, not the daemon's TUN ${outerTun}: remove that route`);
  }
  return r.dev;
}
