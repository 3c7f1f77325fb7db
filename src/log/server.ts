// The ftcp.v1.Log gRPC service over a LogStore, plus grpc.health.v1; listeners on unix sockets
// (mode 0660) and TCP (optionally TLS); optional bearer token on every Log call.
import { promises as fsp } from 'node:fs';
import { dirname } from 'node:path';
import { connect } from 'node:net';
import { timingSafeEqual } from 'node:crypto';
import type { EventEmitter } from 'node:events';
import type { ServerHttp2Session } from 'node:http2';
import * as grpc from '@grpc/grpc-js';
import type { Logger } from '../util/logger.js';
import { LogError } from './errors.js';
import { kindOfFieldNumber, type Kind } from './record-meta.js';
import {
  LogService,
  ReadResponse,
  type AppendResponse,
  type CheckpointRequest,
  type CheckpointResponse,
  type ReadRequest,
  type StatsRequest,
  type StatsResponse,
} from './gen/ftcp/v1/log.js';
import { HealthService } from './gen/grpc/health/v1/health.js';
import { HealthStatus } from './health.js';
import { grpcAddress, type ListenSpec } from './listen.js';
import { FLOW_WINDOW, MAX_FRAME, MAX_MESSAGE_BYTES } from './limits.js';
import type { LogStore } from './store.js';
import { AppendSession, type AppendStreamEnd, type AppendTransport } from './append-session.js';
import { framedPath, listenFramedAppend } from './framed-append.js';

export interface TlsFiles {
  cert: Buffer;
  key: Buffer;
  /** When set, clients must present a certificate signed by this CA (mutual TLS). */
  ca?: Buffer;
}

export interface LogServerOptions {
  store: LogStore;
  /** When set, every Log call must carry `authorization: Bearer <token>`. Health is exempt. */
  token?: string;
  log: Logger;
}


type ServiceError = Partial<grpc.StatusObject>;

function toStatus(err: unknown): ServiceError {
  if (err instanceof LogError) return { code: err.grpcCode, details: err.message };
  return { code: grpc.status.INTERNAL, details: err instanceof Error ? err.message : String(err) };
}

// The Append request is decoded in the handler, not by grpc-js, so a malformed message gets
// INVALID_ARGUMENT (grpc-js would answer INTERNAL).
// Read batches are serialized without the extra copy of the generated serializer.
const logServiceDefinition: grpc.ServiceDefinition = {
  ...LogService,
  append: { ...LogService.append, requestDeserialize: (b: Buffer): Buffer => b },
  read: {
    ...LogService.read,
    responseSerialize: (r: ReadResponse): Buffer => {
      const u8 = ReadResponse.encode(r).finish();
      return Buffer.from(u8.buffer, u8.byteOffset, u8.byteLength);
    },
  },
} as unknown as grpc.ServiceDefinition;

export type { AppendStreamEnd };
export type AppendStreamEndListener = (service: string, streamId: string, how: AppendStreamEnd) => void;

export class LogServer {
  private readonly grpcServer: grpc.Server;
  private readonly streamEndListeners = new Set<AppendStreamEndListener>();
  private readonly health = new HealthStatus();
  private readonly token: Buffer | undefined;
  private readonly unixPaths: string[] = [];
  private readonly tuned = new WeakSet<EventEmitter>();
  private readonly calls = new Set<grpc.ServerDuplexStream<Buffer, AppendResponse>>();
  /** The framed Append transport beside each unix socket (framed-append.ts). */
  private readonly framed: { close(): Promise<void> }[] = [];
  readonly store: LogStore;
  private readonly log: Logger;

  constructor(opts: LogServerOptions) {
    this.store = opts.store;
    this.log = opts.log;
    this.token = opts.token === undefined ? undefined : Buffer.from(`Bearer ${opts.token}`);
    this.grpcServer = new grpc.Server({
      'grpc.max_receive_message_length': MAX_MESSAGE_BYTES,
      'grpc.max_send_message_length': MAX_MESSAGE_BYTES,
    });
    this.grpcServer.addService(logServiceDefinition, {
      append: this.append.bind(this),
      read: this.read.bind(this),
      checkpoint: this.checkpoint.bind(this),
      stats: this.stats.bind(this),
    });
    this.grpcServer.addService(HealthService, this.health.implementation());
  }

  /** Binds every listener; returns the bound addresses (TCP port 0 resolved). */
  async listen(specs: ListenSpec[], tls?: TlsFiles): Promise<string[]> {
    const out: string[] = [];
    for (const l of specs) {
      let creds = grpc.ServerCredentials.createInsecure();
      if (l.kind === 'unix') {
        await fsp.mkdir(dirname(l.path), { recursive: true, mode: 0o750 });
        await removeStaleSocket(l.path);
      } else if (tls) {
        creds = grpc.ServerCredentials.createSsl(tls.ca ?? null, [{ private_key: tls.key, cert_chain: tls.cert }], tls.ca !== undefined);
      }
      const addr = grpcAddress(l);
      const oldMask = l.kind === 'unix' ? process.umask(0o117) : undefined;
      let port: number;
      try {
        port = await new Promise<number>((resolve, reject) =>
          this.grpcServer.bindAsync(addr, creds, (err, p) => (err ? reject(new Error(`cannot listen on ${addr}: ${err.message}`)) : resolve(p))),
        );
      } finally {
        if (oldMask !== undefined) process.umask(oldMask);
      }
      this.widenFlowControl();
      if (l.kind === 'unix') {
        await fsp.chmod(l.path, 0o660);
        this.unixPaths.push(l.path);
        this.framed.push(await listenFramedAppend(this, framedPath(l.path), this.log));
        out.push(addr);
      } else {
        out.push(grpcAddress({ ...l, port }));
      }
    }
    return out;
  }

  /**
   * HTTP/2's default 64 KiB flow-control window caps an Append stream at one window per round
   * trip (~55 MB/s measured here). grpc-js has no server option for it, so widen the window of
   * every new session of its HTTP/2 servers; without that hook the server still works, slower.
   */
  private widenFlowControl(): void {
    const servers = (this.grpcServer as unknown as { http2Servers?: Map<EventEmitter, unknown> }).http2Servers;
    if (!(servers instanceof Map)) return;
    for (const s of servers.keys()) {
      if (this.tuned.has(s)) continue;
      this.tuned.add(s);
      s.on('session', (session: ServerHttp2Session) => {
        try {
          session.setLocalWindowSize(FLOW_WINDOW);
          session.settings({ initialWindowSize: FLOW_WINDOW, maxFrameSize: MAX_FRAME });
        } catch (err) {
          this.log.debug({ err: String(err) }, 'cannot widen the HTTP/2 window');
        }
      });
    }
  }

  /**
   * Told when an Append stream that carried records (service and stream known) ends; the daemon
   * watches the shim's session this way (a dropped session is a crash signal). Returns the unsubscribe.
   */
  onAppendStreamEnd(listener: AppendStreamEndListener): () => void {
    this.streamEndListeners.add(listener);
    return () => this.streamEndListeners.delete(listener);
  }

  private tellStreamEnd(service: string, streamId: string, how: AppendStreamEnd): void {
    for (const l of this.streamEndListeners) {
      try {
        l(service, streamId, how);
      } catch (err) {
        this.log.error({ err: String(err) }, 'an append-stream-end listener failed');
      }
    }
  }

  /** Stops accepting calls, lets the group commit in flight finish, closes the store. */
  async close(graceMs = 2000): Promise<void> {
    this.health.setServing(false);
    this.health.endWatches();
    await this.store.close();
    for (const c of this.calls) c.end();
    for (const f of this.framed.splice(0)) await f.close();
    await new Promise<void>((resolve) => {
      const t = setTimeout(() => {
        this.grpcServer.forceShutdown();
        resolve();
      }, graceMs);
      this.grpcServer.tryShutdown(() => {
        clearTimeout(t);
        resolve();
      });
    });
    for (const p of this.unixPaths) await fsp.rm(p, { force: true }).catch(() => {});
  }

  private authorized(metadata: grpc.Metadata): boolean {
    if (!this.token) return true;
    const v = metadata.get('authorization')[0];
    if (typeof v !== 'string') return false;
    const b = Buffer.from(v);
    return b.length === this.token.length && timingSafeEqual(b, this.token);
  }

  private unauthenticated(): ServiceError {
    return { code: grpc.status.UNAUTHENTICATED, details: 'missing or wrong token (metadata authorization: Bearer <token>)' };
  }

  private append(call: grpc.ServerDuplexStream<Buffer, AppendResponse>): void {
    if (!this.authorized(call.metadata)) {
      call.emit('error', this.unauthenticated());
      return;
    }
    this.calls.add(call);
    const session = this.appendSession({
      ack: (durableSeq) => call.write({ durableSeq }),
      fail: (err) => call.emit('error', toStatus(err)),
      end: () => call.end(),
      finished: () => this.calls.delete(call),
    });
    call.on('data', (buf: Buffer) => session.request(buf));
    call.on('end', () => session.writerEnded());
    call.on('cancelled', () => session.gone('cancelled'));
    call.on('error', () => session.gone('error'));
  }

  /** An Append stream over any transport; its end is told to the stream-end listeners. */
  appendSession(t: AppendTransport): AppendSession {
    return new AppendSession(this.store, {
      ...t,
      finished: (service, stream, how) => {
        t.finished(service, stream, how);
        if (stream) this.tellStreamEnd(service, stream.id, how);
      },
    });
  }

  /** Checks a bearer token given outside gRPC metadata (the framed transport's hello). */
  tokenMatches(token: string | undefined): boolean {
    if (!this.token) return true;
    if (token === undefined) return false;
    const b = Buffer.from(`Bearer ${token}`);
    return b.length === this.token.length && timingSafeEqual(b, this.token);
  }

  private read(call: grpc.ServerWritableStream<ReadRequest, ReadResponse>): void {
    if (!this.authorized(call.metadata)) {
      call.emit('error', this.unauthenticated());
      return;
    }
    const req = call.request;
    void (async () => {
      try {
        if (req.service === '') throw new LogError('INVALID_ARGUMENT', 'service is empty');
        const ckpt = req.skipCheckpoint ? undefined : this.store.latestCheckpoint(req.service);
        if (ckpt) call.write({ checkpoint: ckpt, records: [] });
        const kinds = req.kinds.length > 0 ? readKinds(req.kinds) : undefined;
        const opts = { fromOffset: req.fromOffset, ...(req.connId !== '' ? { connId: req.connId } : {}), ...(kinds ? { kinds } : {}) };
        for await (const batch of this.store.read(req.service, opts)) {
          if (call.cancelled) return;
          if (!call.write({ checkpoint: undefined, records: batch })) {
            await new Promise<void>((resolve) => {
              call.once('drain', resolve);
              call.once('close', resolve);
            });
          }
        }
        call.end();
      } catch (err) {
        call.emit('error', toStatus(err));
      }
    })();
  }

  private checkpoint(call: grpc.ServerUnaryCall<CheckpointRequest, CheckpointResponse>, cb: grpc.sendUnaryData<CheckpointResponse>): void {
    if (!this.authorized(call.metadata)) return cb(this.unauthenticated());
    const req = call.request;
    void (async () => {
      try {
        if (!req.service || req.service.name === '') throw new LogError('INVALID_ARGUMENT', 'service.name is empty');
        const r = await this.store.checkpoint(req.service.name, req.service.epoch, req.state, req.positions);
        cb(null, r);
      } catch (err) {
        if (!(err instanceof LogError)) this.log.error({ err: String(err) }, 'checkpoint failed');
        cb(toStatus(err));
      }
    })();
  }

  private stats(call: grpc.ServerUnaryCall<StatsRequest, StatsResponse>, cb: grpc.sendUnaryData<StatsResponse>): void {
    if (!this.authorized(call.metadata)) return cb(this.unauthenticated());
    cb(null, this.store.stats(call.request.service || undefined));
  }
}

/** A socket file left by a dead server is removed; one with a live server is an error. */
async function removeStaleSocket(path: string): Promise<void> {
  let st;
  try {
    st = await fsp.lstat(path);
  } catch {
    return;
  }
  if (!st.isSocket()) throw new Error(`cannot listen on unix:${path}: the path exists and is not a socket`);
  const live = await new Promise<boolean>((resolve) => {
    const s = connect(path);
    s.once('connect', () => {
      s.destroy();
      resolve(true);
    });
    s.once('error', () => resolve(false));
  });
  if (live) throw new Error(`cannot listen on unix:${path}: another server is listening there`);
  await fsp.rm(path, { force: true });
}

function readKinds(fields: number[]): Set<Kind> {
  const out = new Set<Kind>();
  for (const f of fields) {
    const k = kindOfFieldNumber(f);
    if (k === undefined) throw new LogError('INVALID_ARGUMENT', `read: ${f} is not a record kind (Record.kind field numbers are 10-19)`);
    out.add(k);
  }
  return out;
}
