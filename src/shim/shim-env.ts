// Where the shim logs, from the environment `ftcp run` gives the app.
export interface ShimEnv {
  /** gRPC target of the log server (`unix:/path` or host:port). */
  logTarget: string;
  service: string;
  /** How long a replay waits for a restored connection or its bytes before giving up on it. */
  restoreTimeoutMs: number;
  /** The log's epoch (a primary's lease epoch on a replicated log; 0 otherwise): older writers are fenced. */
  epoch: number;
}

export class ShimEnvError extends Error {}

/** The shim's configuration, or undefined when the app runs outside `ftcp run`. */
export function readShimEnv(env: NodeJS.ProcessEnv = process.env): ShimEnv | undefined {
  const target = env.FTCP_LOG_TARGET;
  const service = env.FTCP_SERVICE;
  // `ftcp run --no-log` sets FTCP_SERVICE only: nothing is logged, the shim is plain node:net.
  if (!target) return undefined;
  if (!service) throw new ShimEnvError('ftcp/shim: FTCP_LOG_TARGET is set but FTCP_SERVICE is not: set both (ftcp run does) or neither');
  const t = env.FTCP_SHIM_RESTORE_TIMEOUT_MS;
  const restoreTimeoutMs = t === undefined ? 10_000 : Number(t);
  if (!Number.isFinite(restoreTimeoutMs) || restoreTimeoutMs <= 0) {
    throw new ShimEnvError(`ftcp/shim: FTCP_SHIM_RESTORE_TIMEOUT_MS must be a positive number of milliseconds, got "${t}"`);
  }
  const e = env.FTCP_LOG_EPOCH;
  const epoch = e === undefined || e === '' ? 0 : Number(e);
  if (!Number.isSafeInteger(epoch) || epoch < 0) {
    throw new ShimEnvError(`ftcp/shim: FTCP_LOG_EPOCH must be a non-negative integer (ftcp run sets it), got "${e}"`);
  }
  return { logTarget: target.startsWith('unix:') || target.includes(':') ? target : `unix:${target}`, service, restoreTimeoutMs, epoch };
}
