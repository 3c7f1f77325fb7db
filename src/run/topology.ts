// The network around a protected app: its namespace with the inner TUN (carrying the VIP, default
// route), the outer TUN in the daemon's namespace (host-side address, route to the VIP). Both TUN
// devices are non-persistent: they vanish with the daemon's fds, taking their routes with them.
import type { Logger } from '../util/logger.js';
import { ip, ipJson } from '../netns/ip-command.js';
import { createNetns, destroyNetnsSync, netnsExists } from '../netns/namespace.js';
import { TunDevice } from '../tun/tun-device.js';
import { ConfigError, instanceNames, type RunConfig } from './run-config.js';

export interface Topology {
  netns: string;
  outer: TunDevice;
  inner: TunDevice;
  /** Closes both TUNs and deletes the namespace (killing anything left in it). Idempotent. */
  teardown(): void;
}

interface IpAddrInfo {
  ifname: string;
  addr_info?: { local?: string }[];
}

interface IpRouteInfo {
  dst: string;
  dev?: string;
}

/** Refuses a VIP the host already owns or routes: taking it over would break someone else's traffic. */
export async function checkVipFree(cfg: RunConfig): Promise<void> {
  const family = cfg.ipVersion === 6 ? '-6' : '-4';
  const prefix = cfg.ipVersion === 6 ? 128 : 32;
  const routes = await ipJson<IpRouteInfo[]>([family, 'route', 'show', 'table', 'all', 'exact', `${cfg.vip}/${prefix}`]);
  const taken = routes.find((r) => r.dst === cfg.vip || r.dst === `${cfg.vip}/${prefix}`);
  if (taken) {
    throw new ConfigError(
      `VIP ${cfg.vip} is already routed${taken.dev ? ` via ${taken.dev}` : ''}: pick another --vip or remove that route`,
    );
  }
  const links = await ipJson<IpAddrInfo[]>([family, 'addr', 'show']);
  for (const link of links) {
    if (link.addr_info?.some((a) => a.local === cfg.vip)) {
      throw new ConfigError(`VIP ${cfg.vip} is already an address of ${link.ifname}: pick another --vip`);
    }
  }
}

export async function linkExists(name: string, netns?: string): Promise<boolean> {
  try {
    await ip(['link', 'show', 'dev', name], netns);
    return true;
  } catch {
    return false;
  }
}

/**
 * Longest busy-poll after a batch (event-loop reader): a reply that comes back within it is read
 * without a sleep and a wake-up. The window adapts and is 0 on an idle relay (docs/TUN.md).
 */
export const DEFAULT_BUSY_POLL_US = 50;

/** FTCP_TUN_BUSY_POLL_US: microseconds (0 turns busy-polling off). */
export function busyPollFromEnv(value: string | undefined): number {
  if (value === undefined || value === '') return DEFAULT_BUSY_POLL_US;
  const us = Number(value);
  if (!Number.isInteger(us) || us < 0 || us > 10_000) {
    throw new ConfigError(`FTCP_TUN_BUSY_POLL_US must be an integer 0..10000 (microseconds), got ${JSON.stringify(value)}`);
  }
  return us;
}

/** When the TUN writes go through the devices' writer threads (FTCP_TUN_WRITE_BEHIND). */
export type WriteBehindMode = 'restore' | 'always' | 'never';

/**
 * FTCP_TUN_WRITE_BEHIND: 'restore' (default: while connections are being restored, a burst of
 * writes the relay thread would otherwise make itself), 'always', or 'never'.
 */
export function writeBehindFromEnv(value: string | undefined): WriteBehindMode {
  if (value === undefined || value === '') return 'restore';
  if (value === 'restore' || value === 'always' || value === 'never') return value;
  throw new ConfigError(`FTCP_TUN_WRITE_BEHIND must be restore, always or never, got ${JSON.stringify(value)}`);
}

export async function buildTopology(cfg: RunConfig, log: Logger): Promise<Topology> {
  const names = instanceNames(cfg.name);
  const six = cfg.ipVersion === 6;
  const plen = six ? 128 : 32;
  const fam = six ? '-6' : '-4';
  let inner: TunDevice | undefined;
  let outer: TunDevice | undefined;
  let tornDown = false;
  const teardown = (): void => {
    if (tornDown) return;
    tornDown = true;
    outer?.close();
    inner?.close();
    destroyNetnsSync(names.netns);
  };

  const busyPollUs = cfg.busyPollUs ?? busyPollFromEnv(process.env.FTCP_TUN_BUSY_POLL_US);
  if (await linkExists(names.outerTun)) {
    throw new ConfigError(
      `interface ${names.outerTun} already exists and is held by another process: pick another --name or stop that process`,
    );
  }
  if (netnsExists(names.netns)) throw new Error(`namespace ${names.netns} exists (stale state must be cleaned first)`);
  try {
    await createNetns(names.netns);
    // Who reads the TUN fds: a thread per device (read-ahead, more throughput) or the event loop
    // (one wake-up less per crossing, lower latency). FTCP_TUN_READER selects; see docs/PERFORMANCE.md.
    const reader = process.env.FTCP_TUN_READER === 'thread' ? 'thread' : 'loop';
    // A deep device queue: a restore sends a burst of forged SYNs, and the stack's SYN-ACKs must not
    // be dropped at the TUN (the kernel would resend them only after a second).
    const txQueueLen = 10_000;
    inner = TunDevice.open({ name: names.innerTun, netns: names.netns, mtu: cfg.mtu, vnetHdr: cfg.vnetHdr, reader, txQueueLen, busyPollUs });
    outer = TunDevice.open({ name: names.outerTun, mtu: cfg.mtu, vnetHdr: cfg.vnetHdr, reader, txQueueLen, busyPollUs });

    // Inside: the VIP on the inner TUN, everything else routed out through it.
    const dad = six ? ['nodad'] : [];
    await ip(['addr', 'add', `${cfg.vip}/${plen}`, 'dev', names.innerTun, ...dad], names.netns);
    await ip([fam, 'route', 'add', 'default', 'dev', names.innerTun], names.netns);

    // Host side: an address the app can reach, and the route that sends VIP traffic into the daemon.
    await ip(['addr', 'add', `${cfg.hostAddr}/${plen}`, 'dev', names.outerTun, ...dad]);
    await ip([fam, 'route', 'add', `${cfg.vip}/${plen}`, 'dev', names.outerTun, 'src', cfg.hostAddr]);
    log.debug({ netns: names.netns, outer: names.outerTun, vip: cfg.vip }, 'topology up');
    return { netns: names.netns, outer, inner, teardown };
  } catch (err) {
    teardown();
    throw err;
  }
}
