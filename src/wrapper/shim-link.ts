// What the daemon learns in-process from the shim (first wrapper) when the log server is embedded
// in it: close intents, as soon as they are durable (so the stack's FIN/RST is a close, not a crash),
// and the end of the shim's log session (a crash signal). With a remote log server (ftcp logd) the
// daemon sees neither and falls back to the liveness judgment and the supervisor.
import { tupleKeyOfConnId } from '../log/conn-key.js';
import { Record } from '../log/gen/ftcp/v1/log.js';
import { Kind } from '../log/record-meta.js';
import type { LogServer } from '../log/server.js';
import type { LogStore } from '../log/store.js';
import type { Logger } from '../util/logger.js';

/** The shim's LogClient names its Append stream `shim-<pid>-<uuid>`. */
export const SHIM_STREAM_PREFIX = 'shim-';

export interface ShimSignals {
  closeIntent(tuple: string, how: number, serverOffset: number): void;
  shimSessionLost(streamId: string): void;
  /** A checkpoint was stored: log the open connections' records again (see retention.ts). */
  checkpointStored(): void;
}

export interface ShimLinkOptions {
  store: LogStore;
  server?: LogServer;
  /** The protected service: records of other services are not this daemon's. */
  service: string;
  wrapper: ShimSignals;
  logger: Logger;
}

/** Wires the embedded log to the wrapper; returns the unlink. */
export function linkShim(opts: ShimLinkOptions): () => void {
  const { service, wrapper, logger } = opts;
  const offIntent = opts.store.onDurableRecord(Kind.CloseIntent, (svc, _streamId, connId, raw) => {
    if (svc !== service) return;
    const r = Record.decode(raw); // validated at append
    if (r.kind?.$case !== 'closeIntent') return;
    const { how, serverOffset } = r.kind.value;
    logger.debug({ conn: connId, how, serverOffset }, 'close intent');
    wrapper.closeIntent(tupleKeyOfConnId(connId), how, serverOffset);
  });
  const offEnd = opts.server?.onAppendStreamEnd((svc, streamId, how) => {
    if (svc !== service || !streamId.startsWith(SHIM_STREAM_PREFIX)) return;
    logger.debug({ streamId, how }, "the shim's log session ended");
    // The session may drop a moment before the kernel marks the process as exiting: look twice.
    wrapper.shimSessionLost(streamId);
    setTimeout(() => wrapper.shimSessionLost(streamId), 20).unref();
  });
  const offCheckpoint = opts.store.onCheckpoint((svc) => {
    if (svc === service) wrapper.checkpointStored();
  });
  return () => {
    offIntent();
    offEnd?.();
    offCheckpoint();
  };
}
