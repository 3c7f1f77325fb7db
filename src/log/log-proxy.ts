// The app's door to a log server on another host. The app's shim writes to the log too, but its
// namespace has no route to the LAN, and it should not hold the log's token: the daemon listens
// on a unix socket in its data directory (the app shares the host's filesystem) and forwards
// every Log RPC there, as bytes, to the remote server over its own channel, with TLS and the
// bearer token. Nothing is decoded or buffered beyond gRPC's own flow control.
import { chmodSync, rmSync } from 'node:fs';
import * as grpc from '@grpc/grpc-js';
import type { LogClientTls } from './client.js';
import { FLOW_WINDOW, MAX_MESSAGE_BYTES } from './limits.js';
import { LogService } from './gen/ftcp/v1/log.js';
import type { Logger } from '../util/logger.js';

export interface LogProxyOptions {
  /** Where the app's shim connects (a unix socket path). */
  socketPath: string;
  /** The log server on another host, `host:port`. */
  remote: string;
  token?: string;
  tls?: LogClientTls;
  log: Logger;
}

export interface LogProxy {
  /** The gRPC target the shim is given (`unix:PATH`). */
  target: string;
  close(): Promise<void>;
}

const bytes = (b: Buffer): Buffer => b;

function method(path: string, requestStream: boolean, responseStream: boolean): grpc.MethodDefinition<Buffer, Buffer> {
  return { path, requestStream, responseStream, requestSerialize: bytes, requestDeserialize: bytes, responseSerialize: bytes, responseDeserialize: bytes };
}

/** Pipes `from` into `to`, pausing `from` while `to` is full. */
function pipeData(from: NodeJS.ReadableStream & { pause(): void; resume(): void }, to: { write(b: Buffer): boolean; once(ev: 'drain', l: () => void): unknown }): void {
  from.on('data', (b: Buffer) => {
    if (!to.write(b)) {
      from.pause();
      to.once('drain', () => from.resume());
    }
  });
}

/** A status to pass back to the shim: the remote's own, or UNAVAILABLE with why. */
function statusOf(err: unknown): Partial<grpc.StatusObject> {
  const e = err as Partial<grpc.ServiceError>;
  return { code: typeof e.code === 'number' ? e.code : grpc.status.UNAVAILABLE, details: e.details ?? (err instanceof Error ? err.message : String(err)) };
}

export async function startLogProxy(opts: LogProxyOptions): Promise<LogProxy> {
  const creds = opts.tls ? grpc.credentials.createSsl(opts.tls.ca ?? null, opts.tls.key ?? null, opts.tls.cert ?? null) : grpc.credentials.createInsecure();
  const channelOpts: grpc.ChannelOptions = {
    'grpc.max_receive_message_length': MAX_MESSAGE_BYTES,
    'grpc.max_send_message_length': MAX_MESSAGE_BYTES,
    'grpc-node.flow_control_window': FLOW_WINDOW,
  };
  const remote = new grpc.Client(opts.remote, creds, channelOpts);
  const metadata = (): grpc.Metadata => {
    const m = new grpc.Metadata();
    if (opts.token !== undefined) m.set('authorization', `Bearer ${opts.token}`);
    return m;
  };
  const S = LogService;
  const definition: grpc.ServiceDefinition = {
    append: method(S.append.path, true, true),
    read: method(S.read.path, false, true),
    checkpoint: method(S.checkpoint.path, false, false),
    stats: method(S.stats.path, false, false),
  };
  const unary = (path: string) => (call: grpc.ServerUnaryCall<Buffer, Buffer>, cb: grpc.sendUnaryData<Buffer>): void => {
    remote.makeUnaryRequest(path, bytes, bytes, call.request, metadata(), (err, res) => (err ? cb(statusOf(err)) : cb(null, res)));
  };
  const server = new grpc.Server(channelOpts);
  server.addService(definition, {
    append: (call: grpc.ServerDuplexStream<Buffer, Buffer>) => {
      const up = remote.makeBidiStreamRequest(S.append.path, bytes, bytes, metadata());
      pipeData(call, up);
      pipeData(up, call);
      call.on('end', () => up.end());
      call.on('cancelled', () => up.cancel());
      up.on('error', (err) => call.destroy(statusOf(err) as Error));
      up.on('end', () => call.end());
    },
    read: (call: grpc.ServerWritableStream<Buffer, Buffer>) => {
      const up = remote.makeServerStreamRequest(S.read.path, bytes, bytes, call.request, metadata());
      pipeData(up, call);
      call.on('cancelled', () => up.cancel());
      up.on('error', (err) => call.destroy(statusOf(err) as Error));
      up.on('end', () => call.end());
    },
    checkpoint: unary(S.checkpoint.path),
    stats: unary(S.stats.path),
  });
  rmSync(opts.socketPath, { force: true }); // a socket left by a killed daemon
  await new Promise<void>((resolve, reject) =>
    server.bindAsync(`unix:${opts.socketPath}`, grpc.ServerCredentials.createInsecure(), (err) => (err ? reject(err) : resolve())),
  );
  chmodSync(opts.socketPath, 0o660);
  opts.log.info({ socket: opts.socketPath, remote: opts.remote }, "the app's shim reaches the log server through this daemon");
  return {
    target: `unix:${opts.socketPath}`,
    close: async () => {
      // The app (stopped first) has ended its calls; one that hangs on is cut after a moment.
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([
        new Promise<void>((resolve) => server.tryShutdown(() => resolve())),
        new Promise<void>((resolve) => (timer = setTimeout(resolve, 2_000))),
      ]);
      clearTimeout(timer);
      server.forceShutdown();
      remote.close();
      rmSync(opts.socketPath, { force: true });
    },
  };
}
