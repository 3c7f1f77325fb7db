// Where a LogClient's batches go: a gRPC Append stream, or — when the log server runs embedded in
// this same process — straight into its store (no serialisation, no socket, no extra event-loop
// turns; the daemon's acknowledgement latency is then one fdatasync plus a microtask).
import * as grpc from '@grpc/grpc-js';
import { LogError } from './errors.js';
import { AppendRequest, LogService, type AppendResponse } from './gen/ftcp/v1/log.js';
import { decodeRecord, type RecordMeta } from './record-meta.js';
import { putVarint, varintSize } from './varint.js';
import { LogStore, type StreamListener, type StreamState } from './store.js';

/** An error shaped like grpc-js's ServiceError, whichever sink raised it. */
export type SinkError = Error & { code: number; details: string };

export interface AppendSinkHandlers {
  /** The stream's durable watermark moved to `durableSeq`. */
  onAck(durableSeq: number): void;
  /** The sink is gone (err undefined = ended cleanly); unacknowledged records must be resent. */
  onEnd(err: SinkError | undefined): void;
}

export interface AppendSink {
  /** `metas[i]`, when given, is the index metadata of records[i] (the in-process sink uses it). */
  write(firstSeq: number, records: Uint8Array[], metas?: (RecordMeta | undefined)[]): void;
  /** Half-close: no more writes. */
  end(): void;
  cancel(): void;
}

export interface SinkTarget {
  service: string;
  epoch: number;
  streamId: string;
}

export function toSinkError(err: unknown): SinkError {
  if (err instanceof LogError) {
    return Object.assign(new Error(`${err.grpcCode} ${err.code}: ${err.message}`), { code: err.grpcCode, details: err.message });
  }
  const e = err as Partial<SinkError>;
  if (typeof e?.code === 'number') return err as SinkError;
  const msg = err instanceof Error ? err.message : String(err);
  return Object.assign(new Error(msg), { code: grpc.status.INTERNAL, details: msg });
}

/** What a gRPC Append sink writes: the per-call fields are encoded once, in the serializer. */
interface AppendBatch {
  firstSeq: number;
  records: Uint8Array[];
}

/**
 * Encodes AppendRequests of one call into one buffer of the exact size: each record's bytes are
 * copied once (BinaryWriter copies them into its growing buffer, then again in finish()).
 * `service` and `stream_id` are the same for every request of a call, so they are encoded once.
 * `reserve` bytes are left free at the front (for a transport's frame header).
 */
export function appendSerializer(t: SinkTarget, reserve = 0): (batch: AppendBatch) => Buffer {
  const head = Buffer.from(AppendRequest.encode({ service: { name: t.service, epoch: t.epoch }, streamId: t.streamId, firstSeq: 0, records: [] }).finish());
  return ({ firstSeq, records }) => {
    let size = reserve + head.length + (firstSeq !== 0 ? 1 + varintSize(firstSeq) : 0);
    for (const r of records) size += 1 + varintSize(r.length) + r.length;
    const b = Buffer.allocUnsafe(size);
    head.copy(b, reserve);
    let at = reserve + head.length;
    if (firstSeq !== 0) {
      b[at++] = 24; // field 3, varint
      at = putVarint(b, at, firstSeq);
    }
    for (const r of records) {
      b[at++] = 34; // field 4, length-delimited
      at = putVarint(b, at, r.length);
      b.set(r, at);
      at += r.length;
    }
    return b;
  };
}

export function grpcAppendSink(client: grpc.Client, metadata: grpc.Metadata, t: SinkTarget, h: AppendSinkHandlers): AppendSink {
  const call = client.makeBidiStreamRequest<AppendBatch, AppendResponse>(
    LogService.append.path,
    appendSerializer(t),
    LogService.append.responseDeserialize,
    metadata,
    {},
  );
  let ended = false;
  const end = (err: SinkError | undefined): void => {
    if (ended) return;
    ended = true;
    h.onEnd(err);
  };
  call.on('data', (r: AppendResponse) => h.onAck(r.durableSeq));
  call.on('error', (err: grpc.ServiceError) => end(err));
  call.on('status', (s: grpc.StatusObject) => {
    if (s.code === grpc.status.OK) end(undefined);
  });
  return {
    write: (firstSeq, records) => call.write({ firstSeq, records }),
    end: () => call.end(),
    cancel: () => {
      ended = true;
      call.cancel();
    },
  };
}

export function localAppendSink(store: LogStore, t: SinkTarget, h: AppendSinkHandlers): AppendSink {
  let stream: StreamState | undefined;
  let ended = false;
  const end = (err: SinkError | undefined): void => {
    if (ended) return;
    ended = true;
    stream?.listeners.delete(listener);
    h.onEnd(err);
  };
  const listener: StreamListener = {
    onDurable: (d) => {
      if (!ended) h.onAck(d);
    },
    onFailed: (err) => end(toSinkError(err)),
  };
  return {
    write: (firstSeq, records, given) => {
      if (ended) return;
      try {
        LogStore.validateNames(t.service, t.streamId);
        const metas: RecordMeta[] = new Array(records.length);
        for (let i = 0; i < records.length; i++) metas[i] = given?.[i] ?? decodeRecord(records[i]!, i).meta;
        // In-process writers (the daemon) do not wait on each record: no overlapping commits.
        const st = store.append(t.service, t.epoch, t.streamId, firstSeq, records, metas, false);
        if (!stream) {
          stream = st;
          st.listeners.add(listener);
        }
        const last = firstSeq + records.length - 1;
        if (st.durable >= last) queueMicrotask(() => listener.onDurable(st.durable));
      } catch (err) {
        const e = toSinkError(err);
        queueMicrotask(() => end(e));
      }
    },
    end: () => queueMicrotask(() => end(undefined)),
    cancel: () => {
      ended = true;
      stream?.listeners.delete(listener);
    },
  };
}

// Stores of log servers embedded in this process, by every address they listen on.
const local = new Map<string, LogStore>();

export function registerLocalStore(addresses: string[], store: LogStore): void {
  for (const a of addresses) local.set(a, store);
}

export function unregisterLocalStore(store: LogStore): void {
  for (const [a, s] of local) if (s === store) local.delete(a);
}

export function localStore(target: string): LogStore | undefined {
  return local.get(target);
}
