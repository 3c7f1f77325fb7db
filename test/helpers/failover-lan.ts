// Shared setup of the host-failover scenario tests (issue 8): a LAN in namespaces (client,
// primary, secondary, three NATS JetStream nodes), `ftcp run --log nats://…` / `ftcp standby`
// daemons on it, and the tools the scenarios look with: a packet capture on a host's LAN link,
// a partition of a host (nftables in its namespace), node scripts run on a host (the test process
// itself is outside the LAN and cannot reach the NATS nodes). cleanup() removes everything, also
// after a failure; call it from afterAll.
import { spawn, type ChildProcess } from 'node:child_process';
import { afterAll, afterEach, beforeAll } from 'vitest';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ROOT, netnsExists, sh, sleep, spawnCollect, startFtcp, stopFtcp, type FtcpRunHandle } from './host.js';
import { LanTopology } from './lan-topology.js';
import { NATS_SERVER, NatsCluster } from './nats-cluster.js';
import { makeTestCerts } from './test-certs.js';

export const APPS = join(ROOT, 'test', 'apps');
export const ECHO_APP = ['python3', join(APPS, 'echo.py'), '9000'];

/** `FTCP_NODE` of a host: keeps the two hosts' app namespaces (`ftcp-p-NAME`, `ftcp-s-NAME`) apart. */
export const NODE_OF: Record<string, string> = { primary: 'p', secondary: 's' };

export interface EchoResult {
  sent: number;
  received: number;
  sentSha: string;
  recvSha: string;
  error?: string;
}

export interface Capture {
  file: string;
  /** Stops tcpdump and waits until the file is complete. */
  stop(): Promise<void>;
}

export class FailoverLan {
  readonly daemons: FtcpRunHandle[] = [];
  private readonly services = new Set<string>();
  private readonly dirs: string[] = [];
  private readonly procs: ChildProcess[] = [];
  private readonly partitioned = new Set<string>();

  private constructor(
    readonly lan: LanTopology,
    readonly nats: NatsCluster,
    /** Prefix for files kept for a post-mortem. */
    private readonly what: string,
    /** The daemons' flags for a secured cluster (TLS, a token), and its files' directory. */
    private readonly secured?: { flags: string[]; dir: string },
  ) {
    if (secured) this.dirs.push(secured.dir);
  }

  /** The LAN and a 3-node NATS cluster on it; undefined when nats-server is not installed. */
  static async start(id: string, opts: { secure?: boolean } = {}): Promise<FailoverLan | undefined> {
    if (NATS_SERVER === undefined) return undefined;
    const lan = LanTopology.create({ id, hosts: ['client', 'primary', 'secondary', 'nats1', 'nats2', 'nats3'] });
    let secured: { flags: string[]; dir: string } | undefined;
    try {
      const natsHosts = ['nats1', 'nats2', 'nats3'];
      let secure: { certFile: string; keyFile: string; token: string } | undefined;
      if (opts.secure) {
        // Clients use TLS (a certificate for the three nodes' addresses) and a token.
        const dir = mkdtempSync(join(tmpdir(), 'ftcpt-fl-tls-'));
        const certs = makeTestCerts(dir, natsHosts.map((h) => lan.addr(h)));
        const token = `ftcpt-${id}-token`;
        writeFileSync(join(dir, 'token'), `${token}\n`, { mode: 0o600 });
        secure = { certFile: certs.cert, keyFile: certs.key, token };
        secured = { flags: ['--log-token-file', join(dir, 'token'), '--log-tls-ca', certs.ca], dir };
      }
      const nats = await NatsCluster.start({ nodes: 3, hosts: natsHosts.map((h) => lan.addr(h)), netns: natsHosts.map((h) => lan.ns(h)), clientPort: 4222, routePort: 6222, ...(secure ? { secure } : {}) });
      return new FailoverLan(lan, nats, id, secured);
    } catch (err) {
      lan.destroy();
      if (secured) rmSync(secured.dir, { recursive: true, force: true });
      throw err;
    }
  }

  /**
   * What a host's daemon needs of its own, two hosts sharing this machine: FTCP_NODE, a run dir,
   * and a data dir (the embedded log server's socket lives there: the default /var/lib/ftcp/NAME
   * would be one path for both hosts).
   */
  hostDirs(host: string): { env: NodeJS.ProcessEnv; dataDir: string } {
    const node = NODE_OF[host] ?? host;
    const dir = mkdtempSync(join(tmpdir(), `ftcpt-fl-${node}-`));
    this.dirs.push(dir);
    return { env: { FTCP_NODE: node, FTCP_RUN_DIR: join(dir, 'run') }, dataDir: join(dir, 'data') };
  }

  /** Flags shared by `ftcp run` and `ftcp standby` of one service. */
  flags(svc: string, vip: string, app: string[], extra: string[] = []): string[] {
    return ['--name', svc, '--vip', vip, '--port', '9000', '--log', this.nats.target, ...(this.secured?.flags ?? []), ...extra, '--', ...app];
  }

  private async startOn(host: string, cmd: 'run' | 'standby', svc: string, vip: string, app: string[], extra: string[], ready?: RegExp): Promise<FtcpRunHandle> {
    this.services.add(svc);
    const { env, dataDir } = this.hostDirs(host);
    const args = [cmd, ...this.flags(svc, vip, app, ['--data-dir', dataDir, ...extra])];
    const h = await startFtcp(this.lan.netns(host), args, 60_000, 'info', { env, ...(ready ? { ready } : {}) });
    this.daemons.push(h);
    return h;
  }

  /** `ftcp run` of SVC on HOST (default the primary), waiting for its ready line. */
  startPrimary(svc: string, vip: string, app: string[], extra: string[] = [], host = 'primary'): Promise<FtcpRunHandle> {
    return this.startOn(host, 'run', svc, vip, app, extra);
  }

  /** `ftcp standby` of SVC on HOST (default the secondary), waiting until it follows the log. */
  startStandby(svc: string, vip: string, app: string[], extra: string[] = [], host = 'secondary'): Promise<FtcpRunHandle> {
    return this.startOn(host, 'standby', svc, vip, app, extra, /standby \(following the log\)/);
  }

  /** The host is lost: every process of it (daemon, app) SIGKILLed, and its LAN link down. */
  killHost(host: string, svc: string): number[] {
    const killed = this.lan.killAll(host, [`ftcp-${NODE_OF[host] ?? host}-${svc}`]);
    this.lan.setLinkDown(host);
    return killed;
  }

  /**
   * Cuts HOST off the LAN with its processes left running: nftables in its namespace drops every
   * IP packet and ARP frame in or out of its LAN link (and forwarded through it). The link stays
   * up, so what the host set on it (the VIP's proxy-ARP entry) stays too.
   */
  partition(host: string): void {
    const ruleset = [
      'table inet ftcpt_partition {',
      '  chain part_in { type filter hook input priority -300; iifname "lan0" drop; }',
      '  chain part_out { type filter hook output priority -300; oifname "lan0" drop; }',
      '  chain part_fwd { type filter hook forward priority -300; iifname "lan0" drop; oifname "lan0" drop; }',
      '}',
      'table arp ftcpt_partition {',
      '  chain part_in { type filter hook input priority 0; policy drop; }',
      '  chain part_out { type filter hook output priority 0; policy drop; }',
      '}',
    ].join('\n');
    this.lan.exec(host, 'nft', ['-f', '-'], { input: ruleset });
    this.partitioned.add(host);
  }

  /**
   * Cuts HOST off the NATS nodes only (nftables drops IP to and from their addresses): it still
   * reaches, and is reached by, the clients.
   */
  partitionFromNats(host: string): void {
    const addrs = ['nats1', 'nats2', 'nats3'].map((h) => this.lan.addr(h)).join(', ');
    const ruleset = [
      'table inet ftcpt_partition {',
      `  chain part_in { type filter hook input priority -300; ip saddr { ${addrs} } drop; }`,
      `  chain part_out { type filter hook output priority -300; ip daddr { ${addrs} } drop; }`,
      '}',
    ].join('\n');
    this.lan.exec(host, 'nft', ['-f', '-'], { input: ruleset });
    this.partitioned.add(host);
  }

  heal(host: string): void {
    for (const family of ['inet', 'arp']) {
      try {
        this.lan.exec(host, 'nft', ['delete', 'table', family, 'ftcpt_partition']);
      } catch {
        /* not there */
      }
    }
    this.partitioned.delete(host);
  }

  /** tcpdump on HOST's LAN link into a pcap file (headers only: 128 bytes a frame). */
  async capture(host: string): Promise<Capture> {
    const dir = mkdtempSync(join(tmpdir(), 'ftcpt-fl-cap-'));
    this.dirs.push(dir);
    const file = join(dir, `${host}.pcap`);
    const p = spawn('ip', ['netns', 'exec', this.lan.ns(host), 'tcpdump', '-i', 'lan0', '-n', '-U', '-s', '160', '-w', file], { stdio: ['ignore', 'ignore', 'pipe'] });
    this.procs.push(p);
    let err = '';
    p.stderr!.on('data', (d: Buffer) => (err += d.toString()));
    const exited = new Promise<void>((r) => p.once('exit', () => r()));
    for (let i = 0; i < 100 && !/listening on/.test(err); i++) await sleep(50);
    if (!/listening on/.test(err)) throw new Error(`tcpdump did not start on ${host}: ${err}`);
    return {
      file,
      stop: async () => {
        if (p.exitCode === null && p.signalCode === null) p.kill('SIGINT');
        await exited;
      },
    };
  }

  /** The echo client (test/apps/echo_client.py) on the client host, in the background. */
  echoClient(vip: string, bytes: number, rate: number, timeoutS = 60): Promise<EchoResult> {
    return spawnCollect(this.lan.netns('client'), 'python3', [join(APPS, 'echo_client.py'), vip, '9000', String(bytes), String(timeoutS), String(rate)], (timeoutS + 30) * 1000).then((out) => {
      try {
        return JSON.parse(out.stdout) as EchoResult;
      } catch {
        return { sent: bytes, received: 0, sentSha: '', recvSha: '', error: `echo client printed no result (code ${out.code}): ${out.stderr.slice(-400)}` };
      }
    });
  }

  /**
   * Runs an ES-module snippet with node on HOST (cwd = the repo, so `@nats-io/*` and dist/
   * resolve); resolves with its stdout, rejects with its stderr.
   */
  nodeOn(host: string, code: string, timeoutMs = 30_000): Promise<string> {
    return new Promise((resolve, reject) => {
      const child = spawn('ip', ['netns', 'exec', this.lan.ns(host), process.execPath, '--input-type=module', '-e', code], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
      let out = '';
      let err = '';
      child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
      child.stderr!.on('data', (d: Buffer) => (err += d.toString()));
      const t = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
      child.once('exit', (c) => {
        clearTimeout(t);
        if (c === 0) resolve(out);
        else reject(new Error(`node on ${host} exited ${c}: ${err.slice(-1000)}`));
      });
    });
  }

  /** A node script that keeps running on HOST (killed by cleanup()); its output so far. */
  nodeBackground(host: string, code: string): { proc: ChildProcess; out: () => string } {
    const child = spawn('ip', ['netns', 'exec', this.lan.ns(host), process.execPath, '--input-type=module', '-e', code], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
    this.procs.push(child);
    let out = '';
    child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr!.on('data', (d: Buffer) => (out += d.toString()));
    return { proc: child, out: () => out };
  }

  /** The NATS node (`n1`…) leading a stream's RAFT group, asked from the client host. */
  async leaderOf(stream: string): Promise<string | undefined> {
    const code = `
      import { connect } from '@nats-io/transport-node';
      import { jetstreamManager } from '@nats-io/jetstream';
      const nc = await connect({ servers: ${JSON.stringify(this.nats.urls)} });
      const jsm = await jetstreamManager(nc);
      const si = await jsm.streams.info(${JSON.stringify(stream)});
      console.log(JSON.stringify({ leader: si.cluster?.leader ?? null }));
      await nc.close();`;
    // JetStream's API does not answer while its meta group elects a leader (a node was just
    // killed, or the machine is loaded): a timed-out request is asked again, a few times.
    let out = '';
    for (let attempt = 1; ; attempt++) {
      try {
        out = await this.nodeOn('client', code);
        break;
      } catch (err) {
        if (attempt >= 4 || !/TimeoutError/.test(String(err))) throw err;
        await new Promise((r) => setTimeout(r, 1000));
      }
    }
    return (JSON.parse(out.trim().split('\n').pop()!) as { leader: string | null }).leader ?? undefined;
  }

  /** A stream's state (first/last seq, messages, consumers), asked from the client host: for post-mortems. */
  async streamState(stream: string): Promise<unknown> {
    const code = `
      import { connect } from '@nats-io/transport-node';
      import { jetstreamManager } from '@nats-io/jetstream';
      const nc = await connect({ servers: ${JSON.stringify(this.nats.urls)} });
      const jsm = await jetstreamManager(nc);
      const si = await jsm.streams.info(${JSON.stringify(stream)}, { subjects_filter: '>' });
      const consumers = [];
      for await (const ci of jsm.consumers.list(${JSON.stringify(stream)})) consumers.push({ name: ci.name, waiting: ci.num_waiting, pending: ci.num_pending, delivered: ci.delivered, start: ci.config.opt_start_seq, policy: ci.config.deliver_policy, leader: ci.cluster?.leader });
      console.log(JSON.stringify({ state: si.state, leader: si.cluster?.leader, consumers }));
      await nc.close();`;
    return JSON.parse((await this.nodeOn('client', code)).trim().split('\n').pop()!) as unknown;
  }

  /** Messages per subject in a stream (e.g. `{ 'ftcp.svc.r': 412, 'ftcp.svc.e': 1 }`), asked from the client host. */
  async subjectsOf(stream: string): Promise<Record<string, number>> {
    const code = `
      import { connect } from '@nats-io/transport-node';
      import { jetstreamManager } from '@nats-io/jetstream';
      const nc = await connect({ servers: ${JSON.stringify(this.nats.urls)} });
      const jsm = await jetstreamManager(nc);
      const si = await jsm.streams.info(${JSON.stringify(stream)}, { subjects_filter: '>' });
      console.log(JSON.stringify(si.state.subjects ?? {}));
      await nc.close();`;
    const out = await this.nodeOn('client', code);
    return JSON.parse(out.trim().split('\n').pop()!) as Record<string, number>;
  }

  /** Writes the daemons' whole logs to files for a post-mortem and says where. */
  keepLogs(what: string, logs: Record<string, FtcpRunHandle>): void {
    const base = join(tmpdir(), `ftcpt-${this.what}-${process.pid}-${what}`);
    for (const [name, h] of Object.entries(logs)) writeFileSync(`${base}-${name}.log`, h.stderr());
    console.error(`${what}: logs in ${base}-{${Object.keys(logs).join(',')}}.log`);
  }

  /** Stops the daemons (SIGTERM, then SIGKILL) and brings every host's link back. */
  async stopDaemons(): Promise<void> {
    for (const d of this.daemons.splice(0)) await stopFtcp(d, 5000).catch(() => undefined);
    for (const h of [...this.partitioned]) this.heal(h);
    for (const h of ['primary', 'secondary']) {
      try {
        this.lan.setLinkUp(h);
      } catch {
        /* gone */
      }
    }
  }

  async cleanup(): Promise<void> {
    await this.stopDaemons().catch(() => undefined);
    for (const p of this.procs) if (p.exitCode === null && p.signalCode === null) p.kill('SIGKILL');
    await this.nats.stop().catch(() => undefined);
    this.lan.destroy();
    for (const svc of this.services) {
      for (const node of Object.values(NODE_OF)) {
        const ns = `ftcp-${node}-${svc}`;
        if (netnsExists(ns)) {
          try {
            sh('ip', ['netns', 'del', ns]);
          } catch {
            /* busy */
          }
        }
      }
    }
    for (const d of this.dirs) rmSync(d, { recursive: true, force: true });
  }
}

/** Lines of a daemon's JSON log whose msg contains TEXT, parsed. */
export function logLines(stderr: string, text: string): { time: number; msg: string; [k: string]: unknown }[] {
  const out: { time: number; msg: string }[] = [];
  for (const line of stderr.split('\n')) {
    if (!line.includes(text)) continue;
    try {
      const v = JSON.parse(line) as { time: number; msg: string };
      if (typeof v.msg === 'string' && v.msg.includes(text)) out.push(v);
    } catch {
      /* not JSON */
    }
  }
  return out;
}

/**
 * The hooks of a test file on one FailoverLan: started before its tests, every case's daemons
 * stopped after it, everything removed at the end (also after a failure). `set` receives it.
 */
export function useFailoverLan(id: string, set: (fl: FailoverLan | undefined) => void, opts: { secure?: boolean } = {}): void {
  let fl: FailoverLan | undefined;
  beforeAll(async () => {
    fl = await FailoverLan.start(id, opts);
    set(fl);
  }, 60_000);
  afterEach(async () => {
    await fl?.stopDaemons();
  }, 60_000);
  afterAll(async () => {
    await fl?.cleanup();
  }, 60_000);
}

