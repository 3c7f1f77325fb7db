// The NATS side of a replicated log: one connection, the service's stream (created on first use,
// checked when it exists), and the few JetStream calls the primary and the follower make.
import { connect, headers as natsHeaders, type NatsConnection } from '@nats-io/transport-node';
import type { NatsSecurity } from './nats-security.js';
import {
  DiscardPolicy,
  JetStreamApiError,
  RetentionPolicy,
  StorageType,
  jetstream,
  jetstreamManager,
  type JetStreamClient,
  type JetStreamManager,
  type StreamInfo,
} from '@nats-io/jetstream';
import type { Logger } from '../../util/logger.js';
import { LogError } from '../errors.js';
import { PART_HEADER, streamName, streamSubjects, subjectOf, type SubjectKind } from './names.js';

/** JetStream API error codes we act on (nats-server 2.9). */
export const API = {
  STREAM_NOT_FOUND: 10059,
  STREAM_NAME_MISMATCH: 10060,
  WRONG_LAST_SEQUENCE: 10071,
} as const;

/** Room left in a message for its headers (msg id, expected seq, stream, part). */
const HEADER_ROOM = 1024;

export interface LinkOptions {
  servers: string[];
  /** Token, TLS or credentials for the NATS servers (log-credentials.ts). */
  security?: NatsSecurity;
  service: string;
  /** Replicas of the stream when it is created here (default 3). */
  replicas?: number;
  /** Connection name, seen in the server's monitoring. */
  name: string;
  log: Logger;
}

export type PublishOutcome =
  | { ok: true; seq: number; duplicate: boolean }
  | { ok: false; kind: 'wrong-last-seq' | 'fatal' | 'transient'; error: string };

export class StreamLink {
  readonly stream: string;
  private constructor(
    readonly nc: NatsConnection,
    readonly js: JetStreamClient,
    readonly jsm: JetStreamManager,
    readonly service: string,
    /** Largest message body we send (server max_payload less room for headers). */
    readonly maxBody: number,
  ) {
    this.stream = streamName(service);
  }

  static async open(opts: LinkOptions): Promise<StreamLink> {
    streamName(opts.service); // validates the name before connecting
    if (opts.servers.length === 0) throw new LogError('INVALID_ARGUMENT', 'no NATS server given for the replicated log');
    const replicas = opts.replicas ?? 3;
    if (!Number.isInteger(replicas) || replicas < 1 || replicas > 5) {
      throw new LogError('INVALID_ARGUMENT', `replicas must be 1-5 (JetStream's limit), got ${opts.replicas}`);
    }
    let nc: NatsConnection;
    try {
      nc = await connect({ servers: opts.servers, maxReconnectAttempts: -1, reconnectTimeWait: 100, name: opts.name, ...opts.security });
    } catch (err) {
      throw new LogError('UNAVAILABLE', `cannot connect to NATS at ${opts.servers.join(',')}: ${(err as Error).message}`);
    }
    try {
      // No account-info check (checkAPI): it needs JetStream's meta leader, which after a restart of
      // every node can stay unavailable for a while after the stream itself has a leader again;
      // the stream's own info, asked next, is what this link needs.
      const jsm = await jetstreamManager(nc, { checkAPI: false });
      await ensureStream(jsm, opts.service, replicas, opts.replicas, opts.log);
      const maxPayload = nc.info?.max_payload ?? 1024 * 1024;
      return new StreamLink(nc, jetstream(nc, { timeout: 5000 }), jsm, opts.service, maxPayload - HEADER_ROOM);
    } catch (err) {
      await nc.close().catch(() => undefined);
      throw err;
    }
  }

  subject(kind: SubjectKind): string {
    return subjectOf(this.service, kind);
  }

  /**
   * One chained publish: stored only if the stream's last sequence is `expectLast` (or if its
   * msg id was already stored: JetStream answers duplicate with the original sequence).
   * `expectLast` undefined: stored wherever the stream is (a forced epoch marker).
   */
  async publish(kind: SubjectKind, data: Uint8Array, id: string, expectLast: number | undefined, part?: string): Promise<PublishOutcome> {
    const h = natsHeaders();
    // Set by hand: the client leaves out an expected sequence of 0 (an empty stream).
    if (expectLast !== undefined) h.set('Nats-Expected-Last-Sequence', String(expectLast));
    // Big messages take longer to replicate: allow 1 s more per MiB before resending.
    const timeoutMs = 2000 + Math.ceil(data.length / (1024 * 1024)) * 1000;
    if (part !== undefined) h.set(PART_HEADER, part);
    try {
      const ack = await this.js.publish(this.subject(kind), data, { msgID: id, expect: { streamName: this.stream }, headers: h, timeout: timeoutMs });
      return { ok: true, seq: ack.seq, duplicate: ack.duplicate };
    } catch (err) {
      return { ok: false, ...classify(err) };
    }
  }

  /** The msg id of the message at `seq` (null: no such message), for telling our own store from another writer's. */
  async msgIdAt(seq: number): Promise<string | null> {
    try {
      const m = await this.jsm.streams.getMessage(this.stream, { seq });
      return m?.header.get('Nats-Msg-Id') ?? null;
    } catch (err) {
      if (err instanceof JetStreamApiError && err.status === 404) return null;
      throw err;
    }
  }

  async info(): Promise<StreamInfo> {
    return this.jsm.streams.info(this.stream);
  }

  /**
   * The lowest stream sequence a consumer of the stream (a follower) has not been delivered yet;
   * undefined when there is none. Purging stays below it, so a lagging follower never misses a
   * record batch (it could not tell that gap from a purged checkpoint or marker).
   */
  async firstUndelivered(): Promise<number | undefined> {
    let min: number | undefined;
    for await (const ci of this.jsm.consumers.list(this.stream)) {
      const next = (ci.delivered?.stream_seq ?? 0) + 1;
      if (min === undefined || next < min) min = next;
    }
    return min;
  }

  /** Removes messages of one subject below stream sequence `below`. */
  async purgeBelow(kind: SubjectKind, below: number): Promise<number> {
    // Nothing lies below 1; and nats-server takes a filtered purge with seq 1 as "no limit".
    if (below <= 1) return 0;
    const r = await this.jsm.streams.purge(this.stream, { filter: this.subject(kind), seq: below });
    return r.purged;
  }

  async close(): Promise<void> {
    if (!this.nc.isClosed()) await this.nc.close().catch(() => undefined);
  }
}

async function ensureStream(jsm: JetStreamManager, service: string, replicas: number, asked: number | undefined, log: Logger): Promise<StreamInfo> {
  const name = streamName(service);
  const subjects = streamSubjects(service);
  const info = await retryTransient(async () => {
    try {
      return await jsm.streams.info(name);
    } catch (err) {
      if (err instanceof JetStreamApiError && err.code === API.STREAM_NOT_FOUND) return undefined;
      throw err;
    }
  }, 30_000);
  if (info) {
    const c = info.config;
    if (!c.subjects?.includes(subjects) || c.discard !== DiscardPolicy.New || c.storage !== StorageType.File) {
      throw new LogError(
        'FAILED_PRECONDITION',
        `JetStream stream ${name} exists with another configuration (subjects ${JSON.stringify(c.subjects)}, discard ${c.discard}, storage ${c.storage}); ` +
          `it needs subjects ["${subjects}"], discard new, file storage: fix or delete it (nats stream rm ${name})`,
      );
    }
    if (asked !== undefined && c.num_replicas !== asked) log.warn({ stream: name, replicas: c.num_replicas, asked }, 'replicated log: the stream exists with another replica count; keeping it');
    return info;
  }
  log.info({ stream: name, replicas }, 'replicated log: creating the stream');
  return retryTransient(
    () =>
      addStream(jsm, name, replicas, {
        name,
        subjects: [subjects],
        num_replicas: replicas,
        storage: StorageType.File,
        // Records leave only by truncation below a checkpoint, never by a limit: a full stream
        // refuses appends instead of dropping old records.
        retention: RetentionPolicy.Limits,
        discard: DiscardPolicy.New,
      }),
    30_000,
  );
}

/** Creates the stream; a refusal by the server (not a timeout) is a configuration error. */
async function addStream(jsm: JetStreamManager, name: string, replicas: number, cfg: Parameters<JetStreamManager['streams']['add']>[0]): Promise<StreamInfo> {
  try {
    return await jsm.streams.add(cfg);
  } catch (err) {
    // A node of the cluster still starting (or just lost): placement may work in a moment.
    if (err instanceof JetStreamApiError && /peer offline/i.test(err.message)) throw new Error(err.message);
    if (err instanceof JetStreamApiError) {
      throw new LogError(
        'FAILED_PRECONDITION',
        `cannot create JetStream stream ${name} with ${replicas} replicas: ${err.message} (replicas must not exceed the cluster's JetStream nodes; 1 for a single server)`,
      );
    }
    throw err;
  }
}

/** Sorts a failed publish or API call into what to do about it. */
export function classify(err: unknown): { kind: 'wrong-last-seq' | 'fatal' | 'transient'; error: string } {
  const msg = err instanceof Error ? err.message : String(err);
  const name = err instanceof Error ? err.name : '';
  if (name === 'InvalidArgumentError' || name === 'InvalidOperationError') return { kind: 'fatal', error: msg };
  if (err instanceof JetStreamApiError) {
    if (err.code === API.WRONG_LAST_SEQUENCE) return { kind: 'wrong-last-seq', error: msg };
    if (err.code === API.STREAM_NOT_FOUND || err.code === API.STREAM_NAME_MISMATCH) return { kind: 'fatal', error: msg };
  }
  if (/wrong last sequence/i.test(msg)) return { kind: 'wrong-last-seq', error: msg };
  if (/stream not found|expected stream does not match|maximum payload|max_payload|MAX_PAYLOAD/i.test(msg)) return { kind: 'fatal', error: msg };
  // Timeouts, no responders / JetStreamNotEnabled during a leader election, a lost connection.
  return { kind: 'transient', error: msg };
}

/** Retries an API call while it fails transiently, up to `budgetMs`. */
export async function retryTransient<T>(op: () => Promise<T>, budgetMs: number): Promise<T> {
  const until = Date.now() + budgetMs;
  let delay = 50;
  for (;;) {
    try {
      return await op();
    } catch (err) {
      if (classify(err).kind !== 'transient' || err instanceof LogError || Date.now() + delay > until) throw err;
      await new Promise((r) => setTimeout(r, delay));
      delay = Math.min(delay * 2, 1000);
    }
  }
}
