// `ftcp standby`: the secondary host of a service whose log is replicated on NATS JetStream. It
// follows the log continuously (every record applied to a local store as it is stored, so a
// takeover starts from current state, not a full read), watches the primary's lease, and when the
// lease expires takes it at a higher epoch, fences the old primary out of the log, and becomes the
// primary: the same daemon as `ftcp run`, which adopts every open connection from the log, claims
// the VIP on the LAN, starts the app and restores the connections (docs/FAILOVER.md).
import { Lease } from '../failover/lease.js';
import { LogFollower } from '../log/replica/index.js';
import { startControlServer, type ControlServer } from '../status/control-server.js';
import { statusSnapshot, type FailoverView } from '../status/snapshot.js';
import type { Logger } from '../util/logger.js';
import { runDaemon } from './daemon.js';
import { leaseOptions, type FailoverRole } from './primary-role.js';
import { ConfigError, type RunConfig } from './run-config.js';

export interface StandbyOptions {
  log: Logger;
  ready?: (line: string) => void;
}

/** How often the standby says where the primary and the log stand (info, for the operator). */
const REPORT_MS = 30_000;

export async function runStandby(cfg: RunConfig, opts: StandbyOptions): Promise<number> {
  const { log } = opts;
  if (typeof process.getuid === 'function' && process.getuid() !== 0) {
    throw new ConfigError('ftcp standby needs root (it becomes `ftcp run` on takeover): run it with sudo');
  }
  const servers = cfg.natsServers;
  if (servers === undefined) throw new ConfigError('ftcp standby needs a replicated log: --log nats://HOST:PORT[,HOST:PORT...]');
  const abort = new AbortController();
  const onSignal = (sig: NodeJS.Signals): void => {
    log.info({ signal: sig }, 'standby stopping');
    abort.abort();
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  process.on('SIGHUP', onSignal);

  let follower: LogFollower | undefined;
  let lease: Lease | undefined;
  let control: ControlServer | undefined;
  let report: NodeJS.Timeout | undefined;
  let promoted = false;
  const view: { role: FailoverRole; epoch: number; lease: Lease | undefined; lag: () => number } = {
    role: 'standby',
    epoch: 0,
    lease: undefined,
    lag: () => follower?.lag() ?? 0,
  };
  const startedAt = Date.now();
  try {
    follower = await LogFollower.start({ servers, service: cfg.name, replicas: cfg.replicas, log: log.child({ component: 'follower' }) });
    const f = follower;
    f.on('failed', (err: Error) => {
      log.error({ err }, 'standby: following the log failed');
      abort.abort();
    });
    lease = await Lease.open(leaseOptions(cfg, servers, log));
    view.lease = lease;
    control = await startControlServer({
      name: cfg.name,
      status: () => statusSnapshot({ cfg, startedAt, primary: view.lease ? (view as FailoverView) : undefined }),
      log: log.child({ component: 'control' }),
    });
    const holder = await lease.peek();
    log.info(
      { primary: holder?.host, epoch: holder?.epoch, appliedSeq: f.appliedSeq, lag: f.lag() },
      holder ? `standby for ${cfg.name}: primary is ${holder.host} (epoch ${holder.epoch}); following the log` : `standby for ${cfg.name}: no primary holds the lease; taking over`,
    );
    (opts.ready ?? ((line: string) => process.stdout.write(`${line}\n`)))(`ftcp: ${cfg.name} standby (following the log)`);
    const l = lease;
    report = setInterval(() => {
      void l.peek().then(
        (h) => log.info({ primary: h?.host, epoch: h?.epoch, leaseAgeMs: h?.ageMs, appliedSeq: f.appliedSeq, lag: f.lag() }, 'standby: following'),
        () => undefined,
      );
    }, REPORT_MS);
    report.unref();

    let epoch: number;
    try {
      epoch = await lease.acquire(abort.signal);
    } catch (err) {
      if (abort.signal.aborted) return 0;
      throw err;
    }
    const lostAt = performance.now();
    view.role = 'taking over';
    view.epoch = epoch;
    log.warn({ epoch, appliedSeq: f.appliedSeq, lag: f.lag() }, `the primary's lease expired: taking over ${cfg.name} at epoch ${epoch}`);
    const replica = await f.promote(epoch);
    log.info({ epoch, streamSeq: replica.streamSeq, ms: Math.round(performance.now() - lostAt) }, 'the log is ours: the old primary is fenced out of it');
    clearInterval(report);
    await control.close();
    control = undefined;
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
    process.off('SIGHUP', onSignal);
    promoted = true;
    return await runDaemon(cfg, {
      log,
      ...(opts.ready ? { ready: opts.ready } : {}),
      takeover: { store: f.store, replica, lease, epoch, role: 'primary' },
    });
  } finally {
    if (report) clearInterval(report);
    await control?.close().catch(() => undefined);
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
    process.off('SIGHUP', onSignal);
    if (!promoted) {
      await lease?.close().catch(() => undefined);
      await follower?.stop().catch(() => undefined);
    }
  }
}
