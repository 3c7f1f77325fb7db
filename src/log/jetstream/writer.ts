// A log writer on NATS JetStream with the append side of LogClient: `append` numbers and queues a
// record synchronously; records are published pipelined (up to `maxInFlight`) with
// Nats-Msg-Id = streamId:seq; a record is durable once JetStream's publish ack arrives, which on
// a replicated stream means stored on a quorum of its replicas. After any failed publish the
// writer waits for the ones in flight, backs off, and resends every unacknowledged record in
// order; the stream's duplicate window drops the ones it already stored.
import { EventEmitter } from 'node:events';
import { randomUUID } from 'node:crypto';
import { BinaryWriter } from '@bufbuild/protobuf/wire';
import { connect, headers, type NatsConnection } from '@nats-io/transport-node';
import { jetstream, jetstreamManager, type JetStreamClient, type JetStreamManager, type PubAck } from '@nats-io/jetstream';
import type { Record } from '../gen/ftcp/v1/log.js';
import type { ReadItem } from '../client.js';
import { LogError } from '../errors.js';
import { checkRecordSize, decodeRecord, recordMeta, type RecordMeta } from '../record-meta.js';
import { encodeRecord } from '../record-encode.js';
import { DurableWindow } from './durable-window.js';
import { ensureLogStream } from './stream-setup.js';
import { EPOCH_HEADER, msgId, recordSubject, streamName } from './subjects.js';
import { readJetStreamLog, type JetStreamReadQuery } from './reader.js';

export interface JetStreamLogOptions {
  /** NATS servers, `host:port` or `nats://host:port`; the client fails over among them. */
  servers: string[];
  service: string;
  epoch?: number;
  /** Identifies this writer for deduplication; default a random UUID. */
  streamId?: string;
  /** Replicas of the stream when this writer creates it (default 3). */
  replicas?: number;
  /** A publish not acknowledged within this time is resent (default 2000 ms). */
  publishTimeoutMs?: number;
  /**
   * Publishes awaiting their ack at once (default 1). More than one can store records out of the
   * writer's order when the stream leader changes (an earlier publish lost, a later one kept, the
   * earlier resent): seen in 1 of 5 CI runs. Until the reader restores each writer's order
   * (docs/FAILOVER.md, next steps) the default keeps order at the cost of throughput.
   */
  maxInFlight?: number;
  retryMinMs?: number;
  retryMaxMs?: number;
}

interface Waiter {
  seq: number;
  resolve: () => void;
  reject: (err: Error) => void;
}

interface Pending {
  subject: string;
  bytes: Uint8Array;
}

export class JetStreamLogWriter extends EventEmitter {
  readonly service: string;
  readonly streamId: string;
  readonly stream: string;
  epoch: number;
  /** Publishes that failed and were retried (timeouts, no responders, lost connection). */
  retriedPublishes = 0;
  private readonly window = new DurableWindow();
  private readonly pending = new Map<number, Pending>();
  private waiters: Waiter[] = [];
  private last = 0;
  private nextToSend = 1;
  private inFlight = 0;
  private retrying = false;
  private retryDelay: number;
  private retryTimer: NodeJS.Timeout | undefined;
  private pumpScheduled = false;
  private closed = false;
  private readonly writer = new BinaryWriter();
  private readonly maxPayload: number;

  private constructor(
    private readonly nc: NatsConnection,
    private readonly js: JetStreamClient,
    private readonly jsm: JetStreamManager,
    opts: JetStreamLogOptions,
    private readonly publishTimeoutMs: number,
    private readonly maxInFlight: number,
    private readonly retryMinMs: number,
    private readonly retryMaxMs: number,
  ) {
    super();
    this.service = opts.service;
    this.stream = streamName(opts.service);
    this.streamId = opts.streamId ?? randomUUID();
    this.epoch = opts.epoch ?? 0;
    this.retryDelay = retryMinMs;
    this.maxPayload = nc.info?.max_payload ?? 1024 * 1024;
  }

  /** Connects, and creates the service's stream if it does not exist yet. */
  static async open(opts: JetStreamLogOptions): Promise<JetStreamLogWriter> {
    const stream = streamName(opts.service); // validates the service name before connecting
    if (opts.servers.length === 0) throw new LogError('INVALID_ARGUMENT', 'no NATS server given');
    const nc = await connect({ servers: opts.servers, maxReconnectAttempts: -1, reconnectTimeWait: 100, name: `ftcp ${stream}` });
    try {
      const jsm = await jetstreamManager(nc);
      await ensureLogStream(jsm, opts.service, opts.replicas ?? 3);
      return new JetStreamLogWriter(nc, jetstream(nc), jsm, opts, opts.publishTimeoutMs ?? 2000,
        opts.maxInFlight ?? 1, opts.retryMinMs ?? 50, opts.retryMaxMs ?? 1000);
    } catch (err) {
      await nc.close();
      throw err;
    }
  }

  get durableSeq(): number {
    return this.window.durableSeq;
  }

  get lastSeq(): number {
    return this.last;
  }

  /** Validates, encodes and queues a record; returns its sequence number. */
  append(record: Record): number {
    const meta = recordMeta(record);
    return this.appendEncoded(encodeRecord(record, this.writer), meta);
  }

  /** Queues a record already encoded as ftcp.v1.Record (validated here when `meta` is not given). */
  appendEncoded(bytes: Uint8Array, meta?: RecordMeta): number {
    if (this.closed) throw new LogError('FAILED_PRECONDITION', 'log writer is closed');
    checkRecordSize(bytes.length);
    if (bytes.length > this.maxPayload) {
      throw new LogError('INVALID_ARGUMENT', `record of ${bytes.length} bytes is above the NATS server's max_payload (${this.maxPayload})`);
    }
    const connId = meta?.connId ?? decodeRecord(bytes).meta.connId;
    const seq = ++this.last;
    this.pending.set(seq, { subject: recordSubject(this.service, connId), bytes });
    this.schedulePump();
    return seq;
  }

  /** Resolves once every record up to `seq` is acknowledged by JetStream. */
  waitDurable(seq = this.last): Promise<void> {
    if (seq <= this.window.durableSeq) return Promise.resolve();
    if (this.closed) return Promise.reject(new LogError('UNAVAILABLE', 'log writer is closed'));
    return new Promise((resolve, reject) => this.waiters.push({ seq, resolve, reject }));
  }

  /** Records of the service's log, oldest first (see readJetStreamLog). */
  read(q: JetStreamReadQuery = {}): AsyncGenerator<ReadItem & { type: 'record' }> {
    return readJetStreamLog(this.js, this.jsm, this.service, q);
  }

  /** Waits (up to `timeoutMs`) for the queued records, then closes the connection. */
  async close(timeoutMs = 5000): Promise<void> {
    if (this.closed) return;
    if (this.window.durableSeq < this.last) {
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([
        this.waitDurable().catch(() => undefined),
        new Promise<void>((r) => (timer = setTimeout(r, timeoutMs))),
      ]);
      clearTimeout(timer);
    }
    this.closed = true;
    clearTimeout(this.retryTimer);
    const err = new LogError('UNAVAILABLE', 'log writer closed before these records were acknowledged');
    for (const w of this.waiters) w.reject(err);
    this.waiters = [];
    await this.nc.close();
  }

  private schedulePump(): void {
    if (this.pumpScheduled) return;
    this.pumpScheduled = true;
    queueMicrotask(() => {
      this.pumpScheduled = false;
      this.pump();
    });
  }

  private pump(): void {
    if (this.retrying || this.closed) return;
    while (this.inFlight < this.maxInFlight && this.nextToSend <= this.last) {
      const seq = this.nextToSend++;
      if (!this.window.isAcked(seq)) this.publish(seq);
    }
  }

  private publish(seq: number): void {
    const p = this.pending.get(seq)!;
    const h = headers();
    h.set(EPOCH_HEADER, String(this.epoch));
    this.inFlight++;
    this.js
      .publish(p.subject, p.bytes, {
        msgID: msgId(this.streamId, seq),
        expect: { streamName: this.stream },
        timeout: this.publishTimeoutMs,
        headers: h,
      })
      .then(
        (ack) => this.onAck(seq, ack),
        (err: unknown) => this.onPublishError(err),
      );
  }

  private onAck(seq: number, _ack: PubAck): void {
    this.inFlight--;
    this.pending.delete(seq);
    this.retryDelay = this.retryMinMs;
    if (this.window.ack(seq)) {
      const durable = this.window.durableSeq;
      if (this.waiters.length > 0) {
        const still: Waiter[] = [];
        for (const w of this.waiters) (w.seq <= durable ? w.resolve() : still.push(w));
        this.waiters = still;
      }
      this.emit('durable', durable);
    }
    if (this.retrying) this.maybeResend();
    else this.pump();
  }

  private onPublishError(err: unknown): void {
    this.inFlight--;
    this.retriedPublishes++;
    if (this.closed) return;
    if (!this.retrying) {
      this.retrying = true;
      this.emit('disconnect', err instanceof Error ? err : new Error(String(err)));
    }
    this.maybeResend();
  }

  /** Once nothing is in flight, resend from the first unacknowledged record after a backoff. */
  private maybeResend(): void {
    if (this.inFlight > 0 || this.retryTimer !== undefined || this.closed) return;
    this.retryTimer = setTimeout(() => {
      this.retryTimer = undefined;
      this.retrying = false;
      this.nextToSend = this.window.durableSeq + 1;
      this.pump();
    }, this.retryDelay);
    this.retryDelay = Math.min(this.retryDelay * 2, this.retryMaxMs);
  }
}
