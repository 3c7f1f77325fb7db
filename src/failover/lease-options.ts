// Options of the primary's lease (docs/FAILOVER.md, "Lease, epochs, fencing"), checked at start
// so a bad value fails with a message that says what to fix.
import type { Logger } from '../util/logger.js';
import type { NatsSecurity } from '../log/replica/nats-security.js';
import { checkServiceName } from '../log/replica/names.js';

export type LeaseErrorCode = 'INVALID_ARGUMENT' | 'FAILED_PRECONDITION' | 'UNAVAILABLE' | 'MALFORMED_VALUE' | 'CLOSED';

export class LeaseError extends Error {
  constructor(
    readonly code: LeaseErrorCode,
    message: string,
  ) {
    super(message);
    this.name = 'LeaseError';
  }
}

export interface LeaseOptions {
  /** NATS servers, `host:port` or `nats://host:port`; the client fails over among them. */
  servers: string[];
  /** Token, TLS or credentials for the NATS servers (log-credentials.ts). */
  security?: NatsSecurity;
  /** Service name; the bucket is `ftcp_lease_<service>`. */
  service: string;
  /** Lease time = the bucket's `ttl` (default 1000 ms). */
  ttlMs?: number;
  /** Replicas of the bucket when this process creates it (default 3). */
  replicas?: number;
  /** How often `acquire()` tries to take the lease (default 100 ms). */
  pollMs?: number;
  /** The holder stops `ttlMs − marginMs` after sending its last successful renewal (default max(50, 10% of ttl)). */
  marginMs?: number;
  /** Who holds it: `id` = the daemon's name, `host` = its host name (shown by `ftcp status`). */
  holder: { id: string; host: string };
  log: Logger;
}

export interface ResolvedLeaseOptions {
  servers: string[];
  security: NatsSecurity;
  service: string;
  bucket: string;
  ttlMs: number;
  replicas: number;
  pollMs: number;
  marginMs: number;
  /** Renewal period: a third of the ttl, so two renewals can fail before the deadline. */
  renewEveryMs: number;
  holder: { id: string; host: string };
  log: Logger;
}

export const DEFAULT_LEASE_TTL_MS = 1000;
export const DEFAULT_LEASE_REPLICAS = 3;
/**
 * How often a standby tries to take an expired lease. Every ms between the expiry and the take
 * is failover time, and a client's retransmission missed for it costs ~0.9 s more (Linux backs off
 * 0.21, 0.43, 0.86, 1.7 s): a create() on the KV bucket 40 times a second is cheap.
 */
export const DEFAULT_LEASE_POLL_MS = 25;
/** The margin covers clock-rate error between holder and server and timer lateness. */
export const MIN_LEASE_MARGIN_MS = 50;
const MAX_TTL_MS = 3_600_000;
const MAX_NAME = 256;

/** The KV bucket holding a service's lease. */
export function leaseBucketName(service: string): string {
  return `ftcp_lease_${service}`;
}

export function defaultMarginMs(ttlMs: number): number {
  return Math.max(MIN_LEASE_MARGIN_MS, Math.round(ttlMs / 10));
}

function bad(what: string, fix: string, got: unknown): never {
  throw new LeaseError('INVALID_ARGUMENT', `lease ${what}: ${fix} (got ${JSON.stringify(got)})`);
}

function intIn(what: string, v: number | undefined, dflt: number, min: number, max: number): number {
  if (v === undefined) return dflt;
  if (!Number.isInteger(v) || v < min || v > max) bad(what, `use a whole number from ${min} to ${max}`, v);
  return v;
}

function name(what: string, v: unknown): string {
  if (typeof v !== 'string' || v.length === 0 || v.length > MAX_NAME || /[\x00-\x1f]/.test(v)) {
    bad(what, `use 1-${MAX_NAME} printable characters`, v);
  }
  return v;
}

export function resolveLeaseOptions(o: LeaseOptions): ResolvedLeaseOptions {
  try {
    checkServiceName(o.service);
  } catch (err) {
    throw new LeaseError('INVALID_ARGUMENT', (err as Error).message);
  }
  if (!Array.isArray(o.servers) || o.servers.length === 0 || o.servers.some((s) => typeof s !== 'string' || s === '')) {
    bad('servers', 'give at least one NATS server as host:port', o.servers);
  }
  const ttlMs = intIn('ttlMs', o.ttlMs, DEFAULT_LEASE_TTL_MS, 2 * MIN_LEASE_MARGIN_MS, MAX_TTL_MS);
  const replicas = intIn('replicas', o.replicas, DEFAULT_LEASE_REPLICAS, 1, 5);
  const pollMs = intIn('pollMs', o.pollMs, DEFAULT_LEASE_POLL_MS, 10, ttlMs);
  // Above ttl/2 a healthy holder would spend most of each period suspended.
  const marginMs = intIn('marginMs', o.marginMs, defaultMarginMs(ttlMs), MIN_LEASE_MARGIN_MS, Math.floor(ttlMs / 2));
  if (o.holder === null || typeof o.holder !== 'object') bad('holder', 'give { id, host }', o.holder);
  const holder = { id: name('holder.id', o.holder.id), host: name('holder.host', o.holder.host) };
  return {
    servers: [...o.servers],
    security: o.security ?? {},
    service: o.service,
    bucket: leaseBucketName(o.service),
    ttlMs,
    replicas,
    pollMs,
    marginMs,
    renewEveryMs: Math.max(1, Math.floor(ttlMs / 3)),
    holder,
    log: o.log,
  };
}
