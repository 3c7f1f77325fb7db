// Log append latency without touching the wrapper: a WrapperLog that delegates to the real one and
// times one record at a time from its append to its durability. Per append it costs one compare;
// the sample is the first record appended after the previous one became durable.
import type { Record } from '../log/gen/ftcp/v1/log.js';
import type { ReplayEntry, ReplayItem, WrapperLog } from '../wrapper/wrapper-log.js';

export class TimedWrapperLog implements WrapperLog {
  private probeSeq = 0;
  private probeAt = 0;

  constructor(
    private readonly inner: WrapperLog,
    private readonly observeMs: (ms: number) => void,
    private readonly now: () => number = () => performance.now(),
  ) {
    inner.onDurable((d) => {
      if (this.probeSeq !== 0 && d >= this.probeSeq) {
        this.probeSeq = 0;
        this.observeMs(this.now() - this.probeAt);
      }
    });
  }

  append(record: Record): number {
    return this.probe(this.inner.append(record));
  }

  appendClientData(connId: string, connIdBytes: Buffer, offset: number, data: Uint8Array): number {
    return this.probe(this.inner.appendClientData(connId, connIdBytes, offset, data));
  }

  private probe(seq: number): number {
    if (this.probeSeq === 0 && seq > this.inner.durableSeq) {
      this.probeSeq = seq;
      this.probeAt = this.now();
    }
    return seq;
  }

  get durableSeq(): number {
    return this.inner.durableSeq;
  }

  onDurable(listener: (durableSeq: number) => void): void {
    this.inner.onDurable(listener);
  }

  readClientStream(connId: string, fromOffset: number): AsyncIterable<ReplayItem> {
    return this.inner.readClientStream(connId, fromOffset);
  }

  readAllClientStreams(): AsyncIterable<ReplayEntry[]> {
    return this.inner.readAllClientStreams();
  }
}
