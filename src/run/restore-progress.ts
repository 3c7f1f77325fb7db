// Progress of a mass restore, once a second while it lasts (a thousand connections take about half
// a second here, more on a busy host): how many are back, how many still replaying, how many gave up.
import type { Logger } from '../util/logger.js';
import type { SecondWrapper } from '../wrapper/second-wrapper.js';

export interface RestoreTally {
  restoring: number;
  normal: number;
  total: number;
}

export function tallyRestore(wrapper: Pick<SecondWrapper, 'conns'>): RestoreTally {
  let restoring = 0;
  let normal = 0;
  for (const c of wrapper.conns.all()) {
    if (c.state === 'REPLAYING' || c.state === 'RECOVERING') restoring++;
    else if (c.state === 'NORMAL') normal++;
  }
  return { restoring, normal, total: restoring + normal };
}

/** Logs progress every `everyMs` until nothing is restoring, the app is down again, or `stop`. */
export function reportRestoreProgress(wrapper: SecondWrapper, log: Pick<Logger, 'info'>, stop: AbortSignal, everyMs = 1000): void {
  const started = Date.now();
  const tick = (): void => {
    if (stop.aborted || wrapper.appDown) return;
    const t = tallyRestore(wrapper);
    if (t.restoring === 0) return;
    log.info({ restored: t.normal, restoring: t.restoring, ms: Date.now() - started }, `restoring connections: ${t.normal} of ${t.total} back`);
    setTimeout(tick, everyMs).unref();
  };
  setTimeout(tick, everyMs).unref();
}
