// `ftcp standby`: the secondary host of a service whose log is replicated on NATS JetStream. It
// follows the log continuously (every record applied to a local store as it is stored, so a
// takeover starts from current state, not a full read), prepares the host (the app's namespace and
// TUNs, the control socket), watches the primary's lease, and when the lease expires takes it at a
// higher epoch, fences the old primary out of the log, and carries on as the primary: the same
// daemon as `ftcp run`, which adopts every open connection from the log, claims the VIP on the LAN,
// starts the app and restores the connections (docs/FAILOVER.md).
import { natsSecurity } from '../log/replica/nats-security.js';
import { Lease } from '../failover/lease.js';
import { LogFollower } from '../log/replica/index.js';
import { StandbyAdoption } from './standby-adoption.js';
import type { FailoverView } from '../status/snapshot.js';
import type { Logger } from '../util/logger.js';
import { runDaemon } from './daemon.js';
import { asConfigProblem, leaseOptions, type FailoverRole, type PrimaryLog } from './primary-role.js';
import { ConfigError, type RunConfig } from './run-config.js';

export interface StandbyOptions {
  log: Logger;
  /** Where the ready lines go (stdout): one when the standby follows, one when it serves. */
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
  const ready = opts.ready ?? ((line: string) => process.stdout.write(`${line}\n`));

  const follower = await LogFollower.start({ servers, security: natsSecurity(cfg.logCredentials, servers), service: cfg.name, replicas: cfg.replicas, log: log.child({ component: 'follower' }) }).catch((err: unknown) => {
    throw asConfigProblem(err, cfg);
  });
  const adoption = StandbyAdoption.start(follower, follower.store, cfg.name, log.child({ component: 'follower' }));
  let lease: Lease | undefined;
  let promoted = false;
  let report: NodeJS.Timeout | undefined;
  try {
    lease = await Lease.open(leaseOptions(cfg, servers, log));
    const l = lease;
    let lastPeek: { host: string; epoch: number; ageMs: number; at: number } | undefined;
    const view: FailoverView = {
      role: 'standby' as FailoverRole,
      epoch: 0,
      lease: l,
      lag: () => follower.lag(),
      // Age as of the last look, plus the time since (display only).
      holder: () => (lastPeek ? { host: lastPeek.host, epoch: lastPeek.epoch, ageMs: lastPeek.ageMs + (Date.now() - lastPeek.at) } : undefined),
    };
    const mutableView = view as { role: FailoverRole; epoch: number };

    const takeOver = async (signal: AbortSignal): Promise<PrimaryLog> => {
      const failed = new Promise<never>((_, reject) => follower.once('failed', (err: Error) => reject(err)));
      const holder = await l.peek();
      lastPeek = holder ? { host: holder.host, epoch: holder.epoch, ageMs: holder.ageMs, at: Date.now() } : undefined;
      log.info(
        { primary: holder?.host, epoch: holder?.epoch, appliedSeq: follower.appliedSeq, lag: follower.lag() },
        holder ? `standby for ${cfg.name}: primary is ${holder.host} (epoch ${holder.epoch}); following the log` : `standby for ${cfg.name}: no primary holds the lease; taking over`,
      );
      ready(`ftcp: ${cfg.name} standby (following the log)`);
      // A look at the lease every second (for `ftcp status`), a log line every REPORT_MS.
      let looks = 0;
      report = setInterval(() => {
        void l.peek().then(
          (h) => {
            lastPeek = h ? { host: h.host, epoch: h.epoch, ageMs: h.ageMs, at: Date.now() } : undefined;
            if (++looks % (REPORT_MS / 1000) === 0) {
              log.info({ primary: h?.host, epoch: h?.epoch, leaseAgeMs: h?.ageMs, appliedSeq: follower.appliedSeq, lag: follower.lag() }, 'standby: following');
            }
          },
          () => undefined,
        );
      }, 1000);
      report.unref();
      const epoch = await Promise.race([l.acquire(signal), failed]);
      clearInterval(report);
      const lostAt = performance.now();
      mutableView.role = 'taking over';
      mutableView.epoch = epoch;
      log.warn({ epoch, appliedSeq: follower.appliedSeq, lag: follower.lag() }, `the primary's lease expired: taking over ${cfg.name} at epoch ${epoch}`);
      const replica = await follower.promote(epoch);
      promoted = true;
      log.info({ epoch, streamSeq: replica.streamSeq, ms: Math.round(performance.now() - lostAt) }, 'the log is ours: the old primary is fenced out of it');
      const fold = adoption.current();
      adoption.stop();
      return { store: follower.store, replica, lease: l, epoch, role: 'primary', ...(fold ? { adoption: fold } : {}) };
    };

    return await runDaemon(cfg, { log, ready, standby: { view, takeOver } });
  } finally {
    if (report) clearInterval(report);
    adoption.stop();
    // Once promoted, the daemon owns (and has closed) the lease and the log.
    if (!promoted) {
      await lease?.close().catch(() => undefined);
      await follower.stop().catch(() => undefined);
    }
  }
}
