// The daemon's structured log: pino, to stderr, so stdout stays free for the ready line.
import { pino, type Logger } from 'pino';
import { TurnBufferedDestination } from './turn-buffered-destination.js';

export type { Logger };

export function createLogger(component: string, level = process.env.FTCP_LOG_LEVEL ?? 'info'): Logger {
  // A line per restored connection in a mass restore: the lines of a turn go in one write.
  return pino({ name: `ftcp-${component}`, level, base: { pid: process.pid } }, TurnBufferedDestination.onFd(2));
}

/** A logger that discards everything (tests, library use). */
export function silentLogger(): Logger {
  return pino({ level: 'silent' });
}
