// The primary's check that a standby still follows its replicated log (issue 8: "the secondary
// lost: the primary keeps serving, and says so"). Every few seconds it lists the consumers of the
// service's JetStream stream and logs one line when the last follower goes away, one when a
// follower is back.
//
// Why the consumer list, not a key the standby renews: a standby follows the log through an
// ordered pull consumer on the stream (src/log/replica/follower.ts), so the stream's own consumer
// list tells whether the log is really being read — a standby process alive but no longer reading
// would still renew a key — and it needs nothing from the standby (no second writer in the lease
// bucket, no extra protocol). The catch: an ordered consumer outlives its client by its
// inactive_threshold (5 minutes in @nats-io/jetstream), so a consumer's mere presence says
// nothing. What does is its outstanding pull requests (`num_waiting`): a live follower always has
// one pending (it asks again before the previous one expires, 5 s), and a dead one's lapse at once
// when its connection closes, or after their 5 s expiry when its host vanished without a word.
// A consumer that delivered recently counts too (between two pulls under load num_waiting can be
// 0), and "none" must be seen twice in a row before the warning, so a gap between pulls never
// raises it.
import { connect, type NatsConnection } from '@nats-io/transport-node';
import type { NatsSecurity } from '../log/replica/nats-security.js';
import { jetstreamManager, type ConsumerInfo } from '@nats-io/jetstream';
import { streamName } from '../log/replica/names.js';
import type { Logger } from '../util/logger.js';

export interface StandbyWatchOptions {
  /** NATS servers, `host:port` (cfg.natsServers). */
  servers: string[];
  /** Token, TLS or credentials for the NATS servers (log-credentials.ts). */
  security?: NatsSecurity;
  /** The service (its stream is `FTCP_<service>`). */
  service: string;
  /** The daemon's logger for this part (e.g. `log.child({ component: 'standby-watch' })`). */
  log: Logger;
  /** Time between two checks (default 2000 ms). */
  intervalMs?: number;
  /** Consecutive checks that find no follower before the warning (default 2). */
  missesBeforeWarning?: number;
  /** Called on every change of the answer (for `ftcp status`): true = a standby follows. */
  onChange?: (following: boolean) => void;
}

/** The parts of a consumer's info the check reads (as JetStream reports them). */
export type FollowerInfo = Pick<ConsumerInfo, 'num_waiting'> & {
  config: Pick<ConsumerInfo['config'], 'durable_name'>;
  // nats-server sends an RFC 3339 time here (the client's type says Nanos).
  delivered: { last_active?: unknown };
};

/**
 * Is this consumer a live follower? An ephemeral consumer with a pull request outstanding, or one
 * that delivered within `recentMs` of `nowMs` (wall clock, ms). Durable consumers are someone
 * else's (the follower's ordered consumers are ephemeral).
 */
export function isLiveFollower(ci: FollowerInfo, nowMs: number, recentMs: number): boolean {
  if (ci.config.durable_name) return false;
  if ((ci.num_waiting ?? 0) > 0) return true;
  const at = ci.delivered.last_active;
  const last = typeof at === 'string' ? Date.parse(at) : Number.NaN;
  return Number.isFinite(last) && nowMs - last <= recentMs;
}

export type PresenceChange = 'none' | 'first' | 'back';

/**
 * What the checks have found so far: `observe(n)` with the number of live followers found
 * (undefined = the check failed: nothing is concluded) returns the change to report, if any.
 * 'none' after `misses` consecutive empty checks (also at start, so a primary without standby
 * says so), 'first' when the first follower is seen before any warning, 'back' when one is seen
 * after a warning.
 */
export class StandbyPresence {
  private state: 'unknown' | 'following' | 'none' = 'unknown';
  private empty = 0;

  constructor(private readonly misses = 2) {
    if (!Number.isInteger(misses) || misses < 1) throw new Error(`misses must be a positive integer, got ${misses}`);
  }

  get following(): boolean | undefined {
    return this.state === 'unknown' ? undefined : this.state === 'following';
  }

  observe(followers: number | undefined): PresenceChange | undefined {
    if (followers === undefined) return undefined;
    if (followers > 0) {
      this.empty = 0;
      if (this.state === 'following') return undefined;
      const change = this.state === 'none' ? 'back' : 'first';
      this.state = 'following';
      return change;
    }
    this.empty++;
    if (this.state === 'none' || this.empty < this.misses) return undefined;
    this.state = 'none';
    return 'none';
  }
}

/** Starts the periodic check; returns the function that stops it (and closes its connection). */
export function watchStandbys(opts: StandbyWatchOptions): () => void {
  const intervalMs = opts.intervalMs ?? 2000;
  if (!Number.isFinite(intervalMs) || intervalMs < 100) throw new Error(`standby watch interval must be >= 100 ms, got ${intervalMs}`);
  const stream = streamName(opts.service);
  const log = opts.log;
  const presence = new StandbyPresence(opts.missesBeforeWarning ?? 2);
  let nc: NatsConnection | undefined;
  let connecting: Promise<NatsConnection> | undefined;
  let stopped = false;
  let timer: NodeJS.Timeout | undefined;
  let failures = 0;

  const connection = (): Promise<NatsConnection> => {
    if (nc && !nc.isClosed()) return Promise.resolve(nc);
    connecting ??= connect({ servers: opts.servers, name: `ftcp ${opts.service} standby watch`, maxReconnectAttempts: -1, reconnectTimeWait: 500, ...opts.security })
      .then((c) => {
        if (stopped) void c.close().catch(() => undefined);
        nc = c;
        return c;
      })
      .finally(() => (connecting = undefined));
    return connecting;
  };

  const countFollowers = async (): Promise<number> => {
    const jsm = await jetstreamManager(await connection(), { timeout: Math.max(500, intervalMs - 100) });
    const now = Date.now();
    const live: { name: string; waiting: number; delivered: number }[] = [];
    for await (const ci of jsm.consumers.list(stream)) {
      if (isLiveFollower(ci, now, 2 * intervalMs)) live.push({ name: ci.name, waiting: ci.num_waiting, delivered: ci.delivered.stream_seq });
    }
    log.debug({ stream, live }, 'standby watch: live followers');
    return live.length;
  };

  const check = async (): Promise<void> => {
    let found: number | undefined;
    try {
      found = await countFollowers();
      if (failures > 0) log.info({ stream }, 'standby watch: the stream answers again');
      failures = 0;
    } catch (err) {
      // NATS unreachable or the stream electing a leader: nothing can be said about the standby.
      if (failures++ === 0) log.info({ stream, err: String(err) }, 'standby watch: cannot list the stream\'s consumers (will retry)');
    }
    if (stopped) return;
    const change = presence.observe(found);
    if (change === 'none') log.warn({ stream }, `no standby is following the log of ${opts.service}: a host failure now loses the service`);
    else if (change === 'back') log.info({ stream, followers: found }, 'a standby follows the log again');
    else if (change === 'first') log.info({ stream, followers: found }, 'a standby follows the log');
    if (change !== undefined) opts.onChange?.(change !== 'none');
  };

  const loop = (): void => {
    if (stopped) return;
    void check().finally(() => {
      if (!stopped) timer = setTimeout(loop, intervalMs);
      timer?.unref();
    });
  };
  timer = setTimeout(loop, intervalMs);
  timer.unref();

  return () => {
    stopped = true;
    if (timer) clearTimeout(timer);
    void nc?.close().catch(() => undefined);
  };
}
