// A real LAN in namespaces: a "switch" namespace holding a bridge, and one namespace per host
// (client, primary, secondary, nats1..3, …) with a veth `lan0` on that bridge. Nothing is made in
// the root namespace: the veths are created straight into their namespaces. destroy() removes it
// all, also after a failed create, and may be called any number of times.
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { TestNetns, sh } from './host.js';

export interface LanTopologyOptions {
  /** Short tag unique among the test files (names, and the subnet, derive from it). */
  id: string;
  /** Host names, e.g. ['client', 'primary', 'secondary']. */
  hosts: string[];
}

const LAN_IF = 'lan0';
const BRIDGE = 'br0';

/** FNV-1a of the id: a stable subnet per test file, so parallel files never share one. */
export function lanSubnetFor(id: string): string {
  let h = 0x811c9dc5;
  for (const ch of Buffer.from(id)) {
    h ^= ch;
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  // 10.64.0.0–10.191.255.0, skipping 10.77 (ftcp's default host-side TUN addresses).
  let second = 64 + (h % 128);
  if (second === 77) second = 78;
  const third = (h >>> 8) & 0xff;
  return `10.${second}.${third}`;
}

function killPids(pids: number[]): number[] {
  const killed: number[] = [];
  for (const pid of pids) {
    try {
      process.kill(pid, 'SIGKILL');
      killed.push(pid);
    } catch {
      /* already gone */
    }
  }
  return killed;
}

/** Every descendant of ROOTS (children of a host's daemon live in other namespaces: its app). */
export function descendantsOf(roots: number[]): number[] {
  const children = new Map<number, number[]>();
  for (const entry of readdirSync('/proc')) {
    const pid = Number(entry);
    if (!Number.isInteger(pid) || pid <= 0) continue;
    try {
      const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      const list = children.get(ppid) ?? [];
      list.push(pid);
      children.set(ppid, list);
    } catch {
      /* exited meanwhile */
    }
  }
  const seen = new Set<number>();
  const stack = [...roots];
  while (stack.length > 0) {
    const p = stack.pop()!;
    for (const c of children.get(p) ?? []) {
      if (!seen.has(c) && !roots.includes(c)) {
        seen.add(c);
        stack.push(c);
      }
    }
  }
  return [...seen];
}

/** PIDs whose network namespace is the named one (empty when it does not exist). */
export function netnsPidsOf(netns: string): number[] {
  if (!existsSync(`/var/run/netns/${netns}`)) return [];
  try {
    return sh('ip', ['netns', 'pids', netns])
      .split('\n')
      .map((s) => Number(s.trim()))
      .filter((n) => Number.isInteger(n) && n > 0);
  } catch {
    return [];
  }
}

export class LanTopology {
  /** `ftcpt-<pid>-<id>`: every namespace name starts with it. */
  readonly prefix: string;
  readonly switchNs: string;
  /** First three octets of the LAN's /24, e.g. `10.123.45`. */
  readonly subnet: string;
  private readonly hostIndex = new Map<string, number>();
  private destroyed = false;

  private constructor(readonly id: string, readonly hosts: readonly string[]) {
    this.prefix = `ftcpt-${process.pid}-${id}`;
    this.switchNs = `${this.prefix}-sw`;
    this.subnet = lanSubnetFor(id);
    hosts.forEach((h, i) => this.hostIndex.set(h, i));
  }

  static create(opts: LanTopologyOptions): LanTopology {
    if (!/^[a-z0-9]{1,12}$/.test(opts.id)) throw new Error(`LanTopology id must be 1-12 of a-z0-9, got ${opts.id}`);
    if (new Set(opts.hosts).size !== opts.hosts.length || opts.hosts.length === 0 || opts.hosts.length > 80) {
      throw new Error(`LanTopology hosts must be 1-80 distinct names, got ${opts.hosts.join(',')}`);
    }
    for (const h of opts.hosts) if (!/^[a-z0-9]{1,16}$/.test(h)) throw new Error(`bad host name ${h}`);
    const lan = new LanTopology(opts.id, opts.hosts);
    lan.removeNamespaces(); // left over by an earlier run of this pid (pids get reused)
    try {
      lan.build();
    } catch (err) {
      lan.destroy();
      throw err;
    }
    return lan;
  }

  private build(): void {
    sh('ip', ['netns', 'add', this.switchNs]);
    sh('ip', ['-n', this.switchNs, 'link', 'set', 'lo', 'up']);
    // STP off (the default): ports forward at once; a short ageing time is not needed since
    // a gratuitous ARP from the new owner re-teaches the bridge too.
    sh('ip', ['-n', this.switchNs, 'link', 'add', BRIDGE, 'type', 'bridge']);
    sh('ip', ['-n', this.switchNs, 'link', 'set', BRIDGE, 'up']);
    for (const host of this.hosts) {
      const ns = this.ns(host);
      const port = this.switchPort(host);
      sh('ip', ['netns', 'add', ns]);
      sh('ip', ['-n', ns, 'link', 'set', 'lo', 'up']);
      sh('ip', ['link', 'add', LAN_IF, 'netns', ns, 'type', 'veth', 'peer', 'name', port, 'netns', this.switchNs]);
      sh('ip', ['-n', this.switchNs, 'link', 'set', port, 'master', BRIDGE, 'up']);
      sh('ip', ['-n', ns, 'addr', 'add', `${this.addr(host)}/24`, 'dev', LAN_IF]);
      sh('ip', ['-n', ns, 'link', 'set', LAN_IF, 'up']);
    }
  }

  private index(host: string): number {
    const i = this.hostIndex.get(host);
    if (i === undefined) throw new Error(`no host ${host} in LAN ${this.id} (hosts: ${this.hosts.join(', ')})`);
    return i;
  }

  private switchPort(host: string): string {
    return `p${this.index(host)}`;
  }

  /** The host's namespace name. */
  ns(host: string): string {
    this.index(host);
    return `${this.prefix}-${host}`;
  }

  /** The host's address on the LAN (.10, .11, … in host order). */
  addr(host: string): string {
    return `${this.subnet}.${10 + this.index(host)}`;
  }

  /** An address of the LAN that no host has: for a VIP (k = 0..99 → .100…). */
  freeAddr(k = 0): string {
    if (!Number.isInteger(k) || k < 0 || k > 99) throw new Error(`freeAddr k must be 0..99, got ${k}`);
    return `${this.subnet}.${100 + k}`;
  }

  /** Prefix length of the LAN. */
  get prefixLen(): number {
    return 24;
  }

  /** Name of the host's LAN link (inside its namespace). */
  lanIf(host: string): string {
    this.index(host);
    return LAN_IF;
  }

  /** MAC address of the host's LAN link. */
  mac(host: string): string {
    const out = JSON.parse(this.exec(host, 'ip', ['-j', 'link', 'show', 'dev', LAN_IF])) as { address: string }[];
    const mac = out[0]?.address;
    if (!mac) throw new Error(`no MAC for ${host}`);
    return mac;
  }

  exec(host: string, cmd: string, args: string[], opts: { timeout?: number; input?: string } = {}): string {
    return sh('ip', ['netns', 'exec', this.ns(host), cmd, ...args], opts);
  }

  spawn(host: string, cmd: string, args: string[], env?: NodeJS.ProcessEnv): ChildProcess {
    return spawn('ip', ['netns', 'exec', this.ns(host), cmd, ...args], {
      stdio: ['ignore', 'pipe', 'pipe'],
      env: env ?? process.env,
    });
  }

  /** The "host lost" event for the LAN: its link goes down (the switch port stays up). */
  setLinkDown(host: string): void {
    sh('ip', ['-n', this.ns(host), 'link', 'set', LAN_IF, 'down']);
  }

  setLinkUp(host: string): void {
    sh('ip', ['-n', this.ns(host), 'link', 'set', LAN_IF, 'up']);
  }

  /** The host as a TestNetns, for the helpers of host.ts (startFtcp enters it with nsenter). */
  netns(host: string): TestNetns {
    return new TestNetns(this.ns(host));
  }

  /**
   * The "host lost" event for its processes: SIGKILLs every process in the host's namespace, all
   * their descendants (a daemon's app runs in its own namespace) and every process in ALSO (more
   * namespaces that belong to the host, e.g. `ftcp-NAME`). Returns the pids killed.
   */
  killAll(host: string, also: string[] = []): number[] {
    const inHost = netnsPidsOf(this.ns(host));
    const pids = new Set([...inHost, ...descendantsOf(inHost), ...also.flatMap((ns) => netnsPidsOf(ns))]);
    // Stop them first so none can fork or restart another while the rest are killed.
    for (const pid of pids) {
      try {
        process.kill(pid, 'SIGSTOP');
      } catch {
        /* gone */
      }
    }
    return killPids([...pids]);
  }

  /** Kills every process in the LAN's namespaces and deletes them. Idempotent. */
  destroy(): void {
    if (this.destroyed) return;
    this.destroyed = true;
    this.removeNamespaces();
  }

  private removeNamespaces(): void {
    const all = [...this.hosts.map((h) => `${this.prefix}-${h}`), this.switchNs];
    for (const ns of all) killPids(netnsPidsOf(ns));
    for (const ns of all) {
      if (!existsSync(`/var/run/netns/${ns}`)) continue;
      try {
        sh('ip', ['netns', 'del', ns]);
      } catch {
        /* busy: retried by the next run of this pid */
      }
    }
  }
}
