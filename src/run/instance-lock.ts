// One daemon per service name: a pid file under /run/ftcp tells a live owner (busy) from
// state left behind by a daemon that died (stale, to be cleaned up). The file holds the pid and
// the process start time, so a recycled pid is not mistaken for the owner.
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';

export const RUN_DIR = process.env.FTCP_RUN_DIR ?? '/run/ftcp';

export function pidFilePath(name: string): string {
  return `${RUN_DIR}/${name}.pid`;
}

/** Start time of a process in clock ticks since boot (field 22 of /proc/PID/stat), or null. */
export function processStartTime(pid: number): string | null {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // The command name (field 2) may contain spaces and parentheses: count from the last ')'.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return fields[19] ?? null;
  } catch {
    return null;
  }
}

function ownerRecord(): string {
  return `${process.pid} ${processStartTime(process.pid) ?? '?'}\n`;
}

export type LockResult = { ok: true } | { ok: false; ownerPid: number };

/** Takes the name; reports the live owner if there is one. A dead owner's file is replaced. */
export function acquireInstanceLock(name: string): LockResult {
  mkdirSync(RUN_DIR, { recursive: true, mode: 0o755 });
  const path = pidFilePath(name);
  try {
    writeFileSync(path, ownerRecord(), { flag: 'wx', mode: 0o644 });
    return { ok: true };
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
  }
  const [pidText, started] = readFileSync(path, 'utf8').trim().split(' ');
  const owner = Number(pidText);
  if (Number.isInteger(owner) && owner > 0 && owner !== process.pid && processStartTime(owner) === started) {
    return { ok: false, ownerPid: owner };
  }
  writeFileSync(path, ownerRecord(), { mode: 0o644 });
  return { ok: true };
}

export function releaseInstanceLock(name: string): void {
  const path = pidFilePath(name);
  try {
    if (Number(readFileSync(path, 'utf8').trim().split(' ')[0]) === process.pid) rmSync(path, { force: true });
  } catch {
    /* already gone */
  }
}
