// LogClient: what the wrappers use to log. `append` numbers and queues a record synchronously;
// batches go out on the next tick (or once a batch is full) on one Append stream; the server's
// durable watermark resolves `waitDurable` and fires 'durable'. Unacknowledged records are kept and
// resent after a reconnect (the server drops the duplicates by per-stream sequence).
import { EventEmitter } from 'node:events';
import { randomUUID } from 'node:crypto';
import * as grpc from '@grpc/grpc-js';
import { BinaryWriter } from '@bufbuild/protobuf/wire';
import { grpcAppendSink, localAppendSink, localStore, type AppendSink, type AppendSinkHandlers, type SinkError } from './append-sink.js';
import { framedAppendSink, framedPath } from './framed-append.js';
import { existsSync } from 'node:fs';
import {
  CheckpointRequest,
  CheckpointResponse,
  LogService,
  ReadRequest,
  ReadResponse,
  Record,
  StatsRequest,
  StatsResponse,
  StoredRecord,
  type CheckpointInfo,
  type ConnPosition,
} from './gen/ftcp/v1/log.js';
import { FLOW_WINDOW, MAX_MESSAGE_BYTES } from './limits.js';
import { checkRecordSize, recordMeta, type RecordMeta } from './record-meta.js';
import { encodeRecord } from './record-encode.js';

export interface LogClientTls {
  /** CA that signed the server certificate (default: system roots). */
  ca?: Buffer;
  /** Client certificate and key, for servers started with --tls-ca (mutual TLS). */
  cert?: Buffer;
  key?: Buffer;
  /** Name to verify the server certificate against, when the target is an IP address. */
  serverName?: string;
}

export interface LogClientOptions {
  /** `unix:/path/to/sock` or `host:port`. */
  target: string;
  service: string;
  epoch?: number;
  /** Identifies this writer for deduplication; default a random UUID. */
  streamId?: string;
  token?: string;
  tls?: LogClientTls;
  /** A batch is sent once this many record bytes are queued (default 1 MiB). */
  maxBatchBytes?: number;
  /** Delay before a partial batch goes out; 0 (default) = next turn of the event loop. */
  maxBatchDelayMs?: number;
  /** `writable` turns false above this many unacknowledged bytes, 'drain' at half (default 32 MiB). */
  highWaterBytes?: number;
  reconnectMinMs?: number;
  reconnectMaxMs?: number;
  /**
   * When a log server embedded in this process listens on `target`, append straight into its
   * store instead of over gRPC (default true). Read/Checkpoint/Stats always use gRPC.
   */
  inProcess?: boolean;
  /**
   * With a `unix:` target whose server offers the framed Append transport (`<socket>.append`,
   * framed-append.ts), append over it instead of gRPC: a round trip ~5× shorter (default true;
   * FTCP_LOG_FRAMED=0 turns it off).
   */
  framed?: boolean;
}

export type ReadItem =
  | { type: 'checkpoint'; checkpoint: CheckpointInfo }
  | { type: 'record'; lsn: number; epoch: number; streamId: string; seq: number; record: Record };

export interface ReadQuery {
  /** Default: the client's own service. */
  service?: string;
  connId?: string;
  fromOffset?: number;
  skipCheckpoint?: boolean;
  /** Only records of these kinds (Record.kind field numbers); default all. */
  kinds?: number[];
}

/** gRPC codes after which resending cannot help: the client stops and fails its waiters. */
const FATAL = new Set<number>([
  grpc.status.INVALID_ARGUMENT,
  grpc.status.FAILED_PRECONDITION,
  grpc.status.UNAUTHENTICATED,
  grpc.status.PERMISSION_DENIED,
  grpc.status.UNIMPLEMENTED,
  grpc.status.OUT_OF_RANGE,
]);

interface Waiter {
  seq: number;
  resolve: () => void;
  reject: (err: Error) => void;
}

const P = LogService;

export class LogClient extends EventEmitter {
  readonly service: string;
  readonly streamId: string;
  epoch: number;
  private readonly grpcClient: grpc.Client;
  private readonly metadata: grpc.Metadata;
  private readonly maxBatchBytes: number;
  private readonly maxBatchDelayMs: number;
  private readonly highWater: number;
  private readonly reconnectMin: number;
  private readonly reconnectMax: number;

  /** Unacknowledged encoded records; recs[qHead] has seq durable + 1. */
  private recs: (Buffer | undefined)[] = [];
  /** Index metadata of recs[i] when appended as an object (spares the in-process sink a decode). */
  private metas: (RecordMeta | undefined)[] = [];
  private qHead = 0;
  private durable = 0;
  private last = 0;
  private sent = 0;
  private unackedBytes = 0;
  private unsentBytes = 0;
  private waiters: Waiter[] = [];
  private isWritable = true;
  private call: AppendSink | undefined;
  private readonly target: string;
  private readonly inProcess: boolean;
  private flushTimer: NodeJS.Immediate | NodeJS.Timeout | undefined;
  private microFlush = false;
  private readonly writer = new BinaryWriter();
  private reconnectTimer: NodeJS.Timeout | undefined;
  private backoff: number;
  private failure: Error | undefined;
  private closing = false;
  private readonly token: string | undefined;
  /** The framed Append transport's socket, when the target is a unix socket (framed-append.ts). */
  private readonly framedPath: string | undefined;

  constructor(opts: LogClientOptions) {
    super();
    this.service = opts.service;
    this.epoch = opts.epoch ?? 0;
    this.streamId = opts.streamId ?? randomUUID();
    this.maxBatchBytes = opts.maxBatchBytes ?? 1024 * 1024;
    this.maxBatchDelayMs = opts.maxBatchDelayMs ?? 0;
    this.highWater = opts.highWaterBytes ?? 32 * 1024 * 1024;
    this.reconnectMin = opts.reconnectMinMs ?? 50;
    this.reconnectMax = opts.reconnectMaxMs ?? 2000;
    this.backoff = this.reconnectMin;
    this.target = opts.target;
    this.inProcess = opts.inProcess ?? true;
    this.token = opts.token;
    this.framedPath = (opts.framed ?? process.env.FTCP_LOG_FRAMED !== '0') && opts.target.startsWith('unix:') ? framedPath(opts.target.slice(5)) : undefined;
    const channelOpts: grpc.ChannelOptions = {
      'grpc.max_receive_message_length': MAX_MESSAGE_BYTES,
      'grpc.max_send_message_length': MAX_MESSAGE_BYTES,
      'grpc-node.flow_control_window': FLOW_WINDOW,
    };
    let creds = grpc.credentials.createInsecure();
    if (opts.tls) {
      creds = grpc.credentials.createSsl(opts.tls.ca ?? null, opts.tls.key ?? null, opts.tls.cert ?? null);
      if (opts.tls.serverName) channelOpts['grpc.ssl_target_name_override'] = opts.tls.serverName;
    }
    this.grpcClient = new grpc.Client(opts.target, creds, channelOpts);
    this.metadata = new grpc.Metadata();
    if (opts.token !== undefined) this.metadata.set('authorization', `Bearer ${opts.token}`);
  }

  /** Highest seq known durable: every record appended with seq <= this is durable. */
  get durableSeq(): number {
    return this.durable;
  }

  /** Seq of the last appended record (0 before the first). */
  get lastSeq(): number {
    return this.last;
  }

  /** False while unacknowledged bytes are above the high-water mark; 'drain' fires when it clears. */
  get writable(): boolean {
    return this.isWritable;
  }

  get unacknowledgedBytes(): number {
    return this.unackedBytes;
  }

  /**
   * Queues a record; returns its seq at once. Throws LogError(INVALID_ARGUMENT) for a malformed
   * record (nothing is queued), and the fatal error after the client failed (see 'failed').
   */
  append(record: Record): number {
    const meta = recordMeta(record);
    // One writer reused for every record: a fresh one allocates and zero-fills a buffer each time.
    const bytes = encodeRecord(record, this.writer);
    checkRecordSize(bytes.length);
    return this.enqueue(bytes, meta);
  }

  /** As `append`, for a record the caller has already encoded as ftcp.v1.Record. */
  appendEncoded(bytes: Buffer, meta?: RecordMeta): number {
    if (meta) checkRecordSize(bytes.length);
    return this.enqueue(bytes, meta);
  }

  private enqueue(bytes: Buffer, meta: RecordMeta | undefined): number {
    if (this.failure) throw this.failure;
    if (this.closing) throw new Error('LogClient is closed');
    this.recs.push(bytes);
    this.metas.push(meta);
    this.unackedBytes += bytes.length;
    this.unsentBytes += bytes.length;
    this.last++;
    if (this.isWritable && this.unackedBytes > this.highWater) this.isWritable = false;
    if (this.unsentBytes >= this.maxBatchBytes) this.flush();
    else this.scheduleFlush();
    return this.last;
  }

  /** Resolves once every record up to `seq` (default: the last appended) is durable. */
  waitDurable(seq = this.last): Promise<void> {
    if (seq <= this.durable) return Promise.resolve();
    if (this.failure) return Promise.reject(this.failure);
    if (seq > this.last) return Promise.reject(new RangeError(`waitDurable(${seq}): only ${this.last} records appended`));
    return new Promise((resolve, reject) => {
      const w = { seq, resolve, reject };
      const ws = this.waiters;
      if (ws.length === 0 || ws[ws.length - 1]!.seq <= seq) ws.push(w);
      else {
        let i = ws.length;
        while (i > 0 && ws[i - 1]!.seq > seq) i--;
        ws.splice(i, 0, w);
      }
    });
  }

  private scheduleFlush(): void {
    if (this.flushTimer !== undefined || this.microFlush) return;
    if (this.maxBatchDelayMs > 0) {
      this.flushTimer = setTimeout(() => this.flush(), this.maxBatchDelayMs);
    } else if (this.sent <= this.durable) {
      // Nothing in flight: latency matters more than batching; send once the current
      // synchronous run of appends is over.
      this.microFlush = true;
      queueMicrotask(() => {
        this.microFlush = false;
        this.flush();
      });
    } else {
      // Batches in flight: gather what the rest of this event-loop turn appends.
      this.flushTimer = setImmediate(() => this.flush());
    }
  }

  private clearFlushTimer(): void {
    if (this.flushTimer === undefined) return;
    clearTimeout(this.flushTimer as NodeJS.Timeout);
    clearImmediate(this.flushTimer as NodeJS.Immediate);
    this.flushTimer = undefined;
  }

  /** Sends every queued, not yet sent record now. */
  flush(): void {
    this.clearFlushTimer();
    if (this.failure || this.reconnectTimer !== undefined) return;
    if (this.sent >= this.last) return;
    const call = this.call ?? this.openCall();
    let seq = Math.max(this.sent, this.durable) + 1;
    while (seq <= this.last) {
      const first = seq;
      const batch: Buffer[] = [];
      const metas: (RecordMeta | undefined)[] = [];
      let bytes = 0;
      for (;;) {
        const k = this.qHead + seq - this.durable - 1;
        const r = this.recs[k]!;
        if (batch.length > 0 && bytes + r.length > this.maxBatchBytes) break;
        batch.push(r);
        metas.push(this.metas[k]);
        bytes += r.length;
        seq++;
        if (seq > this.last) break;
      }
      call.write(first, batch, metas);
    }
    this.sent = this.last;
    this.unsentBytes = 0;
  }

  private openCall(): AppendSink {
    const t = { service: this.service, epoch: this.epoch, streamId: this.streamId };
    const store = this.inProcess ? localStore(this.target) : undefined;
    let sink: AppendSink | undefined;
    const handlers: AppendSinkHandlers = {
      onAck: (d) => this.onAck(d),
      onEnd: (err) => this.onCallEnd(sink!, err),
    };
    if (store) sink = localAppendSink(store, t, handlers);
    else if (this.framedPath !== undefined && existsSync(this.framedPath)) sink = framedAppendSink(this.framedPath, this.token, t, handlers);
    else sink = grpcAppendSink(this.grpcClient, this.metadata, t, handlers);
    this.call = sink;
    return sink;
  }

  /** True when appends go straight into a store embedded in this process. */
  get inProcessTarget(): boolean {
    return this.inProcess && localStore(this.target) !== undefined;
  }

  private onAck(d: number): void {
    if (d <= this.durable) return;
    if (d > this.sent) d = this.sent; // never trust a watermark above what this client sent
    this.backoff = this.reconnectMin;
    while (this.durable < d) {
      const r = this.recs[this.qHead]!;
      this.unackedBytes -= r.length;
      this.metas[this.qHead] = undefined;
      this.recs[this.qHead++] = undefined;
      this.durable++;
    }
    if (this.qHead > 4096 && this.qHead * 2 > this.recs.length) {
      this.recs = this.recs.slice(this.qHead);
      this.metas = this.metas.slice(this.qHead);
      this.qHead = 0;
    }
    const ws = this.waiters;
    if (ws.length > 0 && ws[0]!.seq <= d) {
      let i = 0;
      while (i < ws.length && ws[i]!.seq <= d) ws[i++]!.resolve();
      this.waiters = ws.slice(i);
    }
    this.emit('durable', d);
    if (!this.isWritable && this.unackedBytes <= this.highWater / 2) {
      this.isWritable = true;
      this.emit('drain');
    }
  }

  private onCallEnd(call: AppendSink, err: SinkError | undefined): void {
    if (this.call !== call) return;
    this.call = undefined;
    if (this.closing && this.durable >= this.last) return;
    if (err && FATAL.has(err.code)) {
      this.failure = err;
      this.clearFlushTimer();
      for (const w of this.waiters) w.reject(err);
      this.waiters = [];
      this.emit('failed', err);
      return;
    }
    // Transient: the stream is gone; resend everything not acknowledged on a new one.
    this.sent = this.durable;
    this.unsentBytes = this.unackedBytes;
    this.emit('disconnect', err ?? new Error('append stream ended'));
    if (this.reconnectTimer !== undefined) return;
    const delay = this.backoff;
    this.backoff = Math.min(this.backoff * 2, this.reconnectMax);
    this.reconnectTimer = setTimeout(() => {
      this.reconnectTimer = undefined;
      if (this.failure) return;
      if (this.last > this.durable) this.flush();
    }, delay);
  }

  /** The failure that stopped the client, if any. */
  get failed(): Error | undefined {
    return this.failure;
  }

  /** Live records for recovery: the latest checkpoint first (unless skipped), then records in lsn order. */
  async *read(q: ReadQuery = {}): AsyncGenerator<ReadItem> {
    const req: ReadRequest = {
      service: q.service ?? this.service,
      connId: q.connId ?? '',
      fromOffset: q.fromOffset ?? 0,
      skipCheckpoint: q.skipCheckpoint ?? false,
      kinds: q.kinds ?? [],
    };
    const call = this.grpcClient.makeServerStreamRequest<ReadRequest, ReadResponse>(
      P.read.path,
      P.read.requestSerialize,
      P.read.responseDeserialize,
      req,
      this.metadata,
      {},
    );
    try {
      for await (const resp of call as AsyncIterable<ReadResponse>) {
        if (resp.checkpoint) yield { type: 'checkpoint', checkpoint: resp.checkpoint };
        for (const b of resp.records) {
          const s = StoredRecord.decode(b);
          yield { type: 'record', lsn: s.lsn, epoch: s.epoch, streamId: s.streamId, seq: s.seq, record: Record.decode(s.record) };
        }
      }
    } finally {
      call.cancel();
    }
  }

  /**
   * Stores `state` with the connections' positions once everything appended so far is durable;
   * the server then drops records below those positions.
   */
  async checkpoint(state: Uint8Array, positions: ConnPosition[]): Promise<CheckpointResponse> {
    await this.waitDurable();
    const req: CheckpointRequest = {
      service: { name: this.service, epoch: this.epoch },
      state: Buffer.from(state.buffer, state.byteOffset, state.byteLength),
      positions,
    };
    return this.unary(P.checkpoint.path, P.checkpoint.requestSerialize, P.checkpoint.responseDeserialize, req);
  }

  stats(service = ''): Promise<StatsResponse> {
    return this.unary(P.stats.path, P.stats.requestSerialize, P.stats.responseDeserialize, { service } satisfies StatsRequest);
  }

  private unary<Q, R>(path: string, ser: (q: Q) => Buffer, de: (b: Buffer) => R, req: Q): Promise<R> {
    return new Promise((resolve, reject) =>
      this.grpcClient.makeUnaryRequest(path, ser, de, req, this.metadata, {}, (err, res) => (err || res === undefined ? reject(err) : resolve(res))),
    );
  }

  /**
   * Waits (up to `timeoutMs`) until everything appended is durable, then closes the stream and
   * the channel. Records still unacknowledged after the timeout are abandoned.
   */
  async close(timeoutMs = 10_000): Promise<void> {
    if (this.closing) return;
    if (!this.failure && this.last > this.durable) {
      this.flush();
      let t: NodeJS.Timeout | undefined;
      await Promise.race([
        this.waitDurable().catch(() => {}),
        new Promise<void>((resolve) => (t = setTimeout(resolve, timeoutMs))),
      ]);
      clearTimeout(t);
    }
    this.closing = true;
    this.clearFlushTimer();
    if (this.reconnectTimer !== undefined) clearTimeout(this.reconnectTimer);
    this.reconnectTimer = undefined;
    this.call?.end();
    this.call?.cancel();
    this.call = undefined;
    this.grpcClient.close();
  }
}

export type { ConnPosition, CheckpointInfo, Record };
