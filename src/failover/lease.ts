// The primary's lease on a JetStream KV bucket (docs/FAILOVER.md, "Lease, epochs, fencing").
//
// Bucket `ftcp_lease_<service>`, history 1, `ttl` = the lease time; key `primary`. Taking it is a
// `create` (succeeds only while the key is absent: never held, released, or expired) and the
// **epoch is the revision** that create returns — stream sequences, strictly increasing across
// expiries as long as the bucket is not deleted. Renewing is a revision-checked `update` every
// ttl/3.
//
// The zombie rule: the holder's deadline is (monotonic time it SENT the last renewal that
// succeeded) + ttl − margin. The server expires the key at (time it STORED that renewal) + ttl,
// which is later, so a holder that cannot renew (paused, partitioned, NATS down) is invalid
// before anyone can take the lease. Only the clocks' rates matter, not their offsets.
//
// nats-server 2.9 sends no watch event when a key expires, so a standby polls `create`.
import { EventEmitter } from 'node:events';
import { setTimeout as sleep } from 'node:timers/promises';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { JetStreamApiCodes, JetStreamApiError } from '@nats-io/jetstream';
import { Kvm, type KV, type KvEntry } from '@nats-io/kv';
import { LeaseError, resolveLeaseOptions, type LeaseOptions, type ResolvedLeaseOptions } from './lease-options.js';

export { LeaseError, leaseBucketName, type LeaseOptions } from './lease-options.js';

/** The one key of the lease bucket. */
export const LEASE_KEY = 'primary';
/** Largest lease value accepted when reading (ours are ~150 bytes). */
const MAX_VALUE_BYTES = 4096;
/**
 * How long `open` keeps retrying the bucket (creation races; a cluster that has just started,
 * or lost a node, electing its meta leader takes seconds, more on a loaded machine).
 */
const OPEN_RETRY_MS = 30_000;
/** Delay before another renewal after a transient failure (at most the renewal period). */
const RETRY_MS = 100;

// ---------------------------------------------------------------------------------------------
// The value stored under `primary`

export interface LeaseValue {
  /** The holder's id (daemon name). */
  holder: string;
  host: string;
  pid: number;
  /** The holder's epoch; 0 in the value written by the create itself (the epoch is then that entry's revision). */
  epoch: number;
  /** Wall-clock time of the write (display only). */
  renewedUnixMs: number;
}

export function encodeLeaseValue(v: LeaseValue): Uint8Array {
  return new TextEncoder().encode(
    JSON.stringify({ holder: v.holder, host: v.host, pid: v.pid, epoch: v.epoch, renewedUnixMs: v.renewedUnixMs }),
  );
}

function malformed(why: string): never {
  throw new LeaseError('MALFORMED_VALUE', `lease value is not ftcp's: ${why}`);
}

/** Parses a lease value; anything else (written by hand, another program) → LeaseError('MALFORMED_VALUE'). */
export function decodeLeaseValue(bytes: Uint8Array): LeaseValue {
  if (bytes.length > MAX_VALUE_BYTES) malformed(`${bytes.length} bytes`);
  let o: unknown;
  try {
    o = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(bytes));
  } catch {
    malformed('not UTF-8 JSON');
  }
  if (o === null || typeof o !== 'object' || Array.isArray(o)) malformed('not a JSON object');
  const r = o as Record<string, unknown>;
  const str = (k: string): string => {
    const v = r[k];
    if (typeof v !== 'string' || v.length === 0 || v.length > 256) malformed(`${k} is not a name`);
    return v;
  };
  const int = (k: string): number => {
    const v = r[k];
    if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < 0) malformed(`${k} is not a whole number ≥ 0`);
    return v;
  };
  return { holder: str('holder'), host: str('host'), pid: int('pid'), epoch: int('epoch'), renewedUnixMs: int('renewedUnixMs') };
}

/** The epoch an entry stands for: its value's epoch, or for the create's own write, its revision. */
export function effectiveEpoch(v: LeaseValue, revision: number): number {
  return v.epoch === 0 ? revision : v.epoch;
}

// ---------------------------------------------------------------------------------------------
// The holder's deadline (pure; the clock is injected for tests)

/** Milliseconds on a monotonic clock (performance.now()). */
export type MonotonicClock = () => number;
export const monotonicNow: MonotonicClock = () => performance.now();

export class LeaseDeadline {
  private until = -Infinity;
  private active = false;
  private isSuspended = false;

  constructor(
    readonly ttlMs: number,
    readonly marginMs: number,
    readonly now: MonotonicClock = monotonicNow,
  ) {}

  /**
   * A take or renewal sent at `sentAt` succeeded: the deadline moves to sentAt + ttl − margin
   * (never backwards). Returns true when this ends a suspension. Call `passed()` first so a
   * deadline that passed unnoticed is reported before it is extended.
   */
  confirmed(sentAt: number): boolean {
    this.until = Math.max(this.until, sentAt + this.ttlMs - this.marginMs);
    this.active = true;
    if (this.isSuspended && this.now() < this.until) {
      this.isSuspended = false;
      return true;
    }
    return false;
  }

  /** Once per suspension: the deadline (monotonic ms) when it has passed, else undefined. */
  passed(): number | undefined {
    if (!this.active || this.isSuspended || this.now() < this.until) return undefined;
    this.isSuspended = true;
    return this.until;
  }

  valid(): boolean {
    return this.now() < this.until;
  }

  /** The deadline on the monotonic clock (−Infinity when not held). */
  get at(): number {
    return this.until;
  }

  get suspended(): boolean {
    return this.isSuspended;
  }

  /** Not held any more (released, lost, closed). */
  end(): void {
    this.until = -Infinity;
    this.active = false;
    this.isSuspended = false;
  }
}

// ---------------------------------------------------------------------------------------------
// The lease

/** Who holds the lease, as `peek()` reads it. */
export interface LeaseHolder {
  holder: string;
  host: string;
  pid: number;
  epoch: number;
  /**
   * Now minus the holder's wall-clock `renewedUnixMs`: assumes loosely synchronised clocks, so it
   * is for display only (never for a decision; the lease itself needs no clock sync).
   */
  ageMs: number;
}

/** Payload of 'lost': who holds it now; all undefined when the key had expired and nobody took it yet. */
export interface LeaseLoss {
  holder: string | undefined;
  host: string | undefined;
  epoch: number | undefined;
}

export interface LeaseStats {
  /** Renewals that succeeded. */
  renewals: number;
  /** Renewal attempts that failed for a transient reason (NATS unreachable, timeout, election). */
  failedRenewals: number;
  /** Length of the last streak of failed renewals, from its first failed send to the next success (ms). */
  lastFailureStreakMs: number;
}

/**
 * Events:
 * - 'acquired' (epoch: number) — this process took the lease; it is valid until the deadline.
 * - 'suspended' (deadline: number) — the deadline (performance.now() time, passed as the
 *   argument) passed without a newer successful renewal: from that instant `valid()` is false,
 *   and the daemon must transmit nothing to clients and append nothing. The event itself may come
 *   later than the deadline (a paused or busy process); `valid()` is exact.
 * - 'resumed' () — a revision-checked renewal succeeded after a suspension, which proves nobody
 *   took the lease meanwhile: valid again, same epoch.
 * - 'lost' (LeaseLoss) — the lease is someone else's (or expired): stop for good; renewals have
 *   stopped, `held` and `valid()` are false. Never followed by 'resumed'. If the deadline had
 *   already passed, 'suspended' comes first.
 * - 'error' (err) — a renewal or poll failed for a transient reason; informational, the lease
 *   keeps trying and the deadline decides. Emitted only when someone listens (never throws).
 */
export interface Lease {
  on(event: 'acquired', listener: (epoch: number) => void): this;
  on(event: 'suspended', listener: (deadline: number) => void): this;
  on(event: 'resumed', listener: () => void): this;
  on(event: 'lost', listener: (loss: LeaseLoss) => void): this;
  on(event: 'error', listener: (err: Error) => void): this;
  once(event: 'acquired', listener: (epoch: number) => void): this;
  once(event: 'suspended', listener: (deadline: number) => void): this;
  once(event: 'resumed', listener: () => void): this;
  once(event: 'lost', listener: (loss: LeaseLoss) => void): this;
  once(event: 'error', listener: (err: Error) => void): this;
}

function isWrongLastSequence(err: unknown): boolean {
  return (
    err instanceof JetStreamApiError &&
    (err.code === JetStreamApiCodes.StreamWrongLastSequence || err.code === JetStreamApiCodes.StreamWrongLastSequenceUnknown)
  );
}

function isNoMessage(err: unknown): boolean {
  return err instanceof JetStreamApiError && err.code === JetStreamApiCodes.NoMessageFound;
}

function asError(err: unknown): Error {
  return err instanceof Error ? err : new Error(String(err));
}

function isAbsent(e: KvEntry | null): e is null {
  return e === null || e.operation === 'DEL' || e.operation === 'PURGE';
}

export class Lease extends EventEmitter {
  readonly ttlMs: number;
  private readonly o: ResolvedLeaseOptions;
  private readonly deadline: LeaseDeadline;
  private currentEpoch = 0;
  private lastRevision = 0;
  private continued: number | undefined;
  private isHeld = false;
  private closed = false;
  private renewTimer: NodeJS.Timeout | undefined;
  private deadlineTimer: NodeJS.Timeout | undefined;
  private renewing: Promise<void> | undefined;
  private readonly closing = new AbortController();
  private failingSince: number | undefined;
  private readonly counters: LeaseStats = { renewals: 0, failedRenewals: 0, lastFailureStreakMs: 0 };

  private constructor(
    private readonly nc: NatsConnection,
    private readonly kv: KV,
    o: ResolvedLeaseOptions,
    clock: MonotonicClock,
  ) {
    super();
    this.o = o;
    this.ttlMs = o.ttlMs;
    this.deadline = new LeaseDeadline(o.ttlMs, o.marginMs, clock);
  }

  /** Validates the options, connects, and opens (or creates) the bucket. Does not take the lease. */
  static async open(opts: LeaseOptions): Promise<Lease> {
    const o = resolveLeaseOptions(opts);
    const nc = await connect({
      servers: o.servers,
      name: `ftcp lease ${o.service} ${o.holder.id}`,
      maxReconnectAttempts: -1,
      reconnectTimeWait: 100,
      // A server that stops answering must be noticed within a few lease periods, not the
      // default minutes, so renewals move to another node.
      pingInterval: Math.min(2000, Math.max(500, Math.floor(o.ttlMs / 3))),
      maxPingOut: 2,
      ...o.security,
    }).catch((err: unknown) => {
      throw new LeaseError('UNAVAILABLE',
        `lease: cannot reach NATS at ${o.servers.join(', ')} (${asError(err).message}): start the NATS servers or fix the server list`);
    });
    try {
      const kv = await openBucket(nc, o);
      return new Lease(nc, kv, o, monotonicNow);
    } catch (err) {
      await nc.close().catch(() => undefined);
      throw err;
    }
  }

  /** The epoch of the current (or last) holding; 0 before the first acquisition. */
  get epoch(): number {
    return this.currentEpoch;
  }

  /**
   * The epoch this holding directly continues, when this process took the lease again after
   * losing it to nobody (an expiry nobody used) and nothing was written to the bucket in between
   * (the create's revision is our last revision + 1): nobody else held an epoch meanwhile, so the
   * daemon's state is still current. Undefined otherwise (first take, or someone may have held it).
   */
  get continuesEpoch(): number | undefined {
    return this.continued;
  }

  get held(): boolean {
    return this.isHeld;
  }

  get stats(): LeaseStats {
    return { ...this.counters };
  }

  /** The hot-path check: held and before the deadline. */
  valid(): boolean {
    return this.deadline.valid();
  }

  /** One create attempt: the epoch when this process took the lease, undefined when someone holds it. */
  async tryAcquire(): Promise<number | undefined> {
    if (this.closed) throw new LeaseError('CLOSED', 'lease is closed');
    if (this.isHeld) return this.currentEpoch;
    const sentAt = this.deadline.now();
    let rev: number;
    try {
      rev = await this.kv.create(LEASE_KEY, encodeLeaseValue(this.value(0)));
    } catch (err) {
      // Held, or a release/expiry raced the create's own read-back.
      if (isWrongLastSequence(err) || isNoMessage(err)) return undefined;
      throw err;
    }
    if (this.closed) return undefined; // closed meanwhile: the key expires on its own
    // lastRevision is still the previous holding's (0 if none): revisions are stream sequences.
    this.continued = this.lastRevision > 0 && rev === this.lastRevision + 1 ? this.currentEpoch : undefined;
    this.currentEpoch = rev;
    this.lastRevision = rev;
    this.isHeld = true;
    this.failingSince = undefined;
    this.deadline.confirmed(sentAt);
    this.armDeadline();
    this.scheduleRenewal(Math.max(0, sentAt + this.o.renewEveryMs - this.deadline.now()));
    this.o.log.info({ epoch: rev, bucket: this.o.bucket, continuesEpoch: this.continued }, `took the lease at epoch ${rev}`);
    this.emit('acquired', rev);
    return rev;
  }

  /** Polls `tryAcquire` every pollMs until it succeeds (the standby); rejects when aborted or closed. */
  async acquire(signal?: AbortSignal): Promise<number> {
    const stop = signal === undefined ? this.closing.signal : AbortSignal.any([signal, this.closing.signal]);
    let failing = false;
    let lastLog = 0;
    for (;;) {
      stop.throwIfAborted();
      const start = this.deadline.now();
      try {
        const epoch = await this.tryAcquire();
        if (epoch !== undefined) return epoch;
        if (failing) this.o.log.info('lease polling works again');
        failing = false;
      } catch (err) {
        if (err instanceof LeaseError) throw err;
        if (stop.aborted) continue; // close() cut the request short
        if (!failing || start - lastLog > 10_000) {
          this.o.log.warn({ err: asError(err).message }, 'lease poll failed; retrying');
          lastLog = start;
        }
        failing = true;
        this.emitError(err);
      }
      const wait = Math.max(0, start + this.o.pollMs - this.deadline.now());
      await sleep(wait, undefined, { signal: stop }).catch(() => undefined);
    }
  }

  /** Reads who holds the lease (for `ftcp status` and a standby's log); undefined when nobody does. */
  async peek(): Promise<LeaseHolder | undefined> {
    const e = await this.kv.get(LEASE_KEY);
    if (isAbsent(e)) return undefined;
    const v = decodeLeaseValue(e.value);
    return { holder: v.holder, host: v.host, pid: v.pid, epoch: effectiveEpoch(v, e.revision), ageMs: Date.now() - v.renewedUnixMs };
  }

  /**
   * Graceful stop: stops renewing and deletes the key if this process still holds it
   * (revision-checked), so a standby takes over at once. `valid()` is false from the call on.
   * Failures are logged, not thrown: the key then expires after the ttl.
   */
  async release(): Promise<void> {
    if (!this.isHeld) return;
    this.stopHolding();
    await this.renewing;
    for (let attempt = 0; attempt < 2; attempt++) {
      try {
        await this.kv.delete(LEASE_KEY, { previousSeq: this.lastRevision });
        this.o.log.info({ epoch: this.currentEpoch }, `released the lease (epoch ${this.currentEpoch})`);
        return;
      } catch (err) {
        if (!isWrongLastSequence(err)) {
          this.o.log.warn({ err: asError(err).message }, 'lease release failed; the key expires after the ttl');
          return;
        }
        // A renewal that timed out here may still have been stored: delete at its revision.
        const e = await this.kv.get(LEASE_KEY).catch(() => null);
        if (isAbsent(e) || !this.isOurs(e)) {
          this.o.log.info('lease release: the key is no longer ours; nothing to delete');
          return;
        }
        this.lastRevision = e.revision;
      }
    }
  }

  /** Stops renewing (without releasing: the key expires after the ttl) and disconnects. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.closing.abort(new LeaseError('CLOSED', 'lease is closed'));
    this.stopHolding();
    await this.renewing;
    await this.nc.close().catch(() => undefined);
  }

  // -------------------------------------------------------------------------------------------

  private value(epoch: number): LeaseValue {
    return { holder: this.o.holder.id, host: this.o.holder.host, pid: process.pid, epoch, renewedUnixMs: Date.now() };
  }

  private isOurs(e: KvEntry): boolean {
    try {
      return effectiveEpoch(decodeLeaseValue(e.value), e.revision) === this.currentEpoch;
    } catch {
      return false;
    }
  }

  private stopHolding(): void {
    this.isHeld = false;
    this.deadline.end();
    clearTimeout(this.renewTimer);
    clearTimeout(this.deadlineTimer);
    this.renewTimer = undefined;
    this.deadlineTimer = undefined;
  }

  private emitError(err: unknown): void {
    if (this.listenerCount('error') > 0) this.emit('error', asError(err));
  }

  /** Emits 'suspended' once the deadline has passed (from the timer, and before any other event). */
  private checkDeadline(): void {
    const at = this.deadline.passed();
    if (at === undefined) return;
    this.o.log.warn({ epoch: this.currentEpoch, lateMs: Math.round(this.deadline.now() - at) },
      'lease deadline passed without a renewal: suspended (no transmit, no append)');
    this.emit('suspended', at);
  }

  private armDeadline(): void {
    clearTimeout(this.deadlineTimer);
    // +1: setTimeout may fire a fraction of a millisecond early.
    const ms = Math.max(0, this.deadline.at - this.deadline.now() + 1);
    this.deadlineTimer = setTimeout(() => {
      this.deadlineTimer = undefined;
      if (!this.isHeld) return;
      if (this.deadline.valid()) this.armDeadline(); // fired early
      else this.checkDeadline();
    }, ms);
  }

  private scheduleRenewal(ms: number): void {
    clearTimeout(this.renewTimer);
    this.renewTimer = setTimeout(() => {
      this.renewTimer = undefined;
      this.renewing = this.renewOnce().finally(() => {
        this.renewing = undefined;
      });
    }, ms);
  }

  /** One renewal; never throws (it runs from a timer). */
  private async renewOnce(): Promise<void> {
    if (!this.isHeld) return;
    this.checkDeadline();
    const sentAt = this.deadline.now();
    let next = this.o.renewEveryMs;
    try {
      // A reply later than ttl/2 is not waited for: the next attempt still has time before the
      // deadline (and if the late one was stored, recheck() adopts it).
      const timeout = Math.max(this.o.renewEveryMs, Math.floor(this.o.ttlMs / 2));
      const rev = await this.kv.update(LEASE_KEY, encodeLeaseValue(this.value(this.currentEpoch)), this.lastRevision, timeout);
      this.lastRevision = rev; // also when release() stopped holding meanwhile: it deletes at this revision
      if (!this.isHeld) return;
      this.renewed(sentAt);
    } catch (err) {
      if (!this.isHeld) return;
      if (isWrongLastSequence(err)) {
        if (!(await this.recheck())) return;
        next = 0; // our own late write was found: renew on it now
      } else {
        this.renewalFailed(sentAt, err);
        next = Math.min(next, RETRY_MS); // the deadline is running: try again soon
      }
    }
    if (this.isHeld) this.scheduleRenewal(Math.max(0, sentAt + next - this.deadline.now()));
  }

  private renewed(sentAt: number): void {
    this.counters.renewals++;
    if (this.failingSince !== undefined) {
      this.counters.lastFailureStreakMs = Math.round(sentAt - this.failingSince);
      this.o.log.info({ failedForMs: this.counters.lastFailureStreakMs }, 'lease renewals work again');
      this.failingSince = undefined;
    }
    this.checkDeadline();
    const resumed = this.deadline.confirmed(sentAt);
    this.armDeadline();
    if (resumed) {
      this.o.log.info({ epoch: this.currentEpoch }, 'lease renewed after a suspension: resumed');
      this.emit('resumed');
    }
  }

  private renewalFailed(sentAt: number, err: unknown): void {
    this.counters.failedRenewals++;
    if (this.failingSince === undefined) {
      this.failingSince = sentAt;
      this.o.log.warn({ err: asError(err).message, epoch: this.currentEpoch }, 'lease renewal failed; retrying');
    } else {
      this.o.log.debug({ err: asError(err).message }, 'lease renewal failed again');
    }
    this.emitError(err);
  }

  /**
   * A renewal met a different revision: either a renewal of ours that timed out was stored after
   * all (same epoch: adopt its revision), or the lease is someone else's / expired (lost).
   * Returns whether we still hold it.
   */
  private async recheck(): Promise<boolean> {
    let e: KvEntry | null;
    try {
      e = await this.kv.get(LEASE_KEY);
    } catch (err) {
      this.renewalFailed(this.deadline.now(), err);
      return true;
    }
    if (!this.isHeld) return false;
    if (!isAbsent(e) && this.isOurs(e)) {
      this.o.log.info({ revision: e.revision }, 'a renewal that failed was stored after all; renewing on it');
      this.lastRevision = e.revision;
      return true;
    }
    let loss: LeaseLoss = { holder: undefined, host: undefined, epoch: undefined };
    if (!isAbsent(e)) {
      try {
        const v = decodeLeaseValue(e.value);
        loss = { holder: v.holder, host: v.host, epoch: effectiveEpoch(v, e.revision) };
      } catch (err) {
        this.o.log.warn({ err: asError(err).message }, 'the lease key holds a value ftcp did not write');
      }
    }
    this.lose(loss);
    return false;
  }

  private lose(loss: LeaseLoss): void {
    this.checkDeadline();
    this.stopHolding();
    const who = loss.holder === undefined ? 'nobody (it expired)' : `${loss.holder} on ${loss.host} at epoch ${loss.epoch}`;
    this.o.log.warn({ epoch: this.currentEpoch, to: loss }, `lost the lease (epoch ${this.currentEpoch}) to ${who}`);
    this.emit('lost', loss);
  }
}

/** Opens or creates the bucket; two processes creating it at once, or a meta election, are retried. */
async function openBucket(nc: NatsConnection, o: ResolvedLeaseOptions): Promise<KV> {
  const kvm = new Kvm(nc);
  const giveUpAt = performance.now() + OPEN_RETRY_MS;
  for (let attempt = 1; ; attempt++) {
    try {
      const kv = await kvm.create(o.bucket, { replicas: o.replicas, history: 1, ttl: o.ttlMs, allow_direct: false });
      const st = await kv.status();
      // The deadline is only safe if the server expires the key after exactly our ttl.
      if (st.ttl !== o.ttlMs) {
        throw new LeaseError('FAILED_PRECONDITION',
          `lease bucket ${o.bucket} exists with ttl ${st.ttl} ms but this process is configured with ${o.ttlMs} ms: ` +
            'use the same lease time everywhere, or delete the bucket while no daemon runs');
      }
      if (st.replicas !== o.replicas) {
        o.log.warn({ bucket: o.bucket, replicas: st.replicas, configured: o.replicas }, 'lease bucket exists with another replica count; using it as it is');
      }
      return kv;
    } catch (err) {
      if (err instanceof LeaseError) throw err;
      if (performance.now() > giveUpAt) {
        throw new LeaseError('UNAVAILABLE',
          `lease bucket ${o.bucket} not available after ${OPEN_RETRY_MS / 1000} s (${asError(err).message}): is JetStream enabled and a quorum of the NATS cluster up?`);
      }
      if (attempt === 1) o.log.info({ err: asError(err).message }, 'lease bucket not ready yet; retrying');
      else o.log.debug({ err: asError(err).message, attempt }, 'lease bucket not ready; retrying');
      await sleep(Math.min(1000, 50 * attempt));
    }
  }
}
