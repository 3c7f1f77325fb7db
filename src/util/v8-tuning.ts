// V8 tuning for ftcp's long-running processes (`ftcp run`, `ftcp standby`, `ftcp logd`), applied
// by the CLI entry's first import (src/cli/v8-setup.ts), before the rest of the code is loaded.
//
// Why: at low load a log append or a relayed segment comes every few milliseconds. V8 promotes a
// function to optimized code once it has run through an "interrupt budget" of bytecode (67 584
// bytes by default), so at a few hundred requests per second the per-request path stays in
// baseline code for minutes, and baseline code runs 2–3× slower, after every idle pause, than
// optimized code. Measured (docs/PERFORMANCE.md, issue 3): a 64 B append to `ftcp logd` and back
// to durable, one every 2 ms, p50 870–970 µs with the default budget, 640–690 µs with 8 192.
// FTCP_V8_INTERRUPT_BUDGET sets another value; 0 keeps V8's default.
import { setFlagsFromString } from 'node:v8';

export const DEFAULT_INTERRUPT_BUDGET = 8192;

/** The budget to apply from the environment's value: undefined = V8's own default. */
export function interruptBudgetFrom(env: string | undefined): number | undefined {
  if (env === undefined || env.trim() === '') return DEFAULT_INTERRUPT_BUDGET;
  const n = Number(env);
  if (!Number.isInteger(n) || n < 0 || n > 1 << 30) {
    throw new Error(`FTCP_V8_INTERRUPT_BUDGET must be a whole number of bytes (0 keeps V8's default), not "${env}"`);
  }
  return n === 0 ? undefined : n;
}

/** Applies the settings for this process (throws on a bad FTCP_V8_INTERRUPT_BUDGET). */
export function applyV8Tuning(env: NodeJS.ProcessEnv = process.env): void {
  const budget = interruptBudgetFrom(env.FTCP_V8_INTERRUPT_BUDGET);
  if (budget !== undefined) setFlagsFromString(`--interrupt-budget=${budget}`);
}
