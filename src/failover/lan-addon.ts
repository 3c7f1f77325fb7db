// The native side of a VIP claim (native/src/lan): the gratuitous ARP from a packet socket and
// the proxy-ARP entry by rtnetlink, both synchronous. Loaded on first use: only a daemon on a LAN
// needs it.
import { loadAddon } from '../native/load.js';

export interface LanAddon {
  /** Opens and closes an ARP packet socket: throws EPERM without CAP_NET_RAW. */
  checkPacketSocket(): void;
  sendArpAnnouncement(ifindex: number, mac: Buffer, ip: Buffer): void;
  addProxyNeigh(ifindex: number, ip: Buffer): void;
  delProxyNeigh(ifindex: number, ip: Buffer): void;
}

let addon: LanAddon | undefined;

export function lanAddon(): LanAddon {
  return (addon ??= loadAddon<LanAddon>('ftcp_lan'));
}

/** An IPv4 address as its 4 bytes. */
export function ipv4Bytes(ip: string): Buffer {
  return Buffer.from(ip.split('.').map(Number));
}
