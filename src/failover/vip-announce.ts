// Gratuitous ARP for the VIP: `arping -U` (Debian iputils-arping) sends "who-has VIP tell VIP"
// broadcasts from the LAN link's MAC, and every neighbour that has the VIP cached takes the new MAC
// at once (Linux overrides a cached entry for a gratuitous ARP, whatever its lock time).
//
// arping binds a socket to its source address, and the VIP is not a local address of this host
// (it is routed into the daemon's TUN): the bind fails with EADDRNOTAVAIL. The namespace's
// net.ipv4.ip_nonlocal_bind is therefore set to 1 only from arping's start until it has bound
// (its "ARPING" header, line-buffered through stdbuf, is printed after the bind), then put back.
import { spawn, execFile, type ChildProcess } from 'node:child_process';
import type { Logger } from '../util/logger.js';
import { VipError } from './vip-errors.js';
import { readSysctl, writeSysctl } from './vip-sysctl.js';

const NONLOCAL_BIND = 'net/ipv4/ip_nonlocal_bind';
const START_TIMEOUT_MS = 5_000;

export interface AnnounceResult {
  ok: boolean;
  /** Gratuitous ARPs arping reports sent (0 when it failed to start). */
  sent: number;
  error?: string;
}

export interface Announcement {
  /** Settles once arping has exited (after COUNT announcements, one a second, or stop()). */
  readonly done: Promise<AnnounceResult>;
  /** Stops the remaining announcements. Idempotent. */
  stop(): void;
}

/** The argv that announces VIP on LANIF COUNT times (stdbuf: the header line arrives at once). */
export function arpingArgv(vip: string, lanIf: string, count: number): string[] {
  if (!Number.isInteger(count) || count < 1 || count > 100) throw new RangeError(`announce count must be 1..100, got ${count}`);
  return ['stdbuf', '-oL', 'arping', '-U', '-c', String(count), '-I', lanIf, vip];
}

/** Parses arping's summary ("Sent 3 probes (3 broadcast(s))"). */
export function parseArpingSent(stdout: string): number {
  const m = /Sent (\d+) probes?/.exec(stdout);
  return m ? Number(m[1]) : 0;
}

// Claims in one process take turns with the sysctl window (a second claim must not put 0 back
// while the first one's arping has not bound yet).
let windowQueue: Promise<unknown> = Promise.resolve();

function inNonlocalWindow<T>(fn: () => Promise<T>): Promise<T> {
  const run = windowQueue.then(async () => {
    const previous = readSysctl(NONLOCAL_BIND);
    if (previous !== '1') writeSysctl(NONLOCAL_BIND, '1');
    try {
      return await fn();
    } finally {
      if (previous !== '1') writeSysctl(NONLOCAL_BIND, previous);
    }
  });
  windowQueue = run.catch(() => undefined);
  return run;
}

/**
 * Starts announcing VIP on LANIF; resolves once the first gratuitous ARP is on its way (the rest
 * follow a second apart in the background). Rejects with VipError('announce-failed') when arping
 * cannot start (not installed, link down, …).
 */
export async function announceVip(vip: string, lanIf: string, count: number, log: Logger): Promise<Announcement> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await startArping(vip, lanIf, count, log);
    } catch (err) {
      // Another process's claim may have put ip_nonlocal_bind back before this arping bound.
      if (attempt >= 3 || !/Cannot assign requested address/.test((err as Error).message)) throw err;
      log.warn({ vip, lanIf, attempt }, 'arping could not bind the VIP: retrying');
    }
  }
}

function startArping(vip: string, lanIf: string, count: number, log: Logger): Promise<Announcement> {
  const argv = arpingArgv(vip, lanIf, count);
  return inNonlocalWindow(
    () =>
      new Promise<Announcement>((resolve, reject) => {
        let child: ChildProcess;
        try {
          child = spawn(argv[0]!, argv.slice(1), { stdio: ['ignore', 'pipe', 'pipe'] });
        } catch (err) {
          reject(new VipError('announce-failed', `cannot run arping: ${(err as Error).message}`));
          return;
        }
        let out = '';
        let err = '';
        let started = false;
        // arping reports some failures on stdout ("Interface "eth0" is down"), others on stderr.
        const why = (fallback: string): string => [err.trim(), out.trim()].filter(Boolean).join('; ') || fallback;
        const done = new Promise<AnnounceResult>((settle) => {
          child.once('close', (code, signal) => {
            const sent = parseArpingSent(out);
            if (code === 0) settle({ ok: true, sent });
            else settle({ ok: false, sent, error: why(`arping exited ${code ?? signal}`) });
          });
          child.once('error', (e) => settle({ ok: false, sent: 0, error: e.message }));
        });
        const stop = (): void => {
          if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
        };
        const timer = setTimeout(() => {
          stop();
          fail(`arping did not start within ${START_TIMEOUT_MS} ms`);
        }, START_TIMEOUT_MS);
        const fail = (why: string): void => {
          if (started) return;
          started = true;
          clearTimeout(timer);
          const fix = /ENOENT/.test(why) ? ' (install Debian iputils-arping and coreutils)' : '';
          reject(new VipError('announce-failed', `gratuitous ARP for ${vip} on ${lanIf} failed: ${why}${fix}`));
        };
        child.stdout!.on('data', (d: Buffer) => {
          out += d.toString();
          if (!started && out.includes('ARPING')) {
            started = true;
            clearTimeout(timer);
            log.debug({ vip, lanIf, count }, 'gratuitous ARP started');
            resolve({ done, stop });
          }
        });
        child.stderr!.on('data', (d: Buffer) => (err += d.toString()));
        child.once('error', (e) => fail(e.message));
        child.once('close', (code) => fail(why(`arping exited ${code} before sending`)));
      }),
  );
}

/** Startup check: arping and stdbuf are installed and may run (fail at start, not at takeover). */
export function checkAnnounceTools(): Promise<void> {
  return new Promise((resolve, reject) => {
    execFile('stdbuf', ['-oL', 'arping', '-V'], { timeout: 5_000 }, (err, stdout, stderr) => {
      if (!err && /iputils/.test(stdout)) {
        resolve();
        return;
      }
      reject(new VipError('announce-failed', announceToolsProblem((err as NodeJS.ErrnoException | null)?.code, String(stderr))));
    });
  });
}

/** What to fix when `stdbuf -oL arping -V` failed (exec's error code, or stdbuf's exit code and words). */
export function announceToolsProblem(code: string | number | undefined, stderr: string): string {
  if (code === 'ENOENT') return 'stdbuf is needed to announce the VIP (arping through it): install Debian coreutils';
  // stdbuf exits 126 when it cannot run the command: arping's file capability (cap_net_raw) is
  // outside the capability bounding set, so the kernel refuses to run it.
  if (code === 126 || /Operation not permitted|Permission denied/.test(stderr)) {
    return 'arping may not run here (Operation not permitted): it needs CAP_NET_RAW in the capability bounding set (CapabilityBoundingSet= of the unit ftcp@ has it) to announce the VIP';
  }
  return 'arping from iputils is needed to announce the VIP: install Debian iputils-arping';
}
