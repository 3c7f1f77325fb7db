// Runs the protected app inside its namespace and restarts it by policy, with backoff.
import { spawn, type ChildProcess } from 'node:child_process';
import { EventEmitter } from 'node:events';
import type { Logger } from '../util/logger.js';

export type RestartPolicy = 'no' | 'on-failure' | 'always';

export interface SupervisorOptions {
  netns: string;
  command: string[];
  restart: RestartPolicy;
  env?: NodeJS.ProcessEnv;
  log: Logger;
  /** First restart delay; doubles per quick crash up to maxBackoffMs. */
  minBackoffMs?: number;
  maxBackoffMs?: number;
  /** An app that ran this long counts as healthy again: the backoff resets. */
  healthyAfterMs?: number;
}

export interface AppExit {
  code: number | null;
  signal: NodeJS.Signals | null;
  /** Whether the exit is a failure (non-zero code or killed by a signal). */
  failed: boolean;
  willRestart: boolean;
}

/**
 * Events: 'spawn' (pid), 'exit' (AppExit), 'stopped' (final AppExit: no restart follows).
 */
export class Supervisor extends EventEmitter {
  private child: ChildProcess | undefined;
  private stopping = false;
  private backoffMs: number;
  private restartTimer: NodeJS.Timeout | undefined;
  private quickCrashes = 0;
  private startedAt = 0;
  restarts = 0;

  constructor(private readonly opts: SupervisorOptions) {
    super();
    this.backoffMs = opts.minBackoffMs ?? 100;
  }

  get pid(): number | undefined {
    return this.child?.pid;
  }

  get running(): boolean {
    return this.child !== undefined;
  }

  start(): void {
    const { netns, command, env, log } = this.opts;
    this.startedAt = Date.now();
    // `ip netns exec` execs the command itself, so the child's pid is the app's pid.
    const child = spawn('ip', ['netns', 'exec', netns, ...command], {
      stdio: ['ignore', 'inherit', 'inherit'],
      env: env ?? process.env,
    });
    this.child = child;
    child.once('spawn', () => {
      log.info({ pid: child.pid, command }, 'app started');
      this.emit('spawn', child.pid);
    });
    child.once('error', (err) => log.error({ err }, 'cannot start the app'));
    child.once('exit', (code, signal) => this.onExit(code, signal));
  }

  private onExit(code: number | null, signal: NodeJS.Signals | null): void {
    const { log, restart } = this.opts;
    this.child = undefined;
    const failed = code !== 0;
    const willRestart = !this.stopping && (restart === 'always' || (restart === 'on-failure' && failed));
    const info: AppExit = { code, signal, failed, willRestart };
    log[failed && !this.stopping ? 'warn' : 'info']({ code, signal, willRestart }, 'app exited');
    this.emit('exit', info);
    if (!willRestart) {
      this.emit('stopped', info);
      return;
    }
    const ranMs = Date.now() - this.startedAt;
    if (ranMs >= (this.opts.healthyAfterMs ?? 10_000)) {
      this.backoffMs = this.opts.minBackoffMs ?? 100;
      this.quickCrashes = 0;
    } else {
      this.quickCrashes++;
      if (this.quickCrashes === 5 || (this.quickCrashes > 5 && this.quickCrashes % 10 === 0)) {
        log.error(
          { crashes: this.quickCrashes },
          `the app keeps crashing within ${Math.round((this.opts.healthyAfterMs ?? 10_000) / 1000)} s of starting: check its output above; restarting with backoff`,
        );
      }
    }
    const delay = this.quickCrashes === 0 ? 0 : this.backoffMs;
    if (this.quickCrashes > 0) this.backoffMs = Math.min(this.backoffMs * 2, this.opts.maxBackoffMs ?? 5_000);
    this.restartTimer = setTimeout(() => {
      this.restartTimer = undefined;
      if (this.stopping) return;
      this.restarts++;
      this.start();
    }, delay);
  }

  /** Stops the app (SIGTERM, then SIGKILL after graceMs) and any pending restart. */
  async stop(graceMs = 5_000): Promise<void> {
    this.stopping = true;
    if (this.restartTimer) clearTimeout(this.restartTimer);
    const child = this.child;
    if (!child) return;
    await new Promise<void>((resolve) => {
      const kill = setTimeout(() => child.kill('SIGKILL'), graceMs);
      child.once('exit', () => {
        clearTimeout(kill);
        resolve();
      });
      child.kill('SIGTERM');
    });
  }
}
