// V8 tuning for `ftcp logd`, applied when the command starts, before the log server's code
// first runs (V8 sets a function's budget when it first needs feedback, so a flag set then holds).
//
// Why: at low load an append comes every few milliseconds. V8 promotes a function to optimized
// code once it has run through an "interrupt budget" of bytecode (67 584 bytes by default), so at
// a few hundred requests per second the per-request path stays in baseline code for thousands of
// requests, and baseline code runs 2–3× slower, after every idle pause, than optimized code.
// Measured (docs/PERFORMANCE.md, issue 3): a 64 B append to `ftcp logd` and back to durable, one
// every 2 ms from a fresh writer, p50 870–970 µs with the default budget, 640–690 µs with 8 192
// (server and writer tuned).
// Not applied to `ftcp run` / `ftcp standby`: a takeover of 1000 connections was ~80 ms slower
// with it (more functions compiled during the burst, on a CPU the restores need).
// FTCP_V8_INTERRUPT_BUDGET sets another value; 0 keeps V8's default.
import { setFlagsFromString } from 'node:v8';

export const DEFAULT_INTERRUPT_BUDGET = 8192;

/** A bad FTCP_V8_INTERRUPT_BUDGET: the message says what to set. */
export class V8TuningError extends Error {}

/** The budget to apply from the environment's value: undefined = V8's own default. */
export function interruptBudgetFrom(env: string | undefined): number | undefined {
  if (env === undefined || env.trim() === '') return DEFAULT_INTERRUPT_BUDGET;
  const n = Number(env);
  if (!Number.isInteger(n) || n < 0 || n > 1 << 30) {
    throw new V8TuningError(`FTCP_V8_INTERRUPT_BUDGET must be a whole number of bytes (0 keeps V8's default), not "${env}"`);
  }
  return n === 0 ? undefined : n;
}

/** Applies the settings for this process (throws on a bad FTCP_V8_INTERRUPT_BUDGET). */
export function applyV8Tuning(env: NodeJS.ProcessEnv = process.env): void {
  const budget = interruptBudgetFrom(env.FTCP_V8_INTERRUPT_BUDGET);
  if (budget !== undefined) setFlagsFromString(`--interrupt-budget=${budget}`);
}
