// One accepted socket as the shim sees it: what is handed to the app (logged, or held and handed
// over again in the logged chunks during a replay), what the app writes (gated by output commit,
// kept for checkpoints until the client acknowledges it) and how the app closes it.
import type { Socket } from 'node:net';
import { OutputGate, type Need } from './output-gate.js';
import { bytesAcked } from './tcp-info.js';

export type Boundaries = 'exact' | 'stream';

/** What a connection needs from the session (kept narrow so the connection can be tested alone). */
export interface ConnSession {
  readonly retainOutput: boolean;
  needFor(boundaries: Boundaries): Need;
  isDurable(need: Need): boolean;
  whenDurable(need: Need): Promise<void>;
  logChunk(conn: ShimConn, length: number): void;
  logCloseIntent(conn: ShimConn, how: 'end' | 'destroy'): void;
  connClosed(conn: ShimConn): void;
}

/** Above this many held bytes the socket stops reading (the kernel window then holds the client). */
const HOLD_LIMIT = 4 * 1024 * 1024;

type PushFn = (chunk: unknown, encoding?: BufferEncoding) => boolean;
type AnyCb = (err?: Error | null) => void;

export class ShimConn {
  /** Client-stream bytes handed to the app (absolute stream offset). */
  delivered: number;
  /** Server-stream bytes the app has written (absolute stream offset). */
  written: number;
  /** Held: data is buffered here, not handed to the app (replay in progress, or not yet accepted). */
  held = true;
  private heldBufs: Buffer[] = [];
  private heldBytes = 0;
  private eofHeld = false;
  private readStopped = false;
  /** Server bytes kept for checkpoints, from retainedFrom on (absolute offsets). */
  private retained: Buffer[] = [];
  private retainedFrom: number;
  private retainedBytes = 0;
  /** Absolute server offset of this socket's first byte (0, or the checkpoint's). */
  private incarnationBase: number;
  private intent: 'none' | 'end' | 'destroy' = 'none';
  private readonly gate: OutputGate;
  private readonly push: PushFn;
  private readonly rawWrite: Socket['write'];
  private readonly rawEnd: Socket['end'];
  private readonly rawDestroy: Socket['destroy'];
  /** Accept order of this connection (-1 until the app is handed it). */
  acceptOrder = -1;
  /** Called whenever held data arrives (the replay waits on it). */
  onHeldData: (() => void) | undefined;

  constructor(
    readonly socket: Socket,
    private readonly session: ConnSession,
    /** Shim connection id; set when the app is handed the connection (accept order known). */
    public id: string,
    readonly tuple: string,
    readonly boundaries: Boundaries,
    clientBase: number,
    serverBase: number,
  ) {
    this.delivered = clientBase;
    this.written = serverBase;
    this.retainedFrom = serverBase;
    this.incarnationBase = serverBase;
    const s = socket as Socket & { push: PushFn };
    this.push = s.push.bind(s);
    this.rawWrite = s.write.bind(s);
    this.rawEnd = s.end.bind(s);
    this.rawDestroy = s.destroy.bind(s);
    this.gate = new OutputGate(
      socket,
      {
        need: () => session.needFor(boundaries),
        isDurable: (n) => session.isDurable(n),
        whenDurable: (n) => session.whenDurable(n),
      },
      (buf, cb) => this.rawWrite(buf, cb),
      (cb) => this.rawEnd(cb),
    );
    s.push = (chunk, encoding) => this.onPush(chunk, encoding);
    s.write = ((data: unknown, enc?: unknown, cb?: unknown) => this.write(data, enc, cb)) as Socket['write'];
    s.end = ((a?: unknown, b?: unknown, c?: unknown) => this.end(a, b, c)) as Socket['end'];
    s.destroy = ((err?: Error) => this.destroy(err)) as Socket['destroy'];
    socket.once('close', () => {
      this.gate.drop(Object.assign(new Error('Cannot call write after a stream was destroyed'), { code: 'ERR_STREAM_DESTROYED' }));
      this.session.connClosed(this);
    });
  }

  /** A restored connection starts at the checkpoint's offsets (before the app saw anything). */
  rebase(clientBase: number, serverBase: number): void {
    this.delivered = clientBase;
    this.written = serverBase;
    this.retainedFrom = serverBase;
    this.incarnationBase = serverBase;
  }

  /** Server bytes from the last checkpoint that the client had not acknowledged: sent first. */
  resend(pending: Buffer): void {
    if (pending.length === 0) return;
    this.noteWritten(pending);
    this.rawWrite(pending);
  }

  get heldLength(): number {
    return this.heldBytes;
  }

  /** The client closed its side and everything it sent is held. */
  get heldEof(): boolean {
    return this.eofHeld;
  }

  // ------------------------------------------------------------------------------------------
  // Client → app

  private onPush(chunk: unknown, encoding?: BufferEncoding): boolean {
    if (chunk === null) {
      if (this.held) {
        this.eofHeld = true;
        this.onHeldData?.();
        return false;
      }
      return this.push(null);
    }
    const buf = typeof chunk === 'string' ? Buffer.from(chunk, encoding) : (chunk as Buffer);
    if (this.held) {
      this.heldBufs.push(buf);
      this.heldBytes += buf.length;
      this.onHeldData?.();
      if (this.heldBytes >= HOLD_LIMIT) this.readStopped = true;
      return !this.readStopped;
    }
    return this.deliverLive(buf);
  }

  private deliverLive(buf: Buffer): boolean {
    if (this.boundaries === 'exact') this.session.logChunk(this, buf.length);
    this.delivered += buf.length;
    return this.push(buf);
  }

  /** Replay: hands the app exactly `length` held bytes as one chunk (the caller checked they are here). */
  deliverHeld(length: number): void {
    let out: Buffer;
    const first = this.heldBufs[0]!;
    if (first.length === length) {
      out = first;
      this.heldBufs.shift();
    } else if (first.length > length) {
      out = first.subarray(0, length);
      this.heldBufs[0] = first.subarray(length);
    } else {
      out = Buffer.allocUnsafe(length);
      let n = 0;
      while (n < length) {
        const b = this.heldBufs[0]!;
        const take = Math.min(b.length, length - n);
        b.copy(out, n, 0, take);
        n += take;
        if (take === b.length) this.heldBufs.shift();
        else this.heldBufs[0] = b.subarray(take);
      }
    }
    this.heldBytes -= length;
    this.delivered += length;
    this.push(out);
    this.resumeReading();
  }

  /** The replay is over (or there was none): what is held now goes to the app as live data. */
  release(): void {
    if (!this.held) return;
    this.held = false;
    const bufs = this.heldBufs;
    this.heldBufs = [];
    this.heldBytes = 0;
    for (const b of bufs) this.deliverLive(b);
    if (this.eofHeld) {
      this.eofHeld = false;
      this.push(null);
      this.socket.read(0);
    }
    this.resumeReading();
  }

  private resumeReading(): void {
    if (!this.readStopped || this.heldBytes >= HOLD_LIMIT / 2) return;
    this.readStopped = false;
    // We told the stream to stop reading; restart the handle the way net.Socket's _read does.
    const h = (this.socket as unknown as { _handle?: { reading?: boolean; readStart?: () => number } })._handle;
    if (h && !h.reading && h.readStart) {
      h.reading = true;
      h.readStart();
    }
  }

  // ------------------------------------------------------------------------------------------
  // App → client

  private write(data: unknown, enc?: unknown, cb?: unknown): boolean {
    let encoding: BufferEncoding | undefined;
    let done: AnyCb | undefined;
    if (typeof enc === 'function') done = enc as AnyCb;
    else {
      encoding = enc as BufferEncoding | undefined;
      done = cb as AnyCb | undefined;
    }
    if (typeof data !== 'string' && !(data instanceof Uint8Array)) {
      // Let Node raise its own ERR_INVALID_ARG_TYPE.
      return this.rawWrite(data as Buffer, encoding as BufferEncoding, done);
    }
    const buf = typeof data === 'string' ? Buffer.from(data, encoding ?? 'utf8') : Buffer.isBuffer(data) ? data : Buffer.from(data.buffer, data.byteOffset, data.byteLength);
    if (this.socket.destroyed || this.socket.writableEnded) return this.rawWrite(buf, done);
    this.noteWritten(buf);
    return this.gate.write(buf, done);
  }

  private end(a?: unknown, b?: unknown, c?: unknown): Socket {
    // end(cb) | end(data, cb) | end(data, encoding, cb), as net.Socket takes them.
    let data: unknown;
    let encoding: unknown;
    let cb: (() => void) | undefined;
    if (typeof a === 'function') cb = a as () => void;
    else if (typeof b === 'function') {
      data = a;
      cb = b as () => void;
    } else {
      data = a;
      encoding = b;
      cb = c as (() => void) | undefined;
    }
    if (data !== undefined && data !== null) this.write(data, encoding, undefined);
    if (this.intent === 'none' && !this.socket.destroyed && !this.socket.writableEnded) {
      this.intent = 'end';
      this.session.logCloseIntent(this, 'end');
    }
    this.gate.end(cb);
    return this.socket;
  }

  private destroy(err?: Error): Socket {
    if (this.intent !== 'destroy' && !this.socket.destroyed && !(this.socket.writableFinished && this.socket.readableEnded)) {
      this.intent = 'destroy';
      this.session.logCloseIntent(this, 'destroy');
    }
    return this.rawDestroy(err);
  }

  get closeIntent(): 'none' | 'end' | 'destroy' {
    return this.intent;
  }

  // ------------------------------------------------------------------------------------------
  // Checkpoint support

  private noteWritten(buf: Buffer): void {
    this.written += buf.length;
    if (!this.session.retainOutput) {
      this.retainedFrom = this.written; // nothing before this point is kept
      return;
    }
    // Keep our own copy: the app may reuse its buffer once the write callback ran.
    this.retained.push(Buffer.from(buf));
    this.retainedBytes += buf.length;
    if (this.retainedBytes > 1024 * 1024) this.trimRetained();
  }

  /** Server offset the client has acknowledged (as far as this socket knows). */
  ackedOffset(): number {
    const acked = bytesAcked(this.socket);
    if (acked === undefined) return this.retainedFrom;
    return Math.min(this.written, this.incarnationBase + acked);
  }

  private trimRetained(): void {
    let drop = this.ackedOffset() - this.retainedFrom;
    while (drop > 0 && this.retained.length > 0) {
      const b = this.retained[0]!;
      if (b.length <= drop) {
        this.retained.shift();
        drop -= b.length;
        this.retainedFrom += b.length;
        this.retainedBytes -= b.length;
      } else {
        this.retained[0] = b.subarray(drop);
        this.retainedFrom += drop;
        this.retainedBytes -= drop;
        drop = 0;
      }
    }
  }

  /** For a checkpoint: the acknowledged server offset and the written bytes after it. */
  serverCut(): { serverOffset: number; pending: Buffer } {
    this.trimRetained();
    return { serverOffset: this.retainedFrom, pending: Buffer.concat(this.retained, this.retainedBytes) };
  }
}
