// The log as the second wrapper sees it: append records, learn durability, read client streams
// back for replay. LogClient (gRPC, or straight into an embedded store) is the production
// implementation; tests may use an in-memory one.
import { localStore } from '../log/append-sink.js';
import type { LogClient } from '../log/client.js';
import { Record } from '../log/gen/ftcp/v1/log.js';
import type { LogStore } from '../log/store.js';
import { encodeClientDataRecord, parseClientData } from '../log/client-data-record.js';
import { Kind } from '../log/record-meta.js';
import { storedRecordBytes } from '../log/stored-record.js';

export type ReplayItem = { kind: 'data'; offset: number; data: Buffer } | { kind: 'fin'; offset: number };
export interface ReplayEntry {
  connId: string;
  item: ReplayItem;
}

export interface WrapperLog {
  /** Queues a record; returns its log sequence number (durable once durableSeq reaches it). */
  append(record: Record): number;
  /** Appends ClientData (the hot path: encoded straight into one buffer, see client-data-record.ts). */
  appendClientData(connId: string, connIdBytes: Buffer, offset: number, data: Uint8Array): number;
  readonly durableSeq: number;
  /** Called (on the event loop) whenever durableSeq advances. */
  onDurable(listener: (durableSeq: number) => void): void;
  /** The logged client stream of a connection from `fromOffset` on, in log order. */
  readClientStream(connId: string, fromOffset: number): AsyncIterable<ReplayItem>;
  /** The logged client streams of every connection of the service (one pass, for mass recovery), in batches. */
  readAllClientStreams(): AsyncIterable<ReplayEntry[]>;
}

const CLIENT_STREAM_KINDS: ReadonlySet<Kind> = new Set([Kind.ClientData, Kind.ClientFin]);

/**
 * A record from a stored body. ClientData — most of a log — is read by hand (its data a view
 * into the read buffer); anything else goes through the generated decoder.
 */
export function recordOfStored(body: Buffer): Record {
  const raw = storedRecordBytes(body);
  const cd = parseClientData(raw);
  if (cd) return { connId: cd.connId, kind: { $case: 'clientData', value: { offset: cd.offset, data: cd.data } } };
  return Record.decode(raw);
}

function replayItem(r: Record): ReplayItem | undefined {
  const k = r.kind;
  if (k?.$case === 'clientData') {
    const d = k.value.data;
    return { kind: 'data', offset: k.value.offset, data: Buffer.from(d.buffer, d.byteOffset, d.byteLength) };
  }
  if (k?.$case === 'clientFin') return { kind: 'fin', offset: k.value.offset };
  return undefined;
}

export class LogClientWrapperLog implements WrapperLog {
  /** The embedded store when the log server runs in this process: reads skip gRPC. */
  private readonly store: LogStore | undefined;

  constructor(
    private readonly client: LogClient,
    target?: string,
  ) {
    this.store = target !== undefined ? localStore(target) : undefined;
  }

  append(record: Record): number {
    return this.client.append(record);
  }

  appendClientData(connId: string, connIdBytes: Buffer, offset: number, data: Uint8Array): number {
    const r = encodeClientDataRecord(connId, connIdBytes, offset, data);
    return this.client.appendEncoded(r.bytes, r.meta);
  }

  get durableSeq(): number {
    return this.client.durableSeq;
  }

  onDurable(listener: (durableSeq: number) => void): void {
    this.client.on('durable', listener);
  }

  /** Live records of the service (connId '') or of one connection, in log order (adoption reads them all). */
  async *records(connId = '', fromOffset = 0): AsyncIterable<Record> {
    if (this.store) {
      for await (const batch of this.store.readStored(this.client.service, { connId, fromOffset })) {
        for (const b of batch) yield recordOfStored(b);
      }
      return;
    }
    for await (const item of this.client.read({ connId, fromOffset, skipCheckpoint: true })) {
      if (item.type === 'record') yield item.record;
    }
  }

  async *readClientStream(connId: string, fromOffset: number): AsyncIterable<ReplayItem> {
    for await (const r of this.records(connId, fromOffset)) {
      const item = replayItem(r);
      if (item) yield item;
    }
  }

  async *readAllClientStreams(): AsyncIterable<ReplayEntry[]> {
    if (this.store) {
      // Only the client-stream rows: the store's index skips the rest without reading it.
      for await (const batch of this.store.readStored(this.client.service, { kinds: CLIENT_STREAM_KINDS })) {
        const out: ReplayEntry[] = [];
        for (const b of batch) {
          const r = recordOfStored(b);
          const item = replayItem(r);
          if (item) out.push({ connId: r.connId, item });
        }
        yield out;
      }
      return;
    }
    let out: ReplayEntry[] = [];
    for await (const r of this.records('', 0)) {
      const item = replayItem(r);
      if (!item) continue;
      out.push({ connId: r.connId, item });
      if (out.length >= 1024) {
        yield out;
        out = [];
      }
    }
    if (out.length > 0) yield out;
  }
}
