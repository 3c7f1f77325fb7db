// Gratuitous ARP for the VIP: "who-has VIP tell VIP" (an RFC 5227 announcement) broadcast from the
// LAN link's MAC; every neighbour that has the VIP cached takes the new MAC at once (Linux
// overrides a cached entry for a gratuitous ARP, whatever its lock time). COUNT of them, a second
// apart, as `arping -U -c COUNT` sends.
//
// They leave from an AF_PACKET socket of the daemon itself (native/src/lan, CAP_NET_RAW): the
// first one synchronously, at the claim. Starting arping instead took the relay thread's event
// loop several turns (spawn, its header line, the nonlocal-bind window), and that thread is busy
// adopting and probing a thousand connections at a takeover: the VIP was claimed 48–159 ms after
// the lease in session 11's runs, and the clients' probes wait for the claim.
import type { Logger } from '../util/logger.js';
import { ipv4Bytes, lanAddon } from './lan-addon.js';
import { VipError } from './vip-errors.js';

const INTERVAL_MS = 1_000;

export interface AnnounceResult {
  ok: boolean;
  /** Gratuitous ARPs sent. */
  sent: number;
  error?: string;
}

export interface Announcement {
  /** Settles once the COUNT announcements are out (or stop(), or a send failed). */
  readonly done: Promise<AnnounceResult>;
  /** Stops the remaining announcements. Idempotent. */
  stop(): void;
}

/** A link's MAC address (`ip -j link`'s "address"), as 6 bytes. */
export function parseMac(text: string, lanIf: string): Buffer {
  const parts = text.split(':');
  const mac = Buffer.from(parts.map((h) => parseInt(h, 16)));
  if (parts.length !== 6 || parts.some((h) => !/^[0-9a-f]{2}$/i.test(h)) || mac.every((b) => b === 0)) {
    throw new VipError('announce-failed', `${lanIf} has no Ethernet address to announce the VIP from (${JSON.stringify(text)})`);
  }
  return mac;
}

/** What to fix when the packet socket cannot be opened or used (errno name). */
export function packetSocketProblem(code: string | undefined, detail: string): string {
  if (code === 'EPERM' || code === 'EACCES') {
    return 'the daemon may not send the gratuitous ARP that announces the VIP (a packet socket: Operation not permitted): it needs CAP_NET_RAW (CapabilityBoundingSet= and AmbientCapabilities= of the unit ftcp@ have it) and AF_PACKET in RestrictAddressFamilies=';
  }
  if (code === 'EAFNOSUPPORT') return 'the daemon may not open a packet socket (AF_PACKET) to announce the VIP: allow AF_PACKET (RestrictAddressFamilies= of the unit)';
  return `a packet socket to announce the VIP cannot be used: ${detail}`;
}

/**
 * Sends the first announcement of VIP on LANIF now and the rest a second apart. Throws
 * VipError('announce-failed') when the first cannot be sent (nothing is scheduled then).
 */
export function announceVip(vip: string, lanIf: string, link: { ifindex: number; mac: string }, count: number, log: Logger): Announcement {
  if (!Number.isInteger(count) || count < 1 || count > 100) throw new RangeError(`announce count must be 1..100, got ${count}`);
  const mac = parseMac(link.mac, lanIf);
  const ifindex = link.ifindex;
  const ip = ipv4Bytes(vip);
  const send = (): void => lanAddon().sendArpAnnouncement(ifindex, mac, ip);
  try {
    send();
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    const why = e.code === 'ENETDOWN' ? `the link ${lanIf} is down` : packetSocketProblem(e.code, e.message);
    throw new VipError('announce-failed', `gratuitous ARP for ${vip} on ${lanIf} failed: ${why}`);
  }
  log.debug({ vip, lanIf, count }, 'gratuitous ARP sent');
  let sent = 1;
  let timer: NodeJS.Timeout | undefined;
  let settle: (r: AnnounceResult) => void = () => undefined;
  const done = new Promise<AnnounceResult>((resolve) => (settle = resolve));
  const next = (): void => {
    timer = undefined;
    try {
      send();
      sent++;
    } catch (err) {
      settle({ ok: false, sent, error: (err as Error).message });
      return;
    }
    if (sent < count) timer = setTimeout(next, INTERVAL_MS);
    else settle({ ok: true, sent });
  };
  if (count > 1) timer = setTimeout(next, INTERVAL_MS);
  else settle({ ok: true, sent });
  return {
    done,
    stop: () => {
      if (timer) clearTimeout(timer);
      timer = undefined;
      settle({ ok: true, sent });
    },
  };
}

/** Startup check: the daemon may send the announcements (fail at start, not at takeover). */
export function checkAnnounceSocket(): void {
  try {
    lanAddon().checkPacketSocket();
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    throw new VipError('announce-failed', packetSocketProblem(e.code, e.message));
  }
}
