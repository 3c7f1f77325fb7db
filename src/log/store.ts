// The log store: group commit of appends into segments, the in-memory per-connection index,
// deduplication by per-stream sequence, epochs, checkpoints and segment reclamation.
import { promises as fsp } from 'node:fs';
import { join } from 'node:path';
import type { Logger } from '../util/logger.js';
import { lockDataDir } from './dir-lock.js';
import { LogError, diskError } from './errors.js';
import { FRAME_HEADER, encodeFrames, framesOf, validPrefix } from './frame.js';
import { CheckpointFile, CheckpointInfo, ConnPosition, Record } from './gen/ftcp/v1/log.js';
import { decodeStored, encodeIds, encodeStoredBatch, storedToWire, type DecodedStored, type StoredItem } from './stored-record.js';
import { Kind, recordMeta, type RecordMeta } from './record-meta.js';
import { tupleKeyOfConnId } from './conn-key.js';
import { checkpointRetention, isClientStream, isLive, type CheckpointRetention } from './retention.js';
import { RowTable } from './row-table.js';
import { FileSegments, MemorySegments, SEGMENT_MAGIC, type SegmentBackend, type WriteResult } from './segment-files.js';

export type Durability = 'fsync' | 'memory';

export interface LogStoreOptions {
  /** Required for `fsync`; unused by `memory`. */
  dataDir?: string;
  durability: Durability;
  /** Roll to a new segment file past this size (default 64 MiB). */
  segmentBytes?: number;
  /**
   * Group commits up to this many bytes are written synchronously on the event-loop thread
   * (lower latency at low load; the loop waits for one small O_DSYNC write). Default 0 = never.
   */
  inlineCommitBytes?: number;
  /**
   * Group commits on their way to disk at the same time (pipelined group commit; default 2,
   * 1 = one at a time). They are acknowledged strictly in order. `FTCP_LOG_COMMITS_IN_FLIGHT`
   * overrides the default.
   */
  maxCommitsInFlight?: number;
  /**
   * While only records nobody waits on are queued (the daemon's own, append(..., mayOverlap =
   * false)) and less than 64 KiB of them, start at most one commit per this many ms (default 1,
   * 0 = at once). `FTCP_LOG_LAZY_GATHER_MS` overrides the default.
   */
  lazyGatherMs?: number;
  /**
   * Queued bytes from which the next commit is encoded while one is being written, and written
   * the moment that one finishes (default 4 MiB, 0 = never). `FTCP_LOG_STAGE_BYTES` overrides it.
   */
  stageBytes?: number;
  /**
   * Wraps the segment backend (replication: src/log/replica). The store writes every commit
   * through the wrapper; reads and reclaim go through it too.
   */
  wrapBackend?: (backend: SegmentBackend) => SegmentBackend;
  /**
   * Start empty: delete the data directory's segments, checkpoints and meta file after locking it
   * (a replica whose contents are rebuilt from the replicated log).
   */
  discardExisting?: boolean;
  log: Logger;
}

/**
 * Publishes an encoded CheckpointFile before checkpoint() stores it locally and resolves (a
 * replicated store: the checkpoint is durable on the replicated log first, after the records it covers).
 */
export type CheckpointPublisher = (file: Uint8Array, info: CheckpointInfo) => Promise<void>;

const DEFAULT_COMMITS_IN_FLIGHT = 2;
/**
 * A commit overlaps one in flight only while this little is queued: a record that arrives during a
 * commit need not wait for it, but a stream of bulk data still goes out in commits as large as
 * one commit's duration gathers (measured: overlapping bulk commits halves their size and costs
 * throughput on this disk, where one 4 MiB write + fdatasync beats four of 1 MiB).
 */
const OVERLAP_BYTES = 64 * 1024;
/**
 * While a commit is being written, once this much is queued the next commit is encoded (records
 * copied into one buffer, CRC32C) and waits, staged, to be written the moment the one in flight
 * finishes: bulk data then keeps the disk busy back to back instead of idling while the main
 * thread builds the next commit (the disk was idle 19 % of a 64 KiB-record run, docs/PERFORMANCE.md
 * issue 3). 4 MiB: the write size the raw-disk reference of the benchmark uses; 1 MiB measured the
 * same within the noise. `FTCP_LOG_STAGE_BYTES` (or LogStoreOptions.stageBytes) overrides it (0 =
 * never stage).
 */
const DEFAULT_STAGE_BYTES = 4 * 1024 * 1024;
const MAX_COMMITS_IN_FLIGHT = 16;

/** Default of LogStoreOptions.lazyGatherMs (see LogStore.lazyMayStart). */
const DEFAULT_LAZY_GATHER_MS = 1;
const MAX_LAZY_GATHER_MS = 100;

interface CommitTuning {
  maxInFlight: number;
  lazyGatherMs: number;
  /** 0 = never stage. */
  stageBytes: number;
}

function commitTuning(opts: { maxCommitsInFlight?: number; lazyGatherMs?: number; stageBytes?: number }): CommitTuning {
  const env = process.env['FTCP_LOG_COMMITS_IN_FLIGHT'];
  const n = opts.maxCommitsInFlight ?? (env !== undefined && env !== '' ? Number(env) : DEFAULT_COMMITS_IN_FLIGHT);
  if (!Number.isInteger(n) || n < 1 || n > MAX_COMMITS_IN_FLIGHT) {
    throw new Error(`log store: commits in flight must be an integer from 1 to ${MAX_COMMITS_IN_FLIGHT} (FTCP_LOG_COMMITS_IN_FLIGHT or maxCommitsInFlight), got ${opts.maxCommitsInFlight ?? env}`);
  }
  const genv = process.env['FTCP_LOG_LAZY_GATHER_MS'];
  const g = opts.lazyGatherMs ?? (genv !== undefined && genv !== '' ? Number(genv) : DEFAULT_LAZY_GATHER_MS);
  if (!Number.isInteger(g) || g < 0 || g > MAX_LAZY_GATHER_MS) {
    throw new Error(`log store: the lazy gather must be an integer number of milliseconds from 0 to ${MAX_LAZY_GATHER_MS} (FTCP_LOG_LAZY_GATHER_MS or lazyGatherMs), got ${opts.lazyGatherMs ?? genv}`);
  }
  const senv = process.env['FTCP_LOG_STAGE_BYTES'];
  const stageBytes = opts.stageBytes ?? (senv !== undefined && senv !== '' ? Number(senv) : DEFAULT_STAGE_BYTES);
  if (!Number.isInteger(stageBytes) || stageBytes < 0) {
    throw new Error(`log store: FTCP_LOG_STAGE_BYTES must be a whole number of bytes (0 = never stage the next commit), got ${opts.stageBytes ?? senv}`);
  }
  return { maxInFlight: n, lazyGatherMs: g, stageBytes };
}

/** Notified when a writer stream's durable watermark moves, or when its pending records failed. */
export interface StreamListener {
  onDurable(durableSeq: number): void;
  onFailed(err: LogError): void;
}

/**
 * Told of a durable record of a watched kind, inside the group commit that made it durable and
 * before the writer's acknowledgement goes out (so an in-process reader learns it first).
 */
export type DurableRecordListener = (service: string, streamId: string, connId: string, raw: Uint8Array) => void;

export interface StreamState {
  readonly id: string;
  /** Service and stream id as stored in every record of this stream. */
  readonly ids: Buffer;
  /** Highest seq accepted into the store (queued or durable). */
  applied: number;
  /** Highest seq durable; every seq <= this of this stream is durable. */
  durable: number;
  readonly listeners: Set<StreamListener>;
}

interface ConnState {
  id: string;
  /** Tuple key of the id: what checkpoint positions apply by. */
  tuple: string;
  slot: number;
  rows: number[];
  closed: boolean;
  lastProgressLsn: number;
  lastOpenedLsn: number;
}

class ServiceIndex {
  epoch = 0;
  readonly streams = new Map<string, StreamState>();
  readonly conns = new Map<string, ConnState>();
  connBySlot: (ConnState | undefined)[] = [undefined];
  readonly rows = new RowTable();
  checkpoint: CheckpointInfo | undefined;
  retention: CheckpointRetention | undefined;
  constructor(readonly name: string) {}

  conn(id: string): ConnState {
    let c = this.conns.get(id);
    if (!c) {
      c = { id, tuple: tupleKeyOfConnId(id), slot: this.connBySlot.length, rows: [], closed: false, lastProgressLsn: -1, lastOpenedLsn: -1 };
      this.connBySlot.push(c);
      this.conns.set(id, c);
    }
    return c;
  }

  stream(id: string): StreamState {
    let s = this.streams.get(id);
    if (!s) {
      s = { id, ids: encodeIds(this.name, id), applied: 0, durable: 0, listeners: new Set() };
      this.streams.set(id, s);
    }
    return s;
  }

  setCheckpoint(info: CheckpointInfo): void {
    this.checkpoint = info;
    this.retention = checkpointRetention(info.lsn, info.positions);
  }

  rowLive(i: number): boolean {
    const r = this.rows;
    const slot = r.conn[i]!;
    const c = slot === 0 ? undefined : this.connBySlot[slot];
    return isLive(r.kind[i]!, r.lsn[i]!, r.end[i]!, c?.tuple, c, this.retention);
  }

  insert(lsn: number, segment: number, pos: number, len: number, meta: RecordMeta): void {
    const c = meta.connId === '' ? undefined : this.conn(meta.connId);
    const row = this.rows.push(lsn, segment, pos, len, meta.kind, meta.end, c?.slot ?? 0);
    if (!c) return;
    c.rows.push(row);
    if (meta.kind === Kind.Closed) c.closed = true;
    else if (meta.kind === Kind.ServerProgress) c.lastProgressLsn = lsn;
    else if (meta.kind === Kind.Opened) c.lastOpenedLsn = lsn;
  }
}

interface PendingItem {
  svc: ServiceIndex;
  epoch: number;
  stream: StreamState;
  seq: number;
  raw: Uint8Array;
  meta: RecordMeta;
}

/** One group commit on its way to disk; commits retire (index, acknowledgements) in lsn order. */
interface Commit {
  batch: PendingItem[];
  firstLsn: number;
  bodies: number[];
  lens: number[];
  /** Set when the write finished. */
  where: WriteResult | undefined;
  error: LogError | undefined;
  finished: boolean;
  /** Started a new segment: nothing else may be in flight with it. */
  alone: boolean;
  /** The encoded commit while it is staged (waiting for the one in flight); undefined once written. */
  staged: Buffer | undefined;
}

/** A read spans up to this many unwanted bytes between two wanted rows rather than issue two reads. */
const READ_GAP_BYTES = 256 * 1024;

export interface ReadOptions {
  connId?: string;
  fromOffset?: number;
  /** Only records of these kinds (default all). */
  kinds?: ReadonlySet<Kind>;
  /** Upper bound of payload bytes per yielded batch (default 1 MiB). */
  batchBytes?: number;
}

export interface StoreStats {
  records: number;
  recordBytes: number;
  connections: number;
  diskBytes: number;
  segments: number;
  services: number;
  lastLsn: number;
  durability: Durability;
  appendedRecords: number;
  commits: number;
  tornTailsCut: number;
  writeErrors: number;
}

const MAX_NAME = 255;
const META_FILE = 'streams.meta';

function serviceFileName(name: string): string {
  return `${Buffer.from(name, 'utf8').toString('hex')}.ckpt`;
}

export class LogStore {
  private readonly services = new Map<string, ServiceIndex>();
  private pending: PendingItem[] = [];
  private pendingBytes = 0;
  /** Some queued record comes from a writer that waits on it (may start an overlapping commit). */
  private pendingMayOverlap = false;
  private lastCommitStart = 0;
  private gatherTimer: NodeJS.Timeout | undefined;
  /** Commits written or being written and not yet retired, in lsn order. */
  private inFlight: Commit[] = [];
  private startScheduled = false;
  /** A write failed: no new commit starts until the ones in flight finished and the failure is handled. */
  private halted = false;
  private closed = false;
  private nextLsn = 1;
  private lastLsn = 0;
  private enqueued = 0;
  private settled = 0;
  private settleWaiters: { target: number; resolve: () => void }[] = [];
  private activeReads = 0;
  private lastSegment = 0;
  private reclaiming = false;
  private reclaimRun: Promise<number> | undefined;
  private reclaimAgain: Promise<number> | undefined;
  private tornTailsCut = 0;
  private appendedRecords = 0;
  private commits = 0;
  private writeErrors = 0;
  private unlock: (() => Promise<void>) | undefined;
  private readonly recordListeners = new Map<Kind, Set<DurableRecordListener>>();
  private readonly checkpointListeners = new Set<(service: string) => void>();
  private checkpointPublisher: CheckpointPublisher | undefined;
  /** Set while the store mirrors another (a follower): appends and checkpoints are refused. */
  private readOnlyReason: string | undefined;
  /** Highest lsn of an ingested frame: frames at or below it are already held. */
  private ingestedLsn = 0;
  /** Ingests of a follower, one at a time. */
  private ingestChain: Promise<unknown> = Promise.resolve();

  private constructor(
    private readonly backend: SegmentBackend,
    readonly durability: Durability,
    private readonly dataDir: string | undefined,
    private readonly log: Logger,
    private readonly tuning: CommitTuning,
  ) {}

  static async open(opts: LogStoreOptions): Promise<LogStore> {
    const segmentBytes = opts.segmentBytes ?? 64 * 1024 * 1024;
    const tuning = commitTuning(opts);
    const wrap = opts.wrapBackend ?? ((b: SegmentBackend) => b);
    if (opts.durability === 'memory') {
      return new LogStore(wrap(new MemorySegments(segmentBytes)), 'memory', undefined, opts.log, tuning);
    }
    if (!opts.dataDir) throw new Error('the log store needs a data directory for fsync durability');
    await fsp.mkdir(opts.dataDir, { recursive: true });
    const unlock = await lockDataDir(opts.dataDir);
    try {
      if (opts.discardExisting) {
        for (const name of ['segments', 'checkpoints', META_FILE]) await fsp.rm(join(opts.dataDir, name), { recursive: true, force: true });
      }
      await fsp.mkdir(join(opts.dataDir, 'checkpoints'), { recursive: true });
      const { backend, scan } = await FileSegments.open(opts.dataDir, segmentBytes, opts.log);
      backend.inlineBytes = opts.inlineCommitBytes ?? 0;
      const store = new LogStore(wrap(backend), 'fsync', opts.dataDir, opts.log, tuning);
      store.unlock = unlock;
      for (const cut of scan.cuts) {
        opts.log.warn(cut, 'log store: cut a torn or corrupt segment tail');
      }
      store.tornTailsCut = scan.cuts.length;
      let records = 0;
      for (const seg of scan.segments) records += store.rebuildSegment(seg.id, seg.bytes);
      await store.loadMeta();
      await store.loadCheckpoints();
      opts.log.info(
        { dataDir: opts.dataDir, segments: scan.segments.length, records, tornTailsCut: scan.cuts.length, lastLsn: store.lastLsn },
        'log store opened',
      );
      return store;
    } catch (err) {
      await unlock();
      throw err;
    }
  }

  /**
   * A store without files on a backend of the caller's (tests; later other backends): nothing is
   * recovered at start, no checkpoint or meta files are written.
   */
  static onBackend(backend: SegmentBackend, opts: { log: Logger; maxCommitsInFlight?: number; lazyGatherMs?: number; stageBytes?: number }): LogStore {
    return new LogStore(backend, backend.kind, undefined, opts.log, commitTuning(opts));
  }

  private service(name: string): ServiceIndex {
    let s = this.services.get(name);
    if (!s) {
      s = new ServiceIndex(name);
      this.services.set(name, s);
    }
    return s;
  }

  /** Indexes the frames of one segment found on start; returns how many records it held. */
  private rebuildSegment(segment: number, bytes: Buffer): number {
    let n = 0;
    for (const [off, payload] of framesOf(bytes, 0, bytes.length)) {
      let stored: DecodedStored;
      let meta: RecordMeta;
      try {
        stored = decodeStored(payload);
        meta = recordMeta(Record.decode(stored.record));
      } catch (err) {
        // A frame with a valid CRC that does not decode was written by a newer version: skip it.
        this.log.warn({ segment, pos: off, err: String(err) }, 'log store: skipped an undecodable record');
        continue;
      }
      const svc = this.service(stored.service);
      svc.insert(stored.lsn, segment, SEGMENT_MAGIC.length + off + FRAME_HEADER, payload.length, meta);
      if (stored.epoch > svc.epoch) svc.epoch = stored.epoch;
      const st = svc.stream(stored.streamId);
      if (stored.seq > st.applied) st.applied = st.durable = stored.seq;
      if (stored.lsn > this.lastLsn) this.lastLsn = stored.lsn;
      n++;
    }
    this.nextLsn = this.lastLsn + 1;
    return n;
  }

  private async loadCheckpoints(): Promise<void> {
    const dir = join(this.dataDir!, 'checkpoints');
    for (const name of await fsp.readdir(dir)) {
      if (!name.endsWith('.ckpt')) continue;
      const file = await this.readFramedFile(join(dir, name));
      if (!file) continue;
      const f = CheckpointFile.decode(file);
      if (!f.info) continue;
      const svc = this.service(f.info.service);
      svc.setCheckpoint(f.info);
      if (f.info.epoch > svc.epoch) svc.epoch = f.info.epoch;
      for (const m of f.streams) {
        const st = svc.stream(m.streamId);
        if (m.seq > st.applied) st.applied = st.durable = m.seq;
      }
      if (f.info.lsn > this.lastLsn) this.lastLsn = f.info.lsn;
    }
    this.nextLsn = this.lastLsn + 1;
  }

  /** Stream marks and epochs of every service, saved before segments are deleted. */
  private async loadMeta(): Promise<void> {
    const body = await this.readFramedFile(join(this.dataDir!, META_FILE));
    if (!body) return;
    for (const [, payload] of framesOf(body, 0, body.length)) {
      const f = CheckpointFile.decode(payload);
      if (!f.info) continue;
      const svc = this.service(f.info.service);
      if (f.info.epoch > svc.epoch) svc.epoch = f.info.epoch;
      for (const m of f.streams) {
        const st = svc.stream(m.streamId);
        if (m.seq > st.applied) st.applied = st.durable = m.seq;
      }
      if (f.info.lsn > this.lastLsn) this.lastLsn = f.info.lsn;
    }
  }

  /** Reads a file made of one frame (or several, for the meta file); undefined if absent. */
  private async readFramedFile(path: string): Promise<Buffer | undefined> {
    let data: Buffer;
    try {
      data = await fsp.readFile(path);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw err;
    }
    if (validPrefix(data, 0) !== data.length) {
      this.log.error({ path }, 'log store: corrupt checkpoint/meta file ignored');
      return undefined;
    }
    if (path.endsWith('.ckpt')) return data.subarray(FRAME_HEADER);
    return data;
  }

  private async writeFramedFile(path: string, payloads: Uint8Array[]): Promise<void> {
    const { buf } = encodeFrames(payloads);
    const tmp = `${path}.tmp`;
    try {
      const h = await fsp.open(tmp, 'w', 0o640);
      try {
        let done = 0;
        while (done < buf.length) done += (await h.write(buf, done, buf.length - done, done)).bytesWritten;
        await h.datasync();
      } finally {
        await h.close();
      }
      await fsp.rename(tmp, path);
      const d = await fsp.open(join(path, '..'), 'r');
      try {
        await d.sync();
      } finally {
        await d.close();
      }
    } catch (err) {
      await fsp.rm(tmp, { force: true }).catch(() => {});
      throw diskError(err, `writing ${path}`, this.dataDir ?? '');
    }
  }

  // ------------------------------------------------------------------------------------------
  // Append

  static validateNames(service: string, streamId: string): void {
    if (service === '') throw new LogError('INVALID_ARGUMENT', 'service.name is empty');
    if (Buffer.byteLength(service) > MAX_NAME) throw new LogError('INVALID_ARGUMENT', `service.name longer than ${MAX_NAME} bytes`);
    if (streamId === '') throw new LogError('INVALID_ARGUMENT', 'stream_id is empty');
    if (Buffer.byteLength(streamId) > MAX_NAME) throw new LogError('INVALID_ARGUMENT', `stream_id longer than ${MAX_NAME} bytes`);
  }

  /** The writer stream (created on first use). */
  stream(service: string, streamId: string): StreamState {
    return this.service(service).stream(streamId);
  }

  currentEpoch(service: string): number {
    return this.services.get(service)?.epoch ?? 0;
  }

  /**
   * Queues records seq firstSeq.. of a writer stream for the next group commit. Records at or
   * below the stream's applied seq are duplicates of a resend and skipped. Returns the stream;
   * the batch is durable once stream.durable >= firstSeq + raws.length - 1.
   * `mayOverlap` false: these records never start a commit beside one in flight (see
   * scheduleCommit) — for a writer that does not wait on each record, such as the daemon's own.
   */
  append(service: string, epoch: number, streamId: string, firstSeq: number, raws: Uint8Array[], metas: RecordMeta[], mayOverlap = true): StreamState {
    if (this.closed) throw new LogError('UNAVAILABLE', 'log store is shutting down');
    if (this.readOnlyReason !== undefined) throw new LogError('FAILED_PRECONDITION', this.readOnlyReason);
    const svc = this.service(service);
    if (epoch < svc.epoch) {
      throw new LogError('FAILED_PRECONDITION', `service ${service}: epoch ${epoch} is older than the current epoch ${svc.epoch} (fenced)`);
    }
    svc.epoch = epoch;
    const st = svc.stream(streamId);
    if (firstSeq > st.applied + 1 && st.applied > 0) {
      throw new LogError('FAILED_PRECONDITION', `stream ${streamId}: first_seq ${firstSeq} leaves a gap after ${st.applied}; resend from ${st.applied + 1}`);
    }
    const skip = Math.max(0, st.applied + 1 - firstSeq);
    for (let i = skip; i < raws.length; i++) {
      this.pending.push({ svc, epoch, stream: st, seq: firstSeq + i, raw: raws[i]!, meta: metas[i]! });
      this.pendingBytes += raws[i]!.length;
    }
    if (mayOverlap && raws.length > skip) this.pendingMayOverlap = true;
    const added = raws.length - skip;
    if (added > 0) {
      st.applied = firstSeq + raws.length - 1;
      this.enqueued += added;
      this.scheduleCommit();
    }
    return st;
  }

  /**
   * Pipelined group commit: queued records become one commit at the end of the current microtask
   * run if no commit is on its way to disk, or if fewer than maxInFlight are and what is queued is
   * small (OVERLAP_BYTES); else as soon as a commit retires.
   * Overlapping commits let a record that arrives while a commit is in flight start its own write
   * at once instead of waiting for that commit (the disk takes both; acknowledgements stay in order).
   * Only records of writers that wait on them do (the shim's, a remote writer's): the daemon's own
   * records are acknowledged to clients as ACKs, which no response waits for, and each extra
   * commit costs the relay thread a thread-pool round trip (+30 µs p50 on a 64 B request/response
   * through `ftcp run`, docs/PERFORMANCE.md issue 4).
   */
  private scheduleCommit(): void {
    if (this.startScheduled || this.startMode() === undefined) return;
    this.startScheduled = true;
    queueMicrotask(() => {
      if (!this.startScheduled) return; // started by commitNow()
      this.startCommit();
    });
  }

  /**
   * Starts the scheduled commit now instead of at the end of the microtask run. A transport calls
   * it once it has appended everything one read brought: the commit (and, with an inline write,
   * the disk's flush) then starts before the stream machinery's own bookkeeping of that read,
   * which costs ~30 µs on an idle machine (docs/PERFORMANCE.md, issue 3). Appends made later in
   * the same turn form the next commit, as they would while one is in flight.
   */
  commitNow(): void {
    if (this.startScheduled) this.startCommit();
  }

  /**
   * Whether the queued records start a commit now: 'write' (to disk at once), 'stage' (encoded
   * now, written when the commit in flight finishes: DEFAULT_STAGE_BYTES), or not yet (undefined).
   * Commits are written in log order, so nothing starts while one is staged.
   */
  private startMode(): 'write' | 'stage' | undefined {
    if (this.pending.length === 0 || this.halted) return undefined;
    const n = this.inFlight.length;
    if (n === 0) return this.lazyMayStart() ? 'write' : undefined;
    const last = this.inFlight[n - 1]!;
    if (last.staged !== undefined) return undefined; // one is waiting already
    // A commit that starts a segment is written alone; one staged behind it is written after it.
    if (!last.alone && n < this.tuning.maxInFlight && this.pendingMayOverlap && this.pendingBytes <= OVERLAP_BYTES) return 'write';
    const stage = this.tuning.stageBytes;
    return stage > 0 && this.pendingBytes >= stage ? 'stage' : undefined;
  }

  /**
   * Only records nobody waits on (the daemon's) are queued and little of them: start at most one
   * commit per tuning.lazyGatherMs, so that a request/response stream through the relay does not pay a
   * thread-pool round trip every few requests. Their acknowledgements (ACKs to clients) come at
   * most that much later; bulk data (OVERLAP_BYTES queued) and any waiting writer start at once.
   */
  private lazyMayStart(): boolean {
    const gather = this.tuning.lazyGatherMs;
    if (this.pendingMayOverlap || gather === 0 || this.closed || this.pendingBytes >= OVERLAP_BYTES) return true;
    const wait = this.lastCommitStart + gather - performance.now();
    if (wait <= 0) return true;
    this.gatherTimer ??= setTimeout(() => {
      this.gatherTimer = undefined;
      this.scheduleCommit();
    }, Math.ceil(wait));
    return false;
  }

  private startCommit(): void {
    this.startScheduled = false;
    const mode = this.startMode();
    if (mode === undefined) return;
    this.lastCommitStart = performance.now();
    const batch = this.pending;
    const firstLsn = this.nextLsn;
    const items: StoredItem[] = new Array(batch.length);
    for (let i = 0; i < batch.length; i++) {
      const it = batch[i]!;
      items[i] = { lsn: firstLsn + i, epoch: it.epoch, seq: it.seq, ids: it.stream.ids, record: it.raw };
    }
    const { buf, bodies, lens } = encodeStoredBatch(items);
    // A commit that starts a segment goes alone: a later one must not be durable in the new
    // segment while an earlier one could still be torn in the old one.
    // (A staged one is written only once everything before it has finished: alone by then.)
    const alone = this.backend.wouldRoll(buf.length);
    if (alone && mode === 'write' && this.inFlight.length > 0) return; // retried when the ones in flight retire
    this.pending = [];
    this.pendingBytes = 0;
    this.pendingMayOverlap = false;
    this.nextLsn = firstLsn + batch.length;
    const c: Commit = { batch, firstLsn, bodies, lens, where: undefined, error: undefined, finished: false, alone, staged: mode === 'stage' ? buf : undefined };
    this.inFlight.push(c);
    if (mode === 'write') this.write(c, buf);
  }

  /**
   * Sends a commit's bytes to the backend; retire() runs when the write finishes or fails. A
   * staged commit is written from inside retire(), so never on this thread (`mayWriteNow`): its
   * retirement must not run inside the one that wrote it, ahead of the commits before it.
   */
  private write(c: Commit, buf: Buffer, mayWriteNow = true): void {
    const done = (where: WriteResult): void => {
      c.where = where;
      c.finished = true;
      this.retire();
    };
    const failed = (err: unknown): void => {
      c.error = err instanceof LogError ? err : diskError(err, 'append', this.dataDir ?? 'memory');
      c.finished = true;
      this.halted = true;
      this.retire();
    };
    // A write the backend can make on this thread is acknowledged in the same turn: no promise
    // hop, so the acknowledgement does not wait behind the microtasks and ticks queued meanwhile.
    let now: WriteResult | undefined;
    try {
      if (mayWriteNow) now = this.backend.writeNow?.(buf);
    } catch (err) {
      failed(err);
      return;
    }
    if (now) done(now);
    else this.backend.write(buf).then(done, failed);
  }

  /** Retires finished commits from the head, in order: a record is durable once every commit before it is. */
  private retire(): void {
    const q = this.inFlight;
    // Commits retiring together acknowledge each stream once, with its highest durable seq.
    const touched = new Set<StreamState>();
    const retired: Commit[] = [];
    while (q.length > 0 && q[0]!.finished) {
      const c = q[0]!;
      if (c.error) break; // it and everything after it fail together, once all have finished
      q.shift();
      retired.push(c);
      for (const it of c.batch) {
        it.stream.durable = it.seq;
        touched.add(it.stream);
      }
    }
    // A staged commit goes to disk the moment everything before it has finished, before the
    // acknowledgements and the index work of the ones that did.
    const head = q[0];
    if (head?.staged !== undefined && !this.halted) {
      const buf = head.staged;
      head.staged = undefined;
      this.write(head, buf, false);
    }
    // Acknowledge first, index after: the writer is waiting, and nothing can read the store
    // before this synchronous run is over.
    for (const st of touched) for (const l of st.listeners) l.onDurable(st.durable);
    for (const c of retired) this.apply(c);
    if (this.halted) {
      // A staged commit is never written after a failure: it fails with the rest.
      for (const c of q) {
        if (c.staged === undefined) continue;
        c.staged = undefined;
        c.finished = true;
      }
      // Nothing after the failed commit is acknowledged, even if its own write succeeded.
      if (q.length > 0 && q.every((c) => c.finished)) void this.recoverFromFailure();
      return;
    }
    this.scheduleCommit();
  }

  private apply(c: Commit): void {
    const { batch, firstLsn, bodies, lens } = c;
    const where = c.where!;
    this.lastLsn = firstLsn + batch.length - 1;
    this.commits++;
    this.appendedRecords += batch.length;
    for (let i = 0; i < batch.length; i++) {
      const it = batch[i]!;
      it.svc.insert(firstLsn + i, where.segment, where.pos + bodies[i]!, lens[i]!, it.meta);
    }
    this.settle(batch.length);
    if (this.recordListeners.size > 0) this.tellRecordListeners(batch);
    if (where.segment !== this.lastSegment) {
      // A segment was sealed: older ones may hold only closed connections by now.
      if (this.lastSegment !== 0) void this.reclaim().catch((err: unknown) => this.log.warn({ err: String(err) }, 'log store: reclaim failed'));
      this.lastSegment = where.segment;
    }
  }

  /** Every commit in flight has finished after a failure: cut the disk back, fail the rest, resume. */
  private async recoverFromFailure(): Promise<void> {
    const failed = this.inFlight;
    this.inFlight = [];
    const first = failed[0]!;
    const err = failed.find((c) => c.error)!.error!;
    await this.backend.recover();
    this.nextLsn = first.firstLsn;
    const batch: PendingItem[] = [];
    for (const c of failed) for (const it of c.batch) batch.push(it);
    this.halted = false;
    this.fail(batch, err);
    this.scheduleCommit();
  }

  /** Watches durable records of one kind (e.g. close intents); returns the unsubscribe. */
  /** Called (in-process) once a checkpoint of `service` is stored; returns the unsubscribe. */
  onCheckpoint(listener: (service: string) => void): () => void {
    this.checkpointListeners.add(listener);
    return () => this.checkpointListeners.delete(listener);
  }

  onDurableRecord(kind: Kind, listener: DurableRecordListener): () => void {
    let set = this.recordListeners.get(kind);
    if (!set) this.recordListeners.set(kind, (set = new Set()));
    set.add(listener);
    return () => {
      set.delete(listener);
      if (set.size === 0) this.recordListeners.delete(kind);
    };
  }

  private tellRecordListeners(batch: PendingItem[]): void {
    for (const it of batch) {
      const set = this.recordListeners.get(it.meta.kind);
      if (!set) continue;
      for (const l of set) {
        try {
          l(it.svc.name, it.stream.id, it.meta.connId, it.raw);
        } catch (err) {
          this.log.error({ err: String(err) }, 'log store: a durable-record listener failed');
        }
      }
    }
  }

  /** A failed write: nothing of it (or queued behind it) is acknowledged; writers must resend. */
  private fail(batch: PendingItem[], err: LogError): void {
    this.writeErrors++;
    const rest = this.pending;
    this.pending = [];
    this.pendingBytes = 0;
    this.pendingMayOverlap = false;
    const touched = new Set<StreamState>();
    for (const it of batch) touched.add(it.stream);
    for (const it of rest) touched.add(it.stream);
    for (const st of touched) st.applied = st.durable;
    this.log.error({ err: err.message, records: batch.length + rest.length }, 'log store: append failed');
    this.settle(batch.length + rest.length);
    for (const st of touched) for (const l of st.listeners) l.onFailed(err);
  }

  private settle(n: number): void {
    this.settled += n;
    while (this.settleWaiters.length > 0 && this.settleWaiters[0]!.target <= this.settled) this.settleWaiters.shift()!.resolve();
  }

  /** Resolves once every record queued before the call is durable or failed. */
  flushed(): Promise<void> {
    if (this.settled >= this.enqueued) return Promise.resolve();
    return new Promise((resolve) => this.settleWaiters.push({ target: this.enqueued, resolve }));
  }

  // ------------------------------------------------------------------------------------------
  // Read

  latestCheckpoint(service: string): CheckpointInfo | undefined {
    return this.services.get(service)?.checkpoint;
  }

  /**
   * Live records of a service (or one connection) in lsn order, as batches of encoded
   * StoredRecord payloads. Rows appended after the call starts are not included.
   */
  read(service: string, opts: ReadOptions = {}): AsyncGenerator<Buffer[]> {
    return this.readRows(service, opts, storedToWire);
  }

  /**
   * As read(), but the stored bodies themselves (stored-record.ts layout, views into the read
   * buffer): an in-process reader (the daemon's replay and adoption) skips the StoredRecord
   * encoding only the wire needs.
   */
  readStored(service: string, opts: ReadOptions = {}): AsyncGenerator<Buffer[]> {
    return this.readRows(service, opts, (body) => body);
  }

  private async *readRows(service: string, opts: ReadOptions, convert: (body: Buffer) => Buffer): AsyncGenerator<Buffer[]> {
    const svc = this.services.get(service);
    if (!svc) return;
    const batchBytes = opts.batchBytes ?? 1024 * 1024;
    const from = opts.fromOffset ?? 0;
    let rows: ArrayLike<number>;
    if (opts.connId !== undefined && opts.connId !== '') {
      const c = svc.conns.get(opts.connId);
      if (!c) return;
      rows = c.rows.slice();
    } else {
      const n = svc.rows.size;
      rows = { length: n } as ArrayLike<number>;
    }
    const all = !(opts.connId !== undefined && opts.connId !== '');
    const r = svc.rows;
    this.activeReads++;
    try {
      let out: Buffer[] = [];
      let outBytes = 0;
      // Rows close together on disk are fetched with one read (a filtered read skips rows between).
      const picks: number[] = [];
      let runSeg = -1;
      let runStart = 0;
      let runEnd = 0;
      const flushRun = async (): Promise<void> => {
        if (runSeg < 0) return;
        const buf = await this.backend.read(runSeg, runStart, runEnd - runStart);
        if (validPrefix(buf, 0) !== buf.length) {
          throw new LogError('DATA_LOSS', `segment ${runSeg}: stored record failed its CRC check at read`);
        }
        // Only the picked frames: a run may span rows the read skips (other kinds, dead rows).
        for (let j = 0; j < picks.length; j += 2) {
          for (const [, p] of framesOf(buf, picks[j]! - runStart, picks[j + 1]! - runStart)) {
            const w = convert(p);
            out.push(w);
            outBytes += w.length;
          }
        }
        picks.length = 0;
        runSeg = -1;
      };
      const coalesce = this.backend.kind === 'fsync';
      for (let k = 0; k < rows.length; k++) {
        const i = all ? k : rows[k]!;
        if (!svc.rowLive(i)) continue;
        if (opts.kinds && !opts.kinds.has(r.kind[i]!)) continue;
        if (from > 0 && isClientStream(r.kind[i]!) && r.end[i]! <= from) continue;
        const seg = r.segment[i]!;
        const start = r.pos[i]! - FRAME_HEADER;
        const end = r.pos[i]! + r.len[i]!;
        if (coalesce && seg === runSeg && start >= runEnd && start - runEnd <= READ_GAP_BYTES && end - runStart <= 4 * 1024 * 1024) {
          runEnd = end;
          picks.push(start, end);
          continue;
        }
        await flushRun();
        runSeg = seg;
        runStart = start;
        runEnd = end;
        picks.push(start, end);
        if (outBytes >= batchBytes) {
          yield out;
          out = [];
          outBytes = 0;
        }
      }
      await flushRun();
      if (out.length > 0) yield out;
    } finally {
      this.activeReads--;
    }
  }

  // ------------------------------------------------------------------------------------------
  // Checkpoint and reclamation

  async checkpoint(service: string, epoch: number, state: Uint8Array, positions: ConnPosition[]): Promise<{ lsn: number; reclaimedSegments: number }> {
    if (this.closed) throw new LogError('UNAVAILABLE', 'log store is shutting down');
    if (this.readOnlyReason !== undefined) throw new LogError('FAILED_PRECONDITION', this.readOnlyReason);
    const svc = this.service(service);
    if (epoch < svc.epoch) {
      throw new LogError('FAILED_PRECONDITION', `service ${service}: epoch ${epoch} is older than the current epoch ${svc.epoch} (fenced)`);
    }
    svc.epoch = epoch;
    const seen = new Set<string>();
    for (const p of positions) {
      if (p.connId === '') throw new LogError('INVALID_ARGUMENT', 'checkpoint position without conn_id');
      if (seen.has(p.connId)) throw new LogError('INVALID_ARGUMENT', `checkpoint lists conn ${p.connId} twice`);
      seen.add(p.connId);
    }
    await this.flushed();
    const info: CheckpointInfo = { service, epoch, lsn: this.lastLsn, state, positions, createdUnixMs: Date.now() };
    if (this.dataDir || this.checkpointPublisher) {
      const file = CheckpointFile.encode({ info, streams: this.streamMarks(svc) }).finish();
      if (this.checkpointPublisher) await this.checkpointPublisher(file, info);
      if (this.dataDir) await this.writeFramedFile(join(this.dataDir, 'checkpoints', serviceFileName(service)), [file]);
    }
    svc.setCheckpoint(info);
    for (const l of this.checkpointListeners) l(service);
    const reclaimedSegments = await this.reclaim();
    return { lsn: info.lsn, reclaimedSegments };
  }

  /**
   * Makes the store refuse appends and checkpoints (FAILED_PRECONDITION with `reason`) while it
   * mirrors another one through ingest; undefined makes it writable again.
   */
  setReadOnly(reason: string | undefined): void {
    this.readOnlyReason = reason;
  }

  /** Installs (or removes, with undefined) the checkpoint publisher; see CheckpointPublisher. */
  setCheckpointPublisher(p: CheckpointPublisher | undefined): void {
    this.checkpointPublisher = p;
  }

  // ------------------------------------------------------------------------------------------
  // Ingest (a follower's store fed from a replicated log: same lsns, epochs, stream seqs)

  /**
   * Stores frames exactly as another store wrote them (whole frames, CRCs intact) and indexes
   * them under their original lsn, epoch, stream id and seq. Frames at or below the last ingested
   * lsn are skipped (already held). Not for a store taking appends at the same time. Returns how many
   * records were added.
   */
  ingestFrames(buf: Buffer): Promise<number> {
    const run = this.ingestChain.then(() => this.ingestFramesNow(buf));
    this.ingestChain = run.catch(() => undefined);
    return run;
  }

  private async ingestFramesNow(buf: Buffer): Promise<number> {
    if (this.closed) throw new LogError('UNAVAILABLE', 'log store is shutting down');
    // Appends made before the store became read-only settle first (ingest owns the lsns).
    if (this.pending.length > 0 || this.inFlight.length > 0) await this.flushed();
    if (this.pending.length > 0 || this.inFlight.length > 0) {
      throw new LogError('FAILED_PRECONDITION', 'log store: cannot ingest replicated frames while appends are in flight');
    }
    if (validPrefix(buf, 0) !== buf.length) throw new LogError('DATA_LOSS', 'replicated record batch failed its CRC check');
    const items: { off: number; len: number; stored: DecodedStored; meta: RecordMeta | undefined }[] = [];
    let start = -1;
    let prevLsn = this.ingestedLsn;
    for (const [off, payload] of framesOf(buf, 0, buf.length)) {
      const stored = decodeStored(payload);
      if (stored.lsn <= this.ingestedLsn) continue;
      if (stored.lsn <= prevLsn) throw new LogError('DATA_LOSS', `replicated record batch: lsn ${stored.lsn} after ${prevLsn}`);
      prevLsn = stored.lsn;
      if (start < 0) start = off;
      let meta: RecordMeta | undefined;
      try {
        meta = recordMeta(Record.decode(stored.record));
      } catch (err) {
        this.log.warn({ lsn: stored.lsn, err: String(err) }, 'log store: skipped an undecodable replicated record');
      }
      items.push({ off, len: payload.length, stored, meta });
    }
    if (start < 0) return 0;
    const where = await this.backend.write(start === 0 ? buf : buf.subarray(start));
    let n = 0;
    for (const it of items) {
      const { stored, meta } = it;
      if (meta) {
        const svc = this.service(stored.service);
        svc.insert(stored.lsn, where.segment, where.pos + (it.off - start) + FRAME_HEADER, it.len, meta);
        if (stored.epoch > svc.epoch) svc.epoch = stored.epoch;
        const st = svc.stream(stored.streamId);
        if (stored.seq > st.applied) st.applied = st.durable = stored.seq;
        n++;
      }
      this.ingestedLsn = stored.lsn;
      // A checkpoint taken first (a late start) may already stand above these frames' lsns.
      if (stored.lsn > this.lastLsn) this.lastLsn = stored.lsn;
    }
    this.nextLsn = this.lastLsn + 1;
    this.commits++;
    this.appendedRecords += n;
    if (where.segment !== this.lastSegment) {
      if (this.lastSegment !== 0) void this.reclaim().catch((err: unknown) => this.log.warn({ err: String(err) }, 'log store: reclaim failed'));
      this.lastSegment = where.segment;
    }
    return n;
  }

  /** Takes another store's checkpoint (same lsn, positions, state and stream marks) as its own. */
  ingestCheckpoint(file: CheckpointFile): Promise<void> {
    const run = this.ingestChain.then(async () => {
      const info = file.info;
      if (!info) throw new LogError('DATA_LOSS', 'replicated checkpoint without info');
      if (this.dataDir) {
        const enc = CheckpointFile.encode(file).finish();
        await this.writeFramedFile(join(this.dataDir, 'checkpoints', serviceFileName(info.service)), [enc]);
      }
      const svc = this.service(info.service);
      svc.setCheckpoint(info);
      if (info.epoch > svc.epoch) svc.epoch = info.epoch;
      for (const m of file.streams) {
        const st = svc.stream(m.streamId);
        if (m.seq > st.applied) st.applied = st.durable = m.seq;
      }
      if (info.lsn > this.lastLsn) this.lastLsn = info.lsn;
      this.nextLsn = this.lastLsn + 1;
      for (const l of this.checkpointListeners) l(info.service);
      await this.reclaim();
    });
    this.ingestChain = run.catch(() => undefined);
    return run;
  }

  /** Raises a service's epoch (a new primary's marker): appends of an older epoch are refused. */
  raiseEpoch(service: string, epoch: number): void {
    const svc = this.service(service);
    if (epoch > svc.epoch) svc.epoch = epoch;
  }

  /** Resolves once every ingest started before the call has finished. */
  ingested(): Promise<void> {
    return this.ingestChain.then(() => undefined);
  }

  private streamMarks(svc: ServiceIndex): { streamId: string; seq: number }[] {
    return [...svc.streams.values()].filter((s) => s.durable > 0).map((s) => ({ streamId: s.id, seq: s.durable }));
  }

  /** Deletes the longest prefix of segments holding no live record, then compacts the index. */
  async reclaim(): Promise<number> {
    if (this.activeReads > 0 || this.closed) return 0;
    if (this.reclaiming) {
      // One more run after the one in flight (which may have judged liveness too early).
      this.reclaimAgain ??= this.reclaimRun!.catch(() => 0).then(() => {
        this.reclaimAgain = undefined;
        return this.reclaim();
      });
      return this.reclaimAgain;
    }
    this.reclaiming = true;
    this.reclaimRun = this.reclaimPrefix().finally(() => {
      this.reclaiming = false;
      this.reclaimRun = undefined;
    });
    return this.reclaimRun;
  }

  private async reclaimPrefix(): Promise<number> {
    const active = this.backend.activeSegment();
    let firstLive = active;
    for (const svc of this.services.values()) {
      const r = svc.rows;
      for (let i = 0; i < r.size; i++) {
        const seg = r.segment[i]!;
        if (seg >= firstLive) continue;
        if (svc.rowLive(i)) firstLive = seg;
      }
    }
    if (this.backend.segmentCount() <= 1) return 0;
    if (this.dataDir) {
      const payloads = [...this.services.values()].map((svc) =>
        CheckpointFile.encode({
          info: { service: svc.name, epoch: svc.epoch, lsn: this.lastLsn, state: Buffer.alloc(0), positions: [], createdUnixMs: Date.now() },
          streams: this.streamMarks(svc),
        }).finish(),
      );
      await this.writeFramedFile(join(this.dataDir, META_FILE), payloads);
    }
    const n = await this.backend.reclaimBelow(firstLive);
    if (n === 0) return 0;
    for (const svc of this.services.values()) {
      const map = svc.rows.compact((i) => svc.rows.segment[i]! >= firstLive);
      for (const c of svc.conns.values()) {
        c.rows = c.rows.map((i) => map[i]!).filter((i) => i >= 0);
        if (c.rows.length === 0) {
          svc.conns.delete(c.id);
          svc.connBySlot[c.slot] = undefined;
        }
      }
    }
    this.log.info({ segments: n, below: firstLive }, 'log store: reclaimed segments');
    return n;
  }

  // ------------------------------------------------------------------------------------------

  stats(service?: string): StoreStats {
    let records = 0;
    let recordBytes = 0;
    let connections = 0;
    let services = 0;
    for (const svc of this.services.values()) {
      if (service && svc.name !== service) continue;
      services++;
      for (let i = 0; i < svc.rows.size; i++) {
        if (!svc.rowLive(i)) continue;
        records++;
        recordBytes += svc.rows.len[i]! + FRAME_HEADER;
      }
      for (const c of svc.conns.values()) if (!c.closed) connections++;
    }
    return {
      records,
      recordBytes,
      connections,
      diskBytes: this.backend.diskBytes(),
      segments: this.backend.segmentCount(),
      services,
      lastLsn: this.lastLsn,
      durability: this.durability,
      appendedRecords: this.appendedRecords,
      commits: this.commits,
      tornTailsCut: this.tornTailsCut,
      writeErrors: this.writeErrors,
    };
  }

  /** Finishes the group commit in flight (and anything queued), then closes the files. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    if (this.gatherTimer) {
      clearTimeout(this.gatherTimer);
      this.gatherTimer = undefined;
      this.scheduleCommit();
    }
    await this.flushed();
    await this.reclaimAgain?.catch(() => 0);
    await this.reclaimRun?.catch(() => 0);
    await this.backend.close();
    await this.unlock?.();
  }
}
