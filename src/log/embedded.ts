// An in-process log server for `ftcp run`: the store plus the gRPC service on a unix socket.
import { join } from 'node:path';
import { silentLogger, type Logger } from '../util/logger.js';
import { registerLocalStore, unregisterLocalStore } from './append-sink.js';
import { checkListenSecurity, parseListen } from './listen.js';
import { LogServer, type TlsFiles } from './server.js';
import { LogStore, type Durability } from './store.js';

export interface EmbeddedLogServerOptions {
  /** Segment files live here (fsync); the default socket too. Needed unless `store` and `listen` are given. */
  dataDir?: string;
  /**
   * Serve this already-open store (e.g. a replicated one, src/log/replica) instead of opening one
   * under dataDir; durability/segmentBytes/inlineCommitBytes are then ignored. close() closes it.
   */
  store?: LogStore;
  durability?: Durability;
  /** Listen addresses (`unix:/path`, `host:port`); default `unix:<dataDir>/logd.sock`. */
  listen?: string[];
  token?: string;
  tls?: TlsFiles;
  segmentBytes?: number;
  /** See LogStoreOptions.inlineCommitBytes. */
  inlineCommitBytes?: number;
  log?: Logger;
}

export interface EmbeddedLogServer {
  server: LogServer;
  store: LogStore;
  /** Bound addresses, as clients pass them for `target`. */
  addresses: string[];
  /** Path of the first unix socket, if any. */
  socketPath: string | undefined;
  /** Target for a LogClient: the unix socket when there is one. */
  target: string;
  close(): Promise<void>;
}

export async function startEmbeddedLogServer(opts: EmbeddedLogServerOptions): Promise<EmbeddedLogServer> {
  const log = opts.log ?? silentLogger();
  if (opts.dataDir === undefined && (opts.store === undefined || opts.listen === undefined)) {
    throw new Error('embedded log server: give dataDir (or both store and listen)');
  }
  const specs = (opts.listen ?? [`unix:${join(opts.dataDir!, 'logd.sock')}`]).map(parseListen);
  checkListenSecurity(specs, { tls: opts.tls !== undefined, token: opts.token !== undefined });
  const store =
    opts.store ??
    (await LogStore.open({
      dataDir: opts.dataDir!,
      durability: opts.durability ?? 'fsync',
      log,
      ...(opts.segmentBytes !== undefined ? { segmentBytes: opts.segmentBytes } : {}),
      inlineCommitBytes: opts.inlineCommitBytes ?? 0,
    }));
  const server = new LogServer({ store, log, ...(opts.token !== undefined ? { token: opts.token } : {}) });
  let addresses: string[];
  try {
    addresses = await server.listen(specs, opts.tls);
  } catch (err) {
    await server.close();
    throw err;
  }
  registerLocalStore(addresses, store);
  const unix = specs.find((s) => s.kind === 'unix');
  return {
    server,
    store,
    addresses,
    socketPath: unix?.kind === 'unix' ? unix.path : undefined,
    target: addresses.find((a) => a.startsWith('unix:')) ?? addresses[0]!,
    close: async () => {
      unregisterLocalStore(store);
      await server.close();
    },
  };
}
