// Host failover (issue 8): what makes a daemon the primary of a service whose log is replicated on
// NATS JetStream — the primary lease (src/failover/lease.ts) and the log opened at the lease's
// epoch (src/log/replica) — and what makes it stop being one: the lease lapsing (silent until it
// is renewed) or lost, or the log fenced by a newer primary (silent for good).
import { natsCredentialProblem, natsSecurity } from '../log/replica/nats-security.js';
import type { EventEmitter } from 'node:events';
import type { AdoptionFold } from '../wrapper/adopt.js';
import { hostname } from 'node:os';
import { setTimeout as sleep } from 'node:timers/promises';
import { Lease, type LeaseOptions } from '../failover/lease.js';
import { openReplicatedStore, type Replica } from '../log/replica/index.js';
import type { LogStore } from '../log/store.js';
import type { Logger } from '../util/logger.js';
import { ConfigError, type RunConfig } from './run-config.js';

type Listener = Parameters<EventEmitter['on']>[1];

export type FailoverRole = 'standby' | 'taking over' | 'primary' | 'fenced';

/** The replicated log and lease of a primary; `ftcp status` reads `role` and the rest. */
export interface PrimaryLog {
  store: LogStore;
  replica: Replica;
  lease: Lease;
  epoch: number;
  role: FailoverRole;
  /** A hot standby's connections to adopt, kept current while it followed (else: read the log). */
  adoption?: AdoptionFold;
}

export function leaseOptions(cfg: RunConfig, servers: string[], log: Logger): LeaseOptions {
  return { servers, security: natsSecurity(cfg.logCredentials, servers), service: cfg.name, ttlMs: cfg.leaseMs, replicas: cfg.replicas, holder: { id: cfg.name, host: hostname() }, log: log.child({ component: 'lease' }) };
}

/**
 * `ftcp run` with a replicated log: takes the primary lease (waiting up to two lease times, the
 * time a lease of this same daemon's previous life takes to expire), then opens the log at that
 * epoch: every record stored before is read in, so open connections are adopted.
 */
export async function becomePrimary(cfg: RunConfig, log: Logger): Promise<PrimaryLog> {
  const servers = cfg.natsServers!;
  const lease = await Lease.open(leaseOptions(cfg, servers, log)).catch((err: unknown) => {
    throw asConfigProblem(err, cfg);
  });
  try {
    let epoch: number | undefined;
    const until = performance.now() + 2 * cfg.leaseMs + 500;
    while ((epoch = await lease.tryAcquire()) === undefined) {
      if (performance.now() > until) {
        const h = await lease.peek();
        const who = h ? `${h.host} (pid ${h.pid}, epoch ${h.epoch})` : 'another daemon';
        throw new ConfigError(`service ${cfg.name} is already primary on ${who}: run \`ftcp standby\` here to take over when it fails`);
      }
      await sleep(100);
    }
    log.info({ epoch, servers }, 'primary lease taken: opening the replicated log');
    const { store, replica } = await openReplicatedStore({ servers, security: natsSecurity(cfg.logCredentials, servers), service: cfg.name, epoch, replicas: cfg.replicas, log: log.child({ component: 'replica' }) });
    return { store, replica, lease, epoch, role: 'primary' };
  } catch (err) {
    await lease.release().catch(() => undefined);
    await lease.close().catch(() => undefined);
    throw err;
  }
}

export interface FencingHandlers {
  /** The lease lapsed or came back: the wrapper is silent meanwhile (it checks lease.valid() itself). */
  suspended(on: boolean): void;
  /** Another primary owns the service now: stop for good (the message says why). */
  fenced(why: string): void;
}

/** Wires the lease's and the log's fencing events; returns the unsubscribe. */
export function guardPrimary(p: PrimaryLog, h: FencingHandlers, log: Logger): () => void {
  const onSuspended = (): void => {
    log.warn({ epoch: p.epoch }, 'primary lease not renewed in time: sending nothing until it is');
    h.suspended(true);
  };
  const onResumed = (): void => {
    log.info({ epoch: p.epoch }, 'primary lease renewed again: sending');
    h.suspended(false);
  };
  const onLost = (loss: { holder?: string | undefined; host?: string | undefined; epoch?: number | undefined }): void => {
    if (loss.host === undefined && p.role === 'primary') {
      // Expired with nobody holding it: most likely the NATS node leading the lease bucket died and
      // renewals failed through the election. Take it again; if nobody held it in between
      // (continuesEpoch) this daemon's state is still current and it carries on — silent until
      // then, since lease.valid() is false. Anyone else taking it first means a takeover: fenced.
      void retake(p, h, log);
      return;
    }
    p.role = 'fenced';
    const to = loss.host !== undefined ? `${loss.host} at epoch ${loss.epoch}` : 'nobody yet (it expired)';
    h.fenced(`lost the primary lease to ${to}`);
  };
  const onFenced = (err: Error): void => {
    p.role = 'fenced';
    h.fenced(`a newer primary owns the log (${err.message})`);
  };
  const onStalled = (e: { error?: unknown }): void => log.warn({ err: e.error }, 'replicated log: appends stalled (clients are held until it stores them)');
  const onLogResumed = (e: { stalledMs?: number }): void => log.info({ stalledMs: e.stalledMs }, 'replicated log: appends stored again');
  // Both are EventEmitters; one table each, so subscribing and unsubscribing cannot drift apart.
  const leaseEvents: Array<[string, Listener]> = [
    ['suspended', onSuspended],
    ['resumed', onResumed],
    ['lost', onLost],
  ];
  const logEvents: Array<[string, Listener]> = [
    ['fenced', onFenced],
    ['failed', onFenced],
    ['stalled', onStalled],
    ['resumed', onLogResumed],
  ];
  const lease = p.lease as EventEmitter;
  for (const [e, f] of leaseEvents) lease.on(e, f);
  for (const [e, f] of logEvents) p.replica.on(e, f);
  return () => {
    for (const [e, f] of leaseEvents) lease.off(e, f);
    for (const [e, f] of logEvents) p.replica.off(e, f);
  };
}

/** How long a primary whose lease expired keeps trying to take it back (a NATS election takes seconds). */
const RETAKE_FOR_MS = 30_000;

async function retake(p: PrimaryLog, h: FencingHandlers, log: Logger): Promise<void> {
  log.warn({ epoch: p.epoch }, 'primary lease expired with nobody holding it (NATS unreachable or electing?): sending nothing, taking it back');
  const until = performance.now() + RETAKE_FOR_MS;
  while (p.role === 'primary' && performance.now() < until) {
    let got: number | undefined;
    try {
      got = await p.lease.tryAcquire();
    } catch {
      got = undefined; // NATS still unreachable
    }
    if (got !== undefined) {
      if (p.lease.continuesEpoch !== undefined) {
        log.info({ epoch: p.epoch, leaseRevision: got }, 'primary lease taken back: nobody held it meanwhile, sending again');
        return;
      }
      await p.lease.release().catch(() => undefined);
      break;
    }
    const holder = await p.lease.peek().catch(() => undefined);
    if (holder) {
      p.role = 'fenced';
      h.fenced(`lost the primary lease to ${holder.host} at epoch ${holder.epoch}`);
      return;
    }
    await sleep(100);
  }
  if (p.role !== 'primary') return;
  p.role = 'fenced';
  h.fenced('lost the primary lease (it expired and could not be taken back as it was)');
}

/** A stop on purpose hands the service over at once (the lease is released, not left to expire). */
export async function closePrimary(p: PrimaryLog): Promise<void> {
  if (p.role === 'primary') await p.lease.release().catch(() => undefined);
  await p.lease.close().catch(() => undefined);
  await p.replica.close().catch(() => undefined);
}

/** Credentials NATS refused, or a TLS certificate not verified: a configuration error naming the flag. */
export function asConfigProblem(err: unknown, cfg: RunConfig): unknown {
  const problem = natsCredentialProblem(err, cfg.natsServers ?? [], cfg.logCredentials);
  return problem !== undefined ? new ConfigError(problem) : err;
}
