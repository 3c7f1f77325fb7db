// When the daemon runs its JIT warm-up drill (src/wrapper/warm-up.ts): once soon after start (a
// standby while it follows the log, a primary once it is ready), then every few minutes, so that
// V8 keeps the restore path compiled in a process that may not restore for weeks. Never while a
// restore is under way. FTCP_WARM_UP_CONNECTIONS (default 1000, 0 = off) sizes each drill.
import type { Logger } from '../util/logger.js';
import { warmUpWrapper } from '../wrapper/warm-up.js';

const DEFAULT_CONNECTIONS = 1000;
const EVERY_MS = 5 * 60_000;
/**
 * Drills back to back the first time. The first one changes the layout V8 chose for the
 * connection objects (fields that met values above 2^30 become doubles), which throws away the
 * code optimized meanwhile ("wrong map" deopts: 25 in a first drill of 1000 connections, none in
 * the next ones); the later ones optimize against the final layout (733, 436, 265 ms a drill).
 */
const FIRST_DRILLS = 3;

/** Connections per drill from the environment; 0 turns the drill off. Throws on a bad value. */
export function warmUpConnections(env: NodeJS.ProcessEnv = process.env): number {
  const raw = env.FTCP_WARM_UP_CONNECTIONS;
  if (raw === undefined || raw === '') return DEFAULT_CONNECTIONS;
  const n = Number(raw);
  if (!Number.isInteger(n) || n < 0 || n > 10_000) {
    throw new Error(`FTCP_WARM_UP_CONNECTIONS must be an integer 0-10000 (0 = no warm-up drill), got ${JSON.stringify(raw)}`);
  }
  return n;
}

/** Starts the drills; returns a stop function. `busy()`: a restore is under way (skip this one). */
export function scheduleWarmUps(opts: { vnetHdrLen: number; connections: number; busy: () => boolean; log: Logger; firstInMs?: number }): () => void {
  if (opts.connections === 0) return () => undefined;
  let timer: NodeJS.Timeout | undefined;
  let stopped = false;
  let drills = 0;
  let firstMs = 0;
  const run = (): void => {
    if (stopped) return;
    if (opts.busy()) {
      timer = setTimeout(run, EVERY_MS).unref();
      return;
    }
    warmUpWrapper({ vnetHdrLen: opts.vnetHdrLen, connections: opts.connections, stop: () => stopped || opts.busy() }).then(
      (r) => {
        opts.log.debug(r, 'warm-up drill done');
        if (drills < FIRST_DRILLS) firstMs += r.ms;
        // Said once: until then the daemon spends a CPU on the drills (a benchmark waits for it).
        if (drills === FIRST_DRILLS - 1) opts.log.info({ drills: FIRST_DRILLS, connections: opts.connections, ms: Math.round(firstMs) }, 'warm-up drills done: the restore path is compiled');
      },
      (err: unknown) => opts.log.warn({ err }, 'warm-up drill failed (restores still work, only slower the first time)'),
    ).finally(() => {
      drills++;
      if (!stopped) timer = setTimeout(run, drills < FIRST_DRILLS ? 0 : EVERY_MS).unref();
    });
  };
  timer = setTimeout(run, opts.firstInMs ?? 0).unref();
  return () => {
    stopped = true;
    if (timer) clearTimeout(timer);
  };
}
