// The log as the second wrapper sees it: append records, learn durability, read a connection's
// client stream back for replay. LogClient (gRPC) is the production implementation; tests may
// use an in-memory one.
import type { LogClient } from '../log/client.js';
import type { Record } from '../log/gen/ftcp/v1/log.js';

export type ReplayItem = { kind: 'data'; offset: number; data: Buffer } | { kind: 'fin'; offset: number };

export interface WrapperLog {
  /** Queues a record; returns its log sequence number (durable once durableSeq reaches it). */
  append(record: Record): number;
  readonly durableSeq: number;
  /** Called (on the event loop) whenever durableSeq advances. */
  onDurable(listener: (durableSeq: number) => void): void;
  /** The logged client stream of a connection from `fromOffset` on, in log order. */
  readClientStream(connId: string, fromOffset: number): AsyncIterable<ReplayItem>;
}

export class LogClientWrapperLog implements WrapperLog {
  constructor(private readonly client: LogClient) {}

  append(record: Record): number {
    return this.client.append(record);
  }

  get durableSeq(): number {
    return this.client.durableSeq;
  }

  onDurable(listener: (durableSeq: number) => void): void {
    this.client.on('durable', listener);
  }

  async *readClientStream(connId: string, fromOffset: number): AsyncIterable<ReplayItem> {
    for await (const item of this.client.read({ connId, fromOffset, skipCheckpoint: true })) {
      if (item.type !== 'record') continue;
      const k = item.record.kind;
      if (k?.$case === 'clientData') {
        const d = k.value.data;
        yield { kind: 'data', offset: k.value.offset, data: Buffer.from(d.buffer, d.byteOffset, d.byteLength) };
      }
      else if (k?.$case === 'clientFin') yield { kind: 'fin', offset: k.value.offset };
    }
  }
}
