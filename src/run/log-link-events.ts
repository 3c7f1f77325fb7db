// One warning when the daemon loses its log server and one line when it is back: while it is
// gone, clients are held (their bytes are not acknowledged), nothing is lost.
import type { EventEmitter } from 'node:events';
import type { Logger } from '../util/logger.js';

export function watchLogLink(client: EventEmitter, log: Pick<Logger, 'warn' | 'info'>, now: () => number = Date.now): void {
  let lostAt: number | undefined;
  client.on('disconnect', (err: Error) => {
    if (lostAt !== undefined) return;
    lostAt = now();
    log.warn({ err: err.message }, 'log server lost: client bytes are not acknowledged until it is back (clients stall, nothing is lost)');
  });
  client.on('durable', () => {
    if (lostAt === undefined) return;
    log.info({ ms: now() - lostAt }, 'log server regained');
    lostAt = undefined;
  });
}
