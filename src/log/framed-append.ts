// A lighter same-host transport for the Append stream: the same AppendRequest / AppendResponse
// messages, length-prefixed on a unix socket beside the gRPC one (`<socket>.append`), without
// HTTP/2. A gRPC round trip costs 500–900 µs between two processes on the 2-vCPU machine of
// docs/PERFORMANCE.md, a unix-socket round trip ~100 µs: for a writer on the log server's host the
// append-to-durable latency becomes the fdatasync plus that. Read, Checkpoint and Stats stay gRPC.
//
// Frames: a 4-byte big-endian length, then the payload.
//   writer → server: first a hello (UTF-8 JSON {"v":1,"token"?:string}), then encoded
//                    AppendRequests; an empty frame is the writer's half-close.
//   server → writer: one type byte, then: 1 = an encoded AppendResponse (the durable watermark),
//                    2 = an error (UTF-8 JSON {code, details}: a gRPC status code), 3 = clean end.
import { promises as fsp } from 'node:fs';
import { createServer, connect, type Server, type Socket } from 'node:net';
import * as grpc from '@grpc/grpc-js';
import type { Logger } from '../util/logger.js';
import { appendSerializer, type AppendSink, type AppendSinkHandlers, type SinkError, type SinkTarget } from './append-sink.js';
import { LogError } from './errors.js';
import { AppendResponse } from './gen/ftcp/v1/log.js';
import { MAX_MESSAGE_BYTES } from './limits.js';
import { putVarint, readVarint, varintEnd, varintSize } from './varint.js';
import type { LogServer } from './server.js';

const ACK = 1;
const ERROR = 2;
const END = 3;

/** Where the framed transport of a gRPC unix socket listens. */
export function framedPath(grpcSocketPath: string): string {
  return `${grpcSocketPath}.append`;
}

/**
 * Splits a byte stream into frames; a frame over `max` bytes is an error. A frame that arrives in
 * many reads (a 1 MiB batch comes in 64 KiB chunks) is joined once, when it is complete: joining
 * at every read would copy it over and over.
 */
export class FrameReader {
  private buf: Buffer = Buffer.alloc(0);
  /** Reads after `buf` not joined yet (while the frame they belong to is incomplete). */
  private waiting: Buffer[] = [];
  private waitingBytes = 0;

  constructor(private readonly max: number) {}

  /** Frames completed by `chunk` (views into an internal buffer: consume them at once). */
  push(chunk: Buffer): Buffer[] {
    if (this.buf.length === 0) this.buf = chunk;
    else {
      this.waiting.push(chunk);
      this.waitingBytes += chunk.length;
      const have = this.buf.length + this.waitingBytes;
      if (this.buf.length >= 4) {
        const len = this.buf.readUInt32BE(0);
        if (len > this.max) throw new LogError('INVALID_ARGUMENT', `frame of ${len} bytes is over the ${this.max}-byte limit`);
        if (have - 4 < len) return []; // still incomplete
      }
      this.buf = Buffer.concat([this.buf, ...this.waiting], have);
      this.waiting = [];
      this.waitingBytes = 0;
    }
    const out: Buffer[] = [];
    let at = 0;
    while (this.buf.length - at >= 4) {
      const len = this.buf.readUInt32BE(at);
      if (len > this.max) throw new LogError('INVALID_ARGUMENT', `frame of ${len} bytes is over the ${this.max}-byte limit`);
      if (this.buf.length - at - 4 < len) break;
      out.push(this.buf.subarray(at + 4, at + 4 + len));
      at += 4 + len;
    }
    this.buf = at === this.buf.length ? Buffer.alloc(0) : this.buf.subarray(at);
    return out;
  }
}

function frame(payload: Uint8Array, type?: number): Buffer {
  const extra = type === undefined ? 0 : 1;
  const b = Buffer.allocUnsafe(4 + extra + payload.length);
  b.writeUInt32BE(extra + payload.length, 0);
  if (type !== undefined) b[4] = type;
  b.set(payload, 4 + extra);
  return b;
}

/** An ACK frame: type byte, then AppendResponse{durable_seq} laid out by hand (one small buffer). */
export function ackFrame(durableSeq: number): Buffer {
  const body = durableSeq > 0 ? 1 + varintSize(durableSeq) : 0; // proto3 omits a zero
  const b = Buffer.allocUnsafe(4 + 1 + body);
  b.writeUInt32BE(1 + body, 0);
  b[4] = ACK;
  if (body > 0) {
    b[5] = 1 << 3; // durable_seq, varint
    putVarint(b, 6, durableSeq);
  }
  return b;
}

/** durable_seq of an ACK frame's body (the generated decoder for any layout but ackFrame's). */
function ackSeq(body: Buffer): number {
  if (body.length === 0) return 0;
  if (body[0] === 1 << 3 && varintEnd(body, 1) === body.length) {
    const v = readVarint(body, 1);
    if (v >= 0) return v;
  }
  return AppendResponse.decode(body).durableSeq;
}

function errorBody(err: unknown): { code: number; details: string } {
  if (err instanceof LogError) return { code: err.grpcCode, details: err.message };
  return { code: grpc.status.INTERNAL, details: err instanceof Error ? err.message : String(err) };
}

/** The server side: one net.Server on `path` (mode 0660, like the gRPC socket) feeding `logServer`. */
export async function listenFramedAppend(logServer: LogServer, path: string, log: Logger): Promise<{ close(): Promise<void> }> {
  await fsp.rm(path, { force: true });
  const sockets = new Set<Socket>();
  const server: Server = createServer({ allowHalfOpen: true }, (sock) => {
    sockets.add(sock);
    sock.once('close', () => sockets.delete(sock));
    serveConnection(logServer, sock, log);
  });
  const oldMask = process.umask(0o117);
  try {
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(path, () => {
        server.off('error', reject);
        resolve();
      });
    });
  } finally {
    process.umask(oldMask);
  }
  await fsp.chmod(path, 0o660);
  return {
    close: async () => {
      for (const s of sockets) s.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      await fsp.rm(path, { force: true }).catch(() => undefined);
    },
  };
}

function serveConnection(logServer: LogServer, sock: Socket, log: Logger): void {
  const reader = new FrameReader(MAX_MESSAGE_BYTES);
  let hello = false;
  let over = false;
  const send = (b: Buffer): void => {
    if (!over && !sock.destroyed) sock.write(b);
  };
  const fail = (err: unknown): void => {
    if (over) return;
    send(frame(Buffer.from(JSON.stringify(errorBody(err))), ERROR));
    over = true;
    sock.end();
  };
  const session = logServer.appendSession({
    ack: (durableSeq) => send(ackFrame(durableSeq)),
    fail,
    end: () => {
      send(frame(new Uint8Array(0), END));
      over = true;
      sock.end();
    },
    finished: () => undefined,
  });
  sock.on('data', (chunk: Buffer) => {
    if (over) return;
    let frames: Buffer[];
    try {
      frames = reader.push(chunk);
    } catch (err) {
      session.gone('error');
      fail(err);
      return;
    }
    for (const f of frames) {
      if (over) return;
      if (!hello) {
        hello = true;
        let h: { v?: unknown; token?: unknown };
        try {
          h = JSON.parse(f.toString('utf8')) as { v?: unknown; token?: unknown };
        } catch {
          h = {};
        }
        if (h.v !== 1) {
          fail(new LogError('INVALID_ARGUMENT', 'the framed Append transport expects a hello {"v":1} first'));
          return;
        }
        if (!logServer.tokenMatches(typeof h.token === 'string' ? h.token : undefined)) {
          fail(new LogError('UNAUTHENTICATED', 'missing or wrong token (hello "token")'));
          return;
        }
        continue;
      }
      if (f.length === 0) session.writerEnded();
      else session.request(f);
    }
    session.commitNow();
  });
  sock.on('end', () => {
    if (!over) session.gone('cancelled');
  });
  sock.on('close', () => {
    if (!over) session.gone('cancelled');
    over = true;
  });
  sock.on('error', (err) => {
    log.debug({ err: String(err) }, 'framed append connection error');
    session.gone('error');
    over = true;
  });
}

/** The writer side: an AppendSink on the framed transport at `path`. */
export function framedAppendSink(path: string, token: string | undefined, t: SinkTarget, h: AppendSinkHandlers): AppendSink {
  const serialize = appendSerializer(t, 4); // room for the frame's length
  const reader = new FrameReader(MAX_MESSAGE_BYTES);
  const sock = connect(path);
  sock.setNoDelay?.(true);
  let ended = false;
  const end = (err: SinkError | undefined): void => {
    if (ended) return;
    ended = true;
    sock.destroy();
    h.onEnd(err);
  };
  const sinkError = (code: number, details: string): SinkError => Object.assign(new Error(`${code} ${grpc.status[code] ?? ''}: ${details}`), { code, details });
  sock.write(frame(Buffer.from(JSON.stringify(token === undefined ? { v: 1 } : { v: 1, token }))));
  sock.on('data', (chunk: Buffer) => {
    let frames: Buffer[];
    try {
      frames = reader.push(chunk);
    } catch (err) {
      end(sinkError(grpc.status.INTERNAL, String(err)));
      return;
    }
    for (const f of frames) {
      const type = f[0];
      const body = f.subarray(1);
      if (type === ACK) h.onAck(ackSeq(body));
      else if (type === END) end(undefined);
      else if (type === ERROR) {
        let e: { code?: number; details?: string } = {};
        try {
          e = JSON.parse(body.toString('utf8')) as { code?: number; details?: string };
        } catch {
          /* malformed: INTERNAL below */
        }
        end(sinkError(typeof e.code === 'number' ? e.code : grpc.status.INTERNAL, e.details ?? 'malformed error frame'));
      }
    }
  });
  // The server gone (crash, restart): transient, the client reconnects and resends.
  sock.on('error', (err) => end(sinkError(grpc.status.UNAVAILABLE, `log server unreachable on ${path}: ${err.message}`)));
  sock.on('close', () => end(sinkError(grpc.status.UNAVAILABLE, `log server closed ${path}`)));
  return {
    write: (firstSeq, records) => {
      if (ended) return;
      const b = serialize({ firstSeq, records });
      b.writeUInt32BE(b.length - 4, 0);
      sock.write(b);
    },
    end: () => {
      if (!ended) sock.write(frame(new Uint8Array(0)));
    },
    cancel: () => {
      ended = true;
      sock.destroy();
    },
  };
}
