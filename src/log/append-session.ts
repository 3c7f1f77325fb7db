// One Append stream on the server, whatever carries it (a gRPC bidi call, or a framed unix-socket
// connection, framed-append.ts): decodes each AppendRequest, appends its records to the store, and
// answers with the stream's durable watermark as it moves. The transport supplies the callbacks.
import { LogError } from './errors.js';
import { AppendRequestDecoder, type DecodedAppendRequest } from './append-request-decode.js';
import { clientDataMeta } from './client-data-record.js';
import { checkRecordSize, decodeRecord, type RecordMeta } from './record-meta.js';
import { LogStore, type StreamListener, type StreamState } from './store.js';

/** How an Append stream ended: the writer half-closed, cancelled (e.g. its process died), or failed. */
export type AppendStreamEnd = 'end' | 'cancelled' | 'error';

export interface AppendTransport {
  /** Sends the durable watermark. */
  ack(durableSeq: number): void;
  /** Fails the stream with this error (the session is over). */
  fail(err: unknown): void;
  /** Ends the stream cleanly (after the writer's half-close and every record durable). */
  end(): void;
  /** The session is over (any way): told once, with the stream it carried, if any. */
  finished(service: string, stream: StreamState | undefined, how: AppendStreamEnd): void;
}

export class AppendSession {
  private done = false;
  private stream: StreamState | undefined;
  private serviceName = '';
  private lastSent = -1;
  private lastWanted = 0;
  private ending = false;
  private told = false;
  private readonly decoder = new AppendRequestDecoder();
  private readonly listener: StreamListener = { onDurable: (d) => this.send(d), onFailed: (err) => this.failWith(err) };

  constructor(
    private readonly store: LogStore,
    private readonly t: AppendTransport,
  ) {}

  /** One encoded AppendRequest from the writer. */
  request(buf: Uint8Array): void {
    if (this.done) return;
    try {
      let req: DecodedAppendRequest;
      try {
        req = this.decoder.decode(buf);
      } catch (err) {
        throw new LogError('INVALID_ARGUMENT', `not a valid ftcp.v1.AppendRequest (${err instanceof Error ? err.message : String(err)})`);
      }
      const svc = req.service;
      if (!svc) throw new LogError('INVALID_ARGUMENT', 'service is missing');
      LogStore.validateNames(svc.name, req.streamId);
      if (this.stream && (svc.name !== this.serviceName || req.streamId !== this.stream.id)) {
        throw new LogError('INVALID_ARGUMENT', 'one Append call carries one service and stream_id');
      }
      if (req.records.length > 0 && req.firstSeq < 1) throw new LogError('INVALID_ARGUMENT', 'first_seq must be >= 1');
      const metas: RecordMeta[] = new Array(req.records.length);
      for (let i = 0; i < req.records.length; i++) {
        const raw = req.records[i]!;
        checkRecordSize(raw.length, i);
        metas[i] = clientDataMeta(raw) ?? decodeRecord(raw, i).meta;
      }
      const st = this.store.append(svc.name, svc.epoch, req.streamId, req.firstSeq, req.records, metas);
      if (!this.stream) {
        this.stream = st;
        this.serviceName = svc.name;
        st.listeners.add(this.listener);
      }
      const last = req.records.length > 0 ? req.firstSeq + req.records.length - 1 : 0;
      if (last > this.lastWanted) this.lastWanted = last;
      // Duplicates of durable records, or an empty batch: answer at once.
      if (st.durable >= last) this.send(st.durable);
      if (this.lastSent < 0) {
        this.lastSent = st.durable;
        this.t.ack(st.durable);
      }
    } catch (err) {
      this.failWith(err);
    }
  }

  /** Everything one read of the transport carried is appended: commit it now. */
  commitNow(): void {
    if (!this.done) this.store.commitNow();
  }

  /** The writer half-closed: end once everything it sent is durable. */
  writerEnded(): void {
    if (this.done) return;
    this.ending = true;
    if (!this.stream || this.stream.durable >= this.lastWanted) {
      this.done = true;
      this.finish('end');
      this.t.end();
    }
  }

  /** The transport went away (cancelled, or failed underneath). */
  gone(how: 'cancelled' | 'error'): void {
    this.done = true;
    this.finish(how);
  }

  private send(durable: number): void {
    if (durable <= this.lastSent || this.done) return;
    this.lastSent = durable;
    this.t.ack(durable);
    if (this.ending && durable >= this.lastWanted) {
      this.done = true;
      this.finish('end');
      this.t.end();
    }
  }

  private failWith(err: unknown): void {
    if (this.done) return;
    this.done = true;
    this.finish('error');
    this.t.fail(err);
  }

  private finish(how: AppendStreamEnd): void {
    if (this.stream) this.stream.listeners.delete(this.listener);
    if (this.told) return;
    this.told = true;
    this.t.finished(this.serviceName, this.stream, how);
  }
}
