// A real nats-server JetStream cluster for tests: N nodes on loopback (or one per network
// namespace, for the LAN tests of host failover), each with its own config, log and store dir in
// one temp dir. stop() kills every node and removes the dir (FTCP_KEEP_NATS=1 keeps it).
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { createWriteStream, existsSync } from 'node:fs';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';

/** Debian installs it in /usr/sbin, which a non-root PATH may lack; undefined = not installed. */
export const NATS_SERVER: string | undefined =
  spawnSync('which', ['nats-server']).status === 0 ? 'nats-server' : existsSync('/usr/sbin/nats-server') ? '/usr/sbin/nats-server' : undefined;

export interface NatsNode {
  name: string;
  host: string;
  clientPort: number;
  routePort: number;
  /** Network namespace the node runs in (undefined = the test's own). */
  netns: string | undefined;
  proc: ChildProcess;
  exited: Promise<void>;
  /** The client URL (`host:port`). */
  url: string;
}

export interface NatsClusterOptions {
  /** Nodes (default 3). */
  nodes?: number;
  /** Per node: the address it listens on (default 127.0.0.1 for all). */
  hosts?: string[];
  /** Per node: the network namespace to run it in (with `ip netns exec`). */
  netns?: (string | undefined)[];
  /** Fixed ports (needed across namespaces, where a free loopback port says nothing); default: free loopback ports. */
  clientPort?: number;
  routePort?: number;
  /** Largest message (nats-server max_payload); default 8 MB (checkpoints can be big). */
  maxPayload?: string;
  /** Clients must use TLS with this certificate (PEM files) and present this token. */
  secure?: { certFile: string; keyFile: string; token: string };
}

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => resolve(port));
    });
  });
}

export class NatsCluster {
  private constructor(
    readonly dir: string,
    readonly nodes: NatsNode[],
    private readonly clusterName: string,
  ) {}

  /** Client URLs of every node (`host:port`), for `servers`. */
  get urls(): string[] {
    return this.nodes.map((n) => n.url);
  }

  /** The same as one `nats://a,b,c` target string. */
  get target(): string {
    return `nats://${this.urls.join(',')}`;
  }

  static async start(opts: NatsClusterOptions = {}): Promise<NatsCluster> {
    if (NATS_SERVER === undefined) throw new Error('nats-server is not installed (Debian package nats-server)');
    const n = opts.nodes ?? 3;
    const dir = await mkdtemp(join(tmpdir(), 'ftcpt-nats-'));
    const hosts = opts.hosts ?? new Array<string>(n).fill('127.0.0.1');
    const clientPorts: number[] = [];
    const routePorts: number[] = [];
    for (let i = 0; i < n; i++) {
      clientPorts.push(opts.clientPort ?? (await freePort()));
      routePorts.push(opts.routePort ?? (await freePort()));
    }
    const clusterName = `ftcpt${process.pid}x${Math.floor(Math.random() * 1e6)}`;
    const cluster = new NatsCluster(dir, [], clusterName);
    try {
      for (let i = 0; i < n; i++) {
        const node = await cluster.spawnNode(i, hosts, clientPorts, routePorts, opts.netns?.[i], opts.maxPayload ?? '8MB', opts.secure);
        cluster.nodes.push(node);
      }
      await cluster.waitReady();
    } catch (err) {
      await cluster.stop();
      throw err;
    }
    return cluster;
  }

  private async spawnNode(i: number, hosts: string[], clientPorts: number[], routePorts: number[], netns: string | undefined, maxPayload: string, secure?: NatsClusterOptions['secure']): Promise<NatsNode> {
    const name = `n${i + 1}`;
    const conf = join(this.dir, `${name}.conf`);
    const routes = hosts.map((h, j) => `nats-route://${h}:${routePorts[j]}`).join(', ');
    const lines = [
      `server_name: ${name}`,
      `listen: ${hosts[i]}:${clientPorts[i]}`,
      `max_payload: ${maxPayload}`,
      `jetstream { store_dir: "${join(this.dir, name)}", max_memory_store: 64MB, max_file_store: 1GB }`,
    ];
    if (secure) lines.push(`tls { cert_file: "${secure.certFile}", key_file: "${secure.keyFile}" }`, `authorization { token: "${secure.token}" }`);
    if (hosts.length > 1) lines.push(`cluster { name: ${this.clusterName}, listen: ${hosts[i]}:${routePorts[i]}, routes: [ ${routes} ] }`);
    await writeFile(conf, lines.join('\n'));
    const log = join(this.dir, `${name}.log`);
    const [cmd, args] = netns !== undefined ? ['ip', ['netns', 'exec', netns, NATS_SERVER!, '-c', conf]] : [NATS_SERVER!, ['-c', conf]];
    const proc = spawn(cmd as string, args as string[], { stdio: ['ignore', 'ignore', 'pipe'] });
    proc.stderr!.pipe(createWriteStream(log, { flags: 'a' }));
    const exited = new Promise<void>((r) => {
      if (proc.exitCode !== null || proc.signalCode !== null) r();
      else proc.once('exit', () => r());
    });
    return { name, host: hosts[i]!, clientPort: clientPorts[i]!, routePort: routePorts[i]!, netns, proc, exited, url: `${hosts[i]}:${clientPorts[i]}` };
  }

  private async logOf(node: NatsNode): Promise<string> {
    return readFile(join(this.dir, `${node.name}.log`), 'utf8').catch(() => '');
  }

  /** Bounded wait (30 s) until every running node logged "Server is ready". */
  async waitReady(): Promise<void> {
    for (let i = 0; i < 300; i++) {
      const up = this.nodes.filter((n) => n.proc.exitCode === null && n.proc.signalCode === null);
      const logs = await Promise.all(up.map((n) => this.logOf(n)));
      if (logs.every((l) => l.includes('Server is ready'))) return;
      const dead = this.nodes.find((n) => n.proc.exitCode !== null);
      if (dead) throw new Error(`nats-server ${dead.name} exited at start:\n${await this.logOf(dead)}`);
      await sleep(100);
    }
    throw new Error('nats-server cluster not ready after 30 s');
  }

  /** SIGKILLs one node and waits for it to be gone. */
  async kill(name: string): Promise<void> {
    const node = this.nodes.find((n) => n.name === name);
    if (!node) throw new Error(`no node ${name}`);
    node.proc.kill('SIGKILL');
    await node.exited;
  }

  /** Starts a killed node again (same config and store dir). */
  async restart(name: string): Promise<void> {
    const i = this.nodes.findIndex((n) => n.name === name);
    if (i < 0) throw new Error(`no node ${name}`);
    const old = this.nodes[i]!;
    if (old.proc.exitCode === null && old.proc.signalCode === null) throw new Error(`node ${name} is still running`);
    const conf = join(this.dir, `${name}.conf`);
    const [cmd, args] = old.netns !== undefined ? ['ip', ['netns', 'exec', old.netns, NATS_SERVER!, '-c', conf]] : [NATS_SERVER!, ['-c', conf]];
    const proc = spawn(cmd as string, args as string[], { stdio: ['ignore', 'ignore', 'pipe'] });
    proc.stderr!.pipe(createWriteStream(join(this.dir, `${name}.log`), { flags: 'a' }));
    const exited = new Promise<void>((r) => proc.once('exit', () => r()));
    this.nodes[i] = { ...old, proc, exited };
  }

  async stop(): Promise<void> {
    for (const n of this.nodes) if (n.proc.exitCode === null && n.proc.signalCode === null) n.proc.kill('SIGKILL');
    await Promise.all(this.nodes.map((n) => n.exited));
    if (process.env.FTCP_KEEP_NATS === undefined) await rm(this.dir, { recursive: true, force: true });
  }
}
