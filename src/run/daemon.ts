// `ftcp run`: sets up the app's network, relays its packets, supervises it, and cleans up.
import { mkdirSync } from 'node:fs';
import { getPriority } from 'node:os';
import { join } from 'node:path';
import { LogClient } from '../log/client.js';
import { logClientSecurity } from '../log/log-credentials.js';
import { startLogProxy, type LogProxy } from '../log/log-proxy.js';
import { natsSecurity } from '../log/replica/nats-security.js';
import { checkRemoteLog } from './remote-log-check.js';
import { startEmbeddedLogServer, type EmbeddedLogServer } from '../log/embedded.js';
import type { Logger } from '../util/logger.js';
import { netnsExists, destroyNetnsSync } from '../netns/namespace.js';
import { Relay } from '../relay/relay.js';
import { PassThroughPath } from '../relay/packet-path.js';
import { CapturePath } from '../capture/capture-path.js';
import { CaptureService } from '../capture/capture-session.js';
import { parseIpAddr } from '../wire/addr.js';
import { SecondWrapper, restoresAtOnce } from '../wrapper/second-wrapper.js';
import { LogClientWrapperLog } from '../wrapper/wrapper-log.js';
import { linkShim } from '../wrapper/shim-link.js';
import { checkpointSource } from '../wrapper/checkpoint-source.js';
import { collectAdoptable } from '../wrapper/adopt.js';
import { FtcpMetrics } from '../metrics/metrics.js';
import { isLoopback, startMetricsServer, type MetricsServer } from '../metrics/metrics-server.js';
import { startControlServer, type ControlServer } from '../status/control-server.js';
import { statusSnapshot, type FailoverView, type StatusSource } from '../status/snapshot.js';
import { setProcessNice } from './process-priority.js';
import { isProcessAlive } from './app-liveness.js';
import { acquireInstanceLock, releaseInstanceLock } from './instance-lock.js';
import { listeningPorts } from './listen-probe.js';
import { ConfigError, instanceNames, type RunConfig } from './run-config.js';
import { Supervisor, type AppExit } from './supervisor.js';
import { buildTopology, checkVipFree, writeBehindFromEnv, type Topology } from './topology.js';
import { watchLogLink } from './log-link-events.js';
import { reportRestoreProgress } from './restore-progress.js';
import { becomePrimary, closePrimary, guardPrimary, type PrimaryLog } from './primary-role.js';
import { watchStandbys } from './standby-watch.js';
import { LanVip } from './lan-vip.js';
import { scheduleWarmUps, warmUpConnections } from './warm-up-schedule.js';

export interface DaemonOptions {
  log: Logger;
  /** Where the ready line goes (stdout). */
  ready?: (line: string) => void;
  /**
   * `ftcp standby`: the daemon prepares the host (namespace, TUNs, control socket), shows `view`
   * in status, then waits for `takeOver` — the log it followed, promoted at the lease's epoch —
   * before it starts the app. Without it, `--log nats://` makes the daemon take the lease itself.
   */
  standby?: { view: FailoverView; takeOver(signal: AbortSignal): Promise<PrimaryLog> };
}

/** Exit status of a primary fenced by a newer one (it must not be restarted blindly). */
export const EXIT_FENCED = 3;

function requireRoot(): void {
  if (typeof process.getuid === 'function' && process.getuid() !== 0) {
    throw new ConfigError('ftcp run needs root (CAP_NET_ADMIN to create namespaces and TUN devices): run it with sudo');
  }
}

/** Removes what a daemon that died left behind (its namespace, and the app still running there). */
function cleanStaleState(cfg: RunConfig, log: Logger): void {
  const { netns } = instanceNames(cfg.name);
  if (!netnsExists(netns)) return;
  log.warn({ netns }, `cleaning up state left by an earlier ftcp run of ${cfg.name} (namespace ${netns})`);
  process.stderr.write(`ftcp: cleaning up state left by an earlier run of ${cfg.name} (namespace ${netns})\n`);
  destroyNetnsSync(netns);
}

async function waitListening(
  sup: Supervisor,
  ports: number[],
  signal: AbortSignal,
  finalExit: () => AppExit | undefined,
): Promise<void> {
  for (;;) {
    const exit = finalExit();
    if (exit) {
      throw new Error(`the app exited (${describeExit(exit)}) before it listened on port(s) ${ports.join(', ')}`);
    }
    if (signal.aborted) throw new StopRequested();
    const pid = sup.pid;
    if (pid === undefined) {
      await new Promise((r) => setTimeout(r, 20)); // between a crash and its restart
      continue;
    }
    const open = listeningPorts(pid);
    if (ports.every((p) => open.has(p))) return;
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** The daemon's threads and the app ahead of the host's other work (config `nice`). */
function applyNice(nice: number, log: Logger): void {
  const startedWith = getPriority(0);
  const res = setProcessNice(nice);
  if (res.error !== undefined) {
    log.warn(
      { nice, startedWith, error: res.error },
      `could not set the service's priority to nice ${nice} (${res.error}): it runs at nice ${startedWith}, the priority it was started with; give the daemon CAP_SYS_NICE, or set nice = ${startedWith} to silence this`,
    );
  } else {
    log.debug({ nice, threads: res.threads }, 'priority set');
  }
}

/** Runs until a signal or the app's final exit; resolves with the process exit code. */
export async function runDaemon(cfg: RunConfig, opts: DaemonOptions): Promise<number> {
  const { log } = opts;
  requireRoot();
  applyNice(cfg.nice, log);
  const lock = acquireInstanceLock(cfg.name);
  if (!lock.ok) {
    throw new ConfigError(`service ${cfg.name} is already running (pid ${lock.ownerPid}): pick another --name or stop it`);
  }
  let topo: Topology | undefined;
  let relay: Relay | undefined;
  let sup: Supervisor | undefined;
  let logServer: EmbeddedLogServer | undefined;
  let logClient: LogClient | undefined;
  let logProxy: LogProxy | undefined;
  let logTarget: string | undefined;
  let wrapper: SecondWrapper | undefined;
  let control: ControlServer | undefined;
  let metricsHttp: MetricsServer | undefined;
  let unlinkShim: (() => void) | undefined;
  let primary: PrimaryLog | undefined;
  let unguard: (() => void) | undefined;
  let lanVip: LanVip | undefined;
  let fenced: string | undefined;
  let claiming: Promise<void> | undefined;
  /** When this standby took the lease (performance.now()); undefined when it did not. */
  let tookOverAt: number | undefined;
  let stopStandbyWatch: (() => void) | undefined;
  let stopWarmUps: (() => void) | undefined;
  let ready = false;
  // `ftcp capture NAME`: a decorator on the relay's path, idle until a capture is asked for.
  let capturePath: CapturePath | undefined;
  let captures: CaptureService | undefined;
  const startedAt = Date.now();
  // Read at request/scrape time: parts not built yet are undefined.
  const source = (): StatusSource => ({ cfg, wrapper, relay, supervisor: sup, logClient, startedAt, primary: primary ?? opts.standby?.view });
  const metrics = cfg.metrics !== undefined ? new FtcpMetrics(source, { service: cfg.name }) : undefined;
  const abort = new AbortController();
  let finalExit: AppExit | undefined;

  const onSignal = (sig: NodeJS.Signals): void => {
    log.info({ signal: sig }, 'stopping');
    abort.abort();
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  process.on('SIGHUP', onSignal);
  const cleanupSync = (): void => {
    wrapper?.close();
    relay?.close();
    topo?.teardown();
    control?.removeSync();
    releaseInstanceLock(cfg.name);
  };
  // A crash of the daemon itself still removes what it can; the next start removes the rest.
  process.once('exit', cleanupSync);

  try {
    const drillConns = cfg.log ? warmUpConnections() : 0;
    const restoreSlots = restoresAtOnce(process.env['FTCP_RESTORES_AT_ONCE']); // a bad value stops the start here, with its fix
    const writeBehind = writeBehindFromEnv(process.env['FTCP_TUN_WRITE_BEHIND']);
    cleanStaleState(cfg, log);
    await checkVipFree(cfg);
    // A host that may have to claim the VIP on a LAN must be able to: checked at start.
    lanVip = await LanVip.prepare(cfg, log);
    topo = await buildTopology(cfg, log);
    const svc = new CaptureService(
      () => capturePath,
      {
        outer: { name: topo.outer.name, description: `outer TUN of ${cfg.name}: what the clients see` },
        inner: { name: topo.inner.name, description: `inner TUN of ${cfg.name} (in ${topo.netns}): what the app's stack sees` },
      },
      cfg.name,
      log.child({ component: 'capture' }),
    );
    captures = svc;
    control = await startControlServer({
      name: cfg.name,
      status: () => statusSnapshot(source()),
      capture: (req, sock) => svc.start(req, sock),
      log: log.child({ component: 'control' }),
    });
    if (metrics && cfg.metrics !== undefined) {
      metricsHttp = await startMetricsServer(cfg.metrics, metrics.registry);
      log.info({ url: metricsHttp.url }, 'metrics');
      if (!isLoopback(metricsHttp.host)) log.warn({ url: metricsHttp.url }, 'metrics are served beyond loopback (read-only, no authentication)');
    }
    // The restore path compiled before it is needed (a standby now, a primary once ready).
    const startWarmUps = (): void => {
      // Busy: a takeover under way (the lease is ours, not ready yet), or a restore.
      const busy = (): boolean => (primary !== undefined && !ready) || wrapper?.appDown === true;
      stopWarmUps ??= scheduleWarmUps({ vnetHdrLen: topo!.outer.vnetHdrLen, connections: drillConns, busy, log: log.child({ component: 'warm-up' }) });
    };
    // `ftcp standby`: everything above is ready (namespace, TUNs, control socket), so a takeover
    // starts here: wait for the primary's lease to expire and the log to be ours.
    if (opts.standby) {
      startWarmUps();
      await lanVip?.lookUpLinks(topo.outer.name);
      const stop = new Promise<never>((_, reject) => {
        if (abort.signal.aborted) reject(new StopRequested());
        abort.signal.addEventListener('abort', () => reject(new StopRequested()), { once: true });
      });
      primary = await Promise.race([opts.standby.takeOver(abort.signal), stop]);
      tookOverAt = performance.now();
    }
    if (cfg.log) {
      let target = cfg.logTarget;
      if (cfg.natsServers !== undefined) {
        // Replicated log: this daemon is the service's primary while it holds the lease.
        primary ??= await becomePrimary(cfg, log);
        const p = primary;
        unguard = guardPrimary(
          p,
          {
            // The wrapper checks the lease itself, per batch. The VIP is withdrawn from the LAN
            // meanwhile: a client must not learn this host's MAC while another may take over.
            suspended: (on) => {
              if (fenced === undefined) lanVip?.suspend(on);
            },
            fenced: (why) => {
              if (fenced !== undefined) return; // the lease and the log may both say so
              fenced = why;
              if (wrapper) wrapper.silenced = true;
              log.error({ epoch: p.epoch }, `${why}: this daemon is no longer the primary; stopping without a word to the clients`);
              abort.abort();
            },
          },
          log,
        );
        mkdirSync(cfg.dataDir, { recursive: true, mode: 0o750 });
        logServer = await startEmbeddedLogServer({ dataDir: cfg.dataDir, store: p.store, log: log.child({ component: 'logd' }) });
        target = logServer.target;
      } else if (target === undefined) {
        mkdirSync(cfg.dataDir, { recursive: true, mode: 0o750 });
        logServer = await startEmbeddedLogServer({ dataDir: cfg.dataDir, durability: cfg.durability, log: log.child({ component: 'logd' }) });
        target = logServer.target;
      }
      logTarget = target;
      // On a replicated log the store holds the primary's epoch: older writers are fenced. An
      // external log server on another host gets its token and TLS (the embedded one neither).
      const security = target === cfg.logTarget ? logClientSecurity(cfg.logCredentials) : {};
      logClient = new LogClient({ target, service: cfg.name, ...security, ...(primary ? { epoch: primary.epoch } : {}) });
      logClient.on('failed', (err: Error) => log.error({ err }, 'log server refused appends'));
      if (target === cfg.logTarget && !target.startsWith('unix:')) {
        await checkRemoteLog(logClient, target, cfg.logCredentials, log);
        // The app's shim reaches it through this daemon (its namespace has no route to the LAN).
        mkdirSync(cfg.dataDir, { recursive: true, mode: 0o750 });
        logProxy = await startLogProxy({ socketPath: join(cfg.dataDir, 'log-proxy.sock'), remote: target, ...security, log });
      }
      watchLogLink(logClient, log);
    }
    // What an app using the shim (first wrapper) needs to find its log; harmless to others.
    const appEnv: NodeJS.ProcessEnv = { ...process.env, FTCP_SERVICE: cfg.name, FTCP_VIP: cfg.vip };
    if (logTarget !== undefined) appEnv.FTCP_LOG_TARGET = logProxy?.target ?? logTarget;
    if (primary) appEnv.FTCP_LOG_EPOCH = String(primary.epoch);
    sup = new Supervisor({ netns: topo.netns, command: cfg.command, restart: cfg.restart, log, env: appEnv });
    const supervisor = sup;
    // The app's final exit (before it even listened, too) ends the daemon.
    sup.once('stopped', (e: AppExit) => {
      finalExit = e;
      abort.abort();
    });
    if (logClient) {
      const wlog = new LogClientWrapperLog(logClient, logTarget);
      const checkpoints = checkpointSource(logClient, logTarget);
      wrapper = new SecondWrapper({
        vip: parseIpAddr(cfg.vip),
        ports: cfg.ports,
        log: metrics ? metrics.timeAppends(wlog) : wlog,
        vnetHdrLen: topo.outer.vnetHdrLen,
        inject: (direction, packet) => relay?.inject(direction, packet),
        liveness: { isAlive: () => isProcessAlive(supervisor.pid) },
        logger: log.child({ component: 'wrapper' }),
        maxReplayBytes: cfg.maxReplayBytes,
        restoresAtOnce: restoreSlots,
        icmpNudge: cfg.icmpNudge,
        // A restore's burst of writes goes through the devices' writer threads: it then overlaps
        // the relay thread's work instead of taking a quarter of it.
        onRestoring: (on) => {
          if (writeBehind === 'restore') relay?.setWriteBehind(on);
        },
        checkpoints,
        ...(primary ? { fence: fenceOf(primary.lease) } : {}),
      });
      // The app starts now, while the log is read for connections to adopt: its start-up is the
      // longest step of a takeover, and nothing reaches it before the relay runs.
      startApp(sup, wrapper, cfg.ports, abort.signal, log, () => relay !== undefined);
      // The lease is ours: claim the VIP now (an `ip` and the first gratuitous ARP, after the
      // app's spawn: its start is longer), before the connections are adopted. Clients' packets
      // wait in the outer TUN until the relay starts; a client retransmitting in the meantime (its
      // timer runs 0.21, 0.43, 0.86, 1.7 s after its send) is not missed for want of the claim.
      if (primary && cfg.natsServers !== undefined) {
        claiming = lanVip?.claimOn(topo.outer.name);
        claiming?.catch(() => undefined); // awaited below
      }
      // Connections the log still has open (this daemon's own crash, or a host taken over) are
      // held before any packet flows, and restored once the app listens.
      // A hot standby kept them current while it followed the log; otherwise the log is read.
      const ckpt = await checkpoints.latest();
      const found = primary?.adoption ? primary.adoption.result(ckpt) : await collectAdoptable(wlog.records(), ckpt);
      if (found.length > 0) wrapper.adopt(found);
    }
    // Embedded log: close intents and the shim's session reach the wrapper in-process.
    if (wrapper && logServer) {
      unlinkShim = linkShim({ store: logServer.store, server: logServer.server, service: cfg.name, wrapper, logger: log.child({ component: 'shim-link' }) });
    }
    capturePath = new CapturePath(wrapper ?? new PassThroughPath(), { vnetHdrLen: topo.outer.vnetHdrLen, ...(wrapper ? { wrapper } : {}) });
    relay = new Relay({
      outer: topo.outer,
      inner: topo.inner,
      path: capturePath,
      onError: (err, direction) => log.error({ err, direction }, 'relay error'),
    });
    relay.start();
    relay.setWriteBehind(writeBehind === 'always' || (writeBehind === 'restore' && wrapper?.restoring === true));
    // Adopted connections restore as soon as the app listens (it may already).
    if (wrapper?.appDown && sup.pid !== undefined) restoreWhenListening(sup, sup.pid, wrapper, cfg.ports, abort.signal, log, () => true);
    metrics?.trackRecoveries(sup);
    // Started above when protecting (before adoption); a bare relay starts it here.
    if (!wrapper) sup.start();
    // On a LAN (host failover, or --lan-if): answer ARP for the VIP here and announce it.
    await (claiming ?? lanVip?.claimOn(topo.outer.name));
    // Adopted connections learn where their clients stand from the answer to this probe. Only now:
    // before the gratuitous ARP the answer would go to the old host. After a takeover the clients
    // went unanswered at most since the old primary's last renewal: a lease time before it lapsed.
    wrapper?.probeHeld(tookOverAt !== undefined ? cfg.leaseMs + (performance.now() - tookOverAt) : undefined);
    // A primary says so when no standby follows its log (a host failure would then lose the service).
    if (primary && cfg.natsServers) stopStandbyWatch = watchStandbys({ servers: cfg.natsServers, security: natsSecurity(cfg.logCredentials, cfg.natsServers), service: cfg.name, log: log.child({ component: 'standby-watch' }) });
    await waitListening(sup, cfg.ports, abort.signal, () => finalExit);
    (opts.ready ?? ((l) => process.stdout.write(`${l}\n`)))(`ftcp: ${cfg.name} ready vip=${cfg.vip}`);
    ready = true;
    startWarmUps();

    await new Promise<void>((resolve) => {
      if (abort.signal.aborted) resolve();
      else abort.signal.addEventListener('abort', () => resolve(), { once: true });
    });
    if (fenced !== undefined) return EXIT_FENCED;
    // The app's own final exit gives the daemon's status; a stop request exits 0.
    return finalExit ? exitCodeOf(finalExit) : 0;
  } catch (err) {
    if (err instanceof StopRequested) return 0;
    throw err;
  } finally {
    // A deliberate stop: the app's closes reach the clients as closes, not as a crash to hide.
    // Fenced: the app dies without a word reaching the clients (the new primary holds them).
    if (fenced === undefined) wrapper?.shutdown();
    stopStandbyWatch?.();
    stopWarmUps?.();
    await sup?.stop();
    await claiming?.catch(() => undefined); // a claim still under way is released too
    await lanVip?.release();
    await captures?.stopAll('the daemon is stopping');
    await control?.close();
    await metricsHttp?.close();
    metrics?.close();
    if (relay) log.info({ wrapper: wrapper?.counters, relay: relay.counters }, 'final counters');
    // A stop on purpose: what is still open is logged closed, so a later start adopts nothing.
    if (fenced === undefined) wrapper?.logShutdownCloses();
    // No packet may reach the wrapper once the log is closed.
    unlinkShim?.();
    wrapper?.close();
    relay?.close();
    await logClient?.close(2_000).catch(() => undefined);
    await logProxy?.close().catch(() => undefined);
    // A replicated store's close waits for its commits in flight, which wait for NATS: bounded, so
    // a stop with NATS unreachable still ends (nothing unacknowledged is lost: it was never acked).
    const closing = logServer?.close().catch(() => undefined);
    if (primary) await Promise.race([closing, new Promise((r) => setTimeout(r, 3_000).unref())]);
    else await closing;
    unguard?.();
    if (primary) await closePrimary(primary);
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
    process.off('SIGHUP', onSignal);
    cleanupSync();
    process.off('exit', cleanupSync);
  }
}

/** The wrapper's fence: a plain object, as the warm-up drill's is (one hidden class at that call). */
function fenceOf(lease: { valid(): boolean }): { valid(): boolean } {
  return { valid: () => lease.valid() };
}

/**
 * Starts the app under the wrapper's watch: a crash holds every client; the restarted app
 * listening again restores its connections.
 */
function startApp(sup: Supervisor, wrapper: SecondWrapper, ports: number[], stop: AbortSignal, log: Logger, relayRuns: () => boolean): void {
  sup.on('exit', (e: AppExit) => {
    if (e.willRestart) wrapper.appCrashed(`the app exited (${describeExit(e)})`);
  });
  sup.on('spawn', (pid: number) => {
    if (wrapper.appDown) restoreWhenListening(sup, pid, wrapper, ports, stop, log, relayRuns);
  });
  sup.start();
}

/**
 * Polls the app's listening sockets (every 5 ms) and restores the held connections once all ports
 * listen — and the relay runs: a restore's forged packets need it.
 */
function restoreWhenListening(
  sup: Supervisor,
  pid: number,
  wrapper: SecondWrapper,
  ports: number[],
  stop: AbortSignal,
  log: Logger,
  relayRuns: () => boolean,
): void {
  const started = Date.now();
  const poll = (): void => {
    if (stop.aborted || sup.pid !== pid || !wrapper.appDown) return;
    const open = relayRuns() ? listeningPorts(pid) : new Set<number>();
    if (ports.every((p) => open.has(p))) {
      log.info({ ms: Date.now() - started }, 'the restarted app listens again: restoring connections');
      wrapper.appListening();
      reportRestoreProgress(wrapper, log, stop);
      return;
    }
    setTimeout(poll, 5);
  };
  poll();
}

class StopRequested extends Error {
  constructor() {
    super('stopped before the app was ready');
  }
}

function describeExit(e: AppExit): string {
  return e.signal ? `signal ${e.signal}` : `code ${e.code}`;
}

/** The daemon exits 0 when asked to stop; otherwise it reports the app's own exit status. */
function exitCodeOf(e: AppExit | undefined): number {
  if (!e) return 0;
  if (e.code !== null) return e.code;
  return 128 + (e.signal === 'SIGKILL' ? 9 : e.signal === 'SIGTERM' ? 15 : 1);
}
