// Recovery durations without touching the wrapper: from the crash (the supervisor's exit event) to
// each held connection being NORMAL again. The connection table is polled only while something
// recovers (every `tickMs`, so durations are exact to about that), never per packet.
import type { ConnView } from '../status/snapshot.js';

export interface CrashEvents {
  on(event: 'exit', listener: (e: { willRestart: boolean }) => void): unknown;
  off(event: 'exit', listener: (e: { willRestart: boolean }) => void): unknown;
}

export interface RecoveringWrapper {
  readonly appDown: boolean;
  readonly conns: { all(): Iterable<ConnView> };
}

export interface RecoveryTrackerOptions {
  /** The current wrapper (undefined before it is built or when the log is off). */
  wrapper: () => RecoveringWrapper | undefined;
  /** Duration of one connection's recovery, crash to NORMAL. */
  observeMs: (ms: number) => void;
  /** The supervisor: its 'exit' with willRestart marks the crash. */
  crashes?: CrashEvents;
  tickMs?: number;
  /** Idle check for crashes the wrapper detects by itself (an unexplained FIN/RST). */
  idleCheckMs?: number;
  now?: () => number;
}

export class RecoveryTracker {
  private readonly tracked = new Map<ConnView, number>();
  private crashAt: number | undefined;
  private ticker: NodeJS.Timeout | undefined;
  private readonly idle: NodeJS.Timeout;
  private readonly onExit = (e: { willRestart: boolean }): void => {
    if (!e.willRestart) return;
    this.crashAt = this.now();
    this.startTicking();
  };
  private readonly now: () => number;
  private readonly tickMs: number;

  constructor(private readonly opts: RecoveryTrackerOptions) {
    this.now = opts.now ?? (() => performance.now());
    this.tickMs = opts.tickMs ?? 10;
    opts.crashes?.on('exit', this.onExit);
    this.idle = setInterval(() => {
      if (this.opts.wrapper()?.appDown) this.startTicking();
    }, opts.idleCheckMs ?? 100);
    this.idle.unref();
  }

  /** Connections being followed now (tests). */
  get following(): number {
    return this.tracked.size;
  }

  private startTicking(): void {
    if (this.ticker) return;
    this.ticker = setInterval(() => this.tick(), this.tickMs);
    this.ticker.unref();
  }

  /** One look at the table; public so tests can step it. */
  tick(): void {
    const w = this.opts.wrapper();
    const now = this.now();
    const seen = new Set<ConnView>();
    if (w) {
      for (const c of w.conns.all()) {
        seen.add(c);
        const start = this.tracked.get(c);
        if (c.state === 'RECOVERING' || c.state === 'REPLAYING') {
          if (start === undefined) this.tracked.set(c, w.appDown && this.crashAt !== undefined ? this.crashAt : now);
        } else if (start !== undefined) {
          // NORMAL again, or closed/reset (a divergence, the client gave up): only the first is a recovery.
          if (c.state === 'NORMAL') this.opts.observeMs(Math.max(0, now - start));
          this.tracked.delete(c);
        }
      }
    }
    for (const c of this.tracked.keys()) if (!seen.has(c)) this.tracked.delete(c);
    if (this.tracked.size === 0 && !w?.appDown && this.ticker) {
      clearInterval(this.ticker);
      this.ticker = undefined;
      this.crashAt = undefined;
    }
  }

  close(): void {
    this.opts.crashes?.off('exit', this.onExit);
    clearInterval(this.idle);
    if (this.ticker) clearInterval(this.ticker);
    this.ticker = undefined;
  }
}
