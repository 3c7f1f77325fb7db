// Output commit for one socket: a write (or end) whose content may depend on a record that is not
// durable yet waits for that record; writes leave in the order the app made them.
import type { Socket } from 'node:net';

/** A record appended later than now (held while a checkpoint is in flight): its seq is set then. */
export interface LaterRecord {
  seq: number | undefined;
}

/** What a queued write waits for: a log sequence number, or a record appended later. */
export type Need = number | LaterRecord;

export interface Durability {
  /** The log position a write made now must wait for (0 = nothing). */
  need(): Need;
  isDurable(need: Need): boolean;
  whenDurable(need: Need): Promise<void>;
}

type WriteCb = (err?: Error | null) => void;

interface Item {
  buf: Buffer | null; // null = end()
  cb: WriteCb | undefined;
  need: Need;
}

export type RawWrite = (buf: Buffer, cb?: WriteCb) => boolean;
export type RawEnd = (cb?: () => void) => void;

export class OutputGate {
  private queue: Item[] = [];
  private queuedBytes = 0;
  private waiting = false;
  private needDrain = false;
  private closed = false;

  constructor(
    private readonly socket: Socket,
    private readonly durability: Durability,
    private readonly rawWrite: RawWrite,
    private readonly rawEnd: RawEnd,
  ) {}

  get pendingBytes(): number {
    return this.queuedBytes;
  }

  get empty(): boolean {
    return this.queue.length === 0;
  }

  write(buf: Buffer, cb: WriteCb | undefined): boolean {
    const need = this.durability.need();
    if (this.queue.length === 0 && this.durability.isDurable(need)) return this.rawWrite(buf, cb);
    this.queue.push({ buf, cb, need });
    this.queuedBytes += buf.length;
    this.wait();
    const ok = this.queuedBytes + this.socket.writableLength < this.socket.writableHighWaterMark;
    if (!ok) this.needDrain = true;
    return ok;
  }

  end(cb: (() => void) | undefined): void {
    const need = this.durability.need();
    if (this.queue.length === 0 && this.durability.isDurable(need)) {
      this.rawEnd(cb);
      return;
    }
    this.queue.push({ buf: null, cb: cb as WriteCb | undefined, need });
    this.wait();
  }

  /** The socket is gone: queued writes fail as Node fails writes to a destroyed socket. */
  drop(err: Error): void {
    this.closed = true;
    const q = this.queue;
    this.queue = [];
    this.queuedBytes = 0;
    for (const it of q) if (it.buf && it.cb) process.nextTick(it.cb, err);
  }

  private wait(): void {
    if (this.waiting || this.closed) return;
    const head = this.queue[0];
    if (!head) return;
    this.waiting = true;
    this.durability.whenDurable(head.need).then(
      () => {
        this.waiting = false;
        this.flush();
      },
      (err: Error) => {
        // The log failed for good: nothing may leave that depends on what it did not keep.
        this.waiting = false;
        this.socket.destroy(err);
      },
    );
  }

  private flush(): void {
    let ok = true;
    while (!this.closed && this.queue.length > 0 && this.durability.isDurable(this.queue[0]!.need)) {
      const it = this.queue.shift()!;
      if (it.buf) {
        this.queuedBytes -= it.buf.length;
        ok = this.rawWrite(it.buf, it.cb);
      } else {
        this.rawEnd(it.cb as (() => void) | undefined);
      }
    }
    if (this.queue.length > 0) {
      this.wait();
      return;
    }
    // Our queue said "full" to the app; the socket only emits 'drain' if its own buffer was full.
    if (this.needDrain && ok) {
      this.needDrain = false;
      process.nextTick(() => this.socket.emit('drain'));
    } else if (!ok) this.needDrain = false;
  }
}
