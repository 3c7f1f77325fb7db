// A SegmentBackend that replicates: every commit the store writes is written to the local backend
// AND published to the service's JetStream stream, and the write resolves only once both are done.
// Publishes form one chain: one in flight, msg id `<epoch>-<counter>`, each expecting the stream's
// last sequence to be the previous ack's. A transient failure is retried with the same message
// forever (the log stalls, it never loses an acknowledged record); another writer's message in the
// chain ("wrong last sequence") means a newer primary took over: this one is fenced for good.
//
// Modes: 'following' (a LogFollower ingests into the store: local writes only), 'primary',
// 'fenced' / 'failed' / 'closed' (every write fails).
import { EventEmitter } from 'node:events';
import type { Logger } from '../../util/logger.js';
import { LogError } from '../errors.js';
import type { SegmentBackend, WriteResult } from '../segment-files.js';
import { chunkBytes, chunkFrames } from './chunk.js';
import { msgId, partHeader, type SubjectKind } from './names.js';
import type { StreamLink } from './stream-link.js';

export type ReplicaMode = 'following' | 'primary' | 'fenced' | 'failed' | 'closed';

/**
 * What the daemon holds of a replicated store. Events: 'fenced' (err: LogError) — a newer primary
 * wrote to the stream, every later commit fails FAILED_PRECONDITION; 'failed' (err: LogError) —
 * the stream is gone or misconfigured, likewise permanent; 'stalled' ({ error }) — publishes fail
 * and are being retried (appends wait); 'resumed' ({ stalledMs }) — a publish succeeded again.
 */
export interface Replica extends EventEmitter {
  /** Stream sequence of the last message this primary got acknowledged. */
  readonly streamSeq: number;
  readonly epoch: number;
  readonly mode: ReplicaMode;
  /** Stops publishing and closes the NATS connection; close the store (or its LogServer) first. */
  close(): Promise<void>;
}

interface Job {
  kind: SubjectKind;
  /** Local write of a record batch (undefined for checkpoints). */
  local: Promise<WriteResult> | undefined;
  parts: Uint8Array[];
  partHeaders: (string | undefined)[];
  ids: string[];
  seqs: number[];
  resolve: (seqs: number[]) => void;
  reject: (err: LogError) => void;
}

const RETRY_MIN_MS = 50;
const RETRY_MAX_MS = 1000;

export class ReplicatedBackend extends EventEmitter implements SegmentBackend, Replica {
  readonly kind: 'fsync' | 'memory';
  private state: ReplicaMode = 'following';
  private epochValue = 0;
  private counter = 0;
  private lastSeq = 0;
  private readonly queue: Job[] = [];
  private running = false;
  /** A local write failed: later writes issued before recover() are not published. */
  private poisoned = false;
  private stalledSince: number | undefined;
  private finalError: LogError | undefined;
  /** Local segment → stream sequence of the first message whose frames it holds. */
  private readonly segmentSeq = new Map<number, number>();
  private purgedBelow = 0;
  private purging = false;
  /** Highest purge target asked for (a purge running when a reclaim asks for more goes on). */
  private purgeWanted = 0;
  /** Set by the follower before it ingests a message: the stream sequence its frames came from. */
  ingestSeq = 0;
  /** Set by the follower while it ingests: a following store takes no appends of its own. */
  ingesting = false;
  /** Publishes retried after a transient failure. */
  retriedPublishes = 0;

  constructor(
    private readonly inner: SegmentBackend,
    private readonly link: StreamLink,
    private readonly log: Logger,
  ) {
    super();
    this.kind = inner.kind;
  }

  get streamSeq(): number {
    return this.lastSeq;
  }

  get epoch(): number {
    return this.epochValue;
  }

  get mode(): ReplicaMode {
    return this.state;
  }

  /** Starts the chain after this primary's epoch marker (stored at `markerSeq` with `counter`). */
  becomePrimary(epoch: number, counter: number, markerSeq: number): void {
    if (this.state !== 'following') throw new Error(`replicated backend: cannot become primary from ${this.state}`);
    this.epochValue = epoch;
    this.counter = counter;
    this.lastSeq = markerSeq;
    this.state = 'primary';
  }

  // ---- SegmentBackend ------------------------------------------------------------------------

  write(buf: Buffer): Promise<WriteResult> {
    if (this.state === 'following') {
      if (!this.ingesting) return Promise.reject(new LogError('FAILED_PRECONDITION', `replicated log ${this.link.stream}: this store follows the primary and takes no appends until promoted`));
      return this.ingestWrite(buf);
    }
    if (this.state !== 'primary') return Promise.reject(this.stateError());
    let parts: Buffer[];
    try {
      parts = chunkFrames(buf, this.link.maxBody);
    } catch (err) {
      this.terminate('failed', err instanceof LogError ? err : new LogError('INVALID_ARGUMENT', String(err)));
      return Promise.reject(this.stateError());
    }
    // The local write starts now (the local backend fixes its place); the publish waits its turn.
    const local = this.inner.write(buf);
    local.catch(() => undefined);
    return new Promise<WriteResult>((resolve, reject) => {
      this.enqueue({
        kind: 'r',
        local,
        parts,
        partHeaders: [],
        ids: [],
        seqs: [],
        resolve: (seqs) => {
          void local.then((where) => {
            if (!this.segmentSeq.has(where.segment)) this.segmentSeq.set(where.segment, seqs[0]!);
            resolve(where);
          }, reject);
        },
        reject,
      });
    });
  }

  private async ingestWrite(buf: Buffer): Promise<WriteResult> {
    const where = await this.inner.write(buf);
    if (!this.segmentSeq.has(where.segment)) this.segmentSeq.set(where.segment, this.ingestSeq);
    return where;
  }

  wouldRoll(len: number): boolean {
    return this.inner.wouldRoll(len);
  }

  recover(): Promise<void> {
    this.poisoned = false;
    return this.inner.recover();
  }

  read(segment: number, pos: number, len: number): Promise<Buffer> {
    return this.inner.read(segment, pos, len);
  }

  /** Deletes local segments, then purges the stream's records below the first one still held. */
  async reclaimBelow(below: number): Promise<number> {
    const n = await this.inner.reclaimBelow(below);
    let keepFrom: number | undefined;
    for (const [seg, seq] of this.segmentSeq) {
      if (seg < below) this.segmentSeq.delete(seg);
      else if (keepFrom === undefined || seq < keepFrom) keepFrom = seq;
    }
    if (this.state === 'primary' && keepFrom !== undefined && keepFrom > this.purgedBelow) void this.purgeRecords(keepFrom);
    return n;
  }

  /**
   * Purges record batches below `keepFrom`, but not past what a follower has yet to read.
   * Best effort: a purge that fails or is held back is done by a later reclaim (it purges further).
   */
  private async purgeRecords(keepFrom: number): Promise<void> {
    if (keepFrom > this.purgeWanted) this.purgeWanted = keepFrom;
    if (this.purging) return; // the running one goes on to the new target
    this.purging = true;
    try {
      while (this.purgeWanted > this.purgedBelow && this.state === 'primary') {
        const want = this.purgeWanted;
        const unread = await this.link.firstUndelivered();
        const below = Math.min(want, unread ?? want);
        if (below <= this.purgedBelow) return; // held back by a follower: a later reclaim retries
        const purged = await this.link.purgeBelow('r', below);
        this.purgedBelow = below;
        this.log.info({ stream: this.link.stream, below, purged, heldBackBy: below < want ? 'a follower' : undefined }, 'replicated log: purged record batches no longer needed');
        if (below < want) return;
      }
    } catch (err) {
      this.log.warn({ stream: this.link.stream, err: String(err) }, 'replicated log: purge failed (a later reclaim purges further)');
    } finally {
      this.purging = false;
    }
  }

  activeSegment(): number {
    return this.inner.activeSegment();
  }

  segmentCount(): number {
    return this.inner.segmentCount();
  }

  diskBytes(): number {
    return this.inner.diskBytes();
  }

  /**
   * Fails whatever still waits for a publish, closes the NATS connection and the local backend.
   * The store's close() ends here too (after its commits settled).
   */
  async close(): Promise<void> {
    if (this.state === 'closed') return;
    this.state = 'closed';
    this.finalError ??= new LogError('UNAVAILABLE', 'replicated log closed');
    this.rejectQueued();
    await this.inner.close();
    await this.link.close();
  }

  // ---- Checkpoints ---------------------------------------------------------------------------

  /** Publishes an encoded CheckpointFile (in parts if big), after every record batch before it. */
  async publishCheckpoint(file: Uint8Array): Promise<void> {
    if (this.state !== 'primary') throw this.stateError();
    const parts = chunkBytes(file, this.link.maxBody);
    const seqs = await new Promise<number[]>((resolve, reject) =>
      this.enqueue({
        kind: 'k',
        local: undefined,
        parts,
        partHeaders: parts.map((_, i) => partHeader(i + 1, parts.length)),
        ids: [],
        seqs: [],
        resolve,
        reject,
      }),
    );
    // Only the latest checkpoint is needed: purge the older ones' parts.
    const first = seqs[0]!;
    this.link.purgeBelow('k', first).catch((err: unknown) => this.log.warn({ stream: this.link.stream, err: String(err) }, 'replicated log: purging older checkpoints failed'));
  }

  // ---- The chain -----------------------------------------------------------------------------

  private enqueue(job: Job): void {
    this.queue.push(job);
    if (!this.running) void this.run();
  }

  private async run(): Promise<void> {
    this.running = true;
    try {
      while (this.queue.length > 0) {
        const job = this.queue[0]!;
        let localError: unknown;
        if (job.local) await job.local.catch((err: unknown) => (localError = err ?? new Error('local write failed')));
        if (this.state !== 'primary') {
          this.queue.shift();
          job.reject(this.stateError());
          continue;
        }
        if (localError !== undefined || this.poisoned) {
          // The store fails this commit and every one after it; none of them may reach the stream.
          this.poisoned = true;
          this.queue.shift();
          job.reject(localError instanceof LogError ? localError : new LogError('UNAVAILABLE', `local write failed: ${String(localError ?? 'an earlier write failed')}`));
          continue;
        }
        try {
          for (let i = job.seqs.length; i < job.parts.length; i++) job.seqs.push(await this.publishOne(job, i));
        } catch (err) {
          this.queue.shift();
          job.reject(err instanceof LogError ? err : this.stateError());
          continue;
        }
        this.queue.shift();
        job.resolve(job.seqs);
      }
    } finally {
      this.running = false;
    }
  }

  private async publishOne(job: Job, i: number): Promise<number> {
    const id = (job.ids[i] ??= msgId(this.epochValue, ++this.counter));
    let delay = RETRY_MIN_MS;
    for (;;) {
      if (this.state !== 'primary') throw this.stateError();
      const r = await this.link.publish(job.kind, job.parts[i]!, id, this.lastSeq, job.partHeaders[i]);
      if (this.state !== 'primary') throw this.stateError();
      if (r.ok) {
        if (r.duplicate && r.seq !== this.lastSeq + 1) {
          // Our id names another message: ids are not unique in this epoch. Never guess.
          this.terminate('failed', new LogError('FAILED_PRECONDITION', `replicated log ${this.link.stream}: message id ${id} was already used by message ${r.seq} (epoch ${this.epochValue} reused?)`));
          throw this.stateError();
        }
        this.accept(r.seq);
        return r.seq;
      }
      if (r.kind === 'wrong-last-seq') {
        // Ours may be stored with its ack lost, beyond the duplicate window: look before judging.
        let at: string | null | undefined;
        try {
          at = await this.link.msgIdAt(this.lastSeq + 1);
        } catch (err) {
          at = undefined;
          this.stall(String(err));
        }
        if (at === id) {
          this.accept(this.lastSeq + 1);
          return this.lastSeq;
        }
        if (at !== undefined) {
          this.terminate(
            'fenced',
            new LogError(
              'FAILED_PRECONDITION',
              `replicated log ${this.link.stream}: another primary wrote after stream sequence ${this.lastSeq} (found ${at ?? 'no message'} there); this primary (epoch ${this.epochValue}) is fenced and appends no more`,
            ),
          );
          throw this.stateError();
        }
      } else if (r.kind === 'fatal') {
        this.terminate('failed', new LogError('FAILED_PRECONDITION', `replicated log ${this.link.stream}: ${r.error}; appends stop (fix the stream or the server config and restart)`));
        throw this.stateError();
      } else {
        this.stall(r.error);
      }
      this.retriedPublishes++;
      await new Promise((res) => setTimeout(res, delay));
      delay = Math.min(delay * 2, RETRY_MAX_MS);
    }
  }

  private accept(seq: number): void {
    this.lastSeq = seq;
    if (this.stalledSince !== undefined) {
      const stalledMs = Date.now() - this.stalledSince;
      this.stalledSince = undefined;
      this.log.info({ stream: this.link.stream, stalledMs, seq }, 'replicated log: publishing again');
      this.emit('resumed', { stalledMs });
    }
  }

  private stall(error: string): void {
    if (this.stalledSince !== undefined) return;
    this.stalledSince = Date.now();
    this.log.warn({ stream: this.link.stream, err: error, seq: this.lastSeq }, 'replicated log: publish failed; appends wait and it is retried');
    this.emit('stalled', { error });
  }

  private terminate(mode: 'fenced' | 'failed', err: LogError): void {
    if (this.state !== 'primary') return;
    this.state = mode;
    this.finalError = err;
    this.log.error({ stream: this.link.stream, err: err.message }, mode === 'fenced' ? 'replicated log: fenced by a newer primary' : 'replicated log: failed');
    this.rejectQueued();
    this.emit(mode, err);
  }

  /** Rejects every queued job except the one run() is working on (it rejects that one itself). */
  private rejectQueued(): void {
    for (const j of this.queue.splice(this.running ? 1 : 0)) j.reject(this.stateError());
  }

  private stateError(): LogError {
    if (this.finalError) return this.finalError;
    return new LogError('FAILED_PRECONDITION', `replicated log ${this.link.stream}: not the primary (${this.state})`);
  }
}
