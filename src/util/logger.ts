// The daemon's structured log: pino, to stderr, so stdout stays free for the ready line.
import { pino, type Logger } from 'pino';

export type { Logger };

export function createLogger(component: string, level = process.env.FTCP_LOG_LEVEL ?? 'info'): Logger {
  return pino({ name: `ftcp-${component}`, level, base: { pid: process.pid } }, pino.destination({ fd: 2, sync: true }));
}

/** A logger that discards everything (tests, library use). */
export function silentLogger(): Logger {
  return pino({ level: 'silent' });
}
