// One daemon per service name: a pid file under /run/ftcp tells a live owner (busy) from
// state left behind by a daemon that died (stale, to be cleaned up).
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';

export const RUN_DIR = process.env.FTCP_RUN_DIR ?? '/run/ftcp';

export function pidFilePath(name: string): string {
  return `${RUN_DIR}/${name}.pid`;
}

function isLiveFtcp(pid: number): boolean {
  if (pid === process.pid) return false;
  try {
    process.kill(pid, 0);
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
  try {
    // A recycled pid belongs to some other program: only an ftcp daemon counts as the owner.
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8').includes('ftcp');
  } catch {
    return false;
  }
}

export type LockResult = { ok: true } | { ok: false; ownerPid: number };

/** Takes the name; reports the live owner if there is one. A dead owner's file is replaced. */
export function acquireInstanceLock(name: string): LockResult {
  mkdirSync(RUN_DIR, { recursive: true, mode: 0o755 });
  const path = pidFilePath(name);
  try {
    writeFileSync(path, `${process.pid}\n`, { flag: 'wx', mode: 0o644 });
    return { ok: true };
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
  }
  const owner = Number(readFileSync(path, 'utf8').trim());
  if (Number.isInteger(owner) && owner > 0 && isLiveFtcp(owner)) return { ok: false, ownerPid: owner };
  writeFileSync(path, `${process.pid}\n`, { mode: 0o644 });
  return { ok: true };
}

export function releaseInstanceLock(name: string): void {
  const path = pidFilePath(name);
  try {
    if (Number(readFileSync(path, 'utf8').trim()) === process.pid) rmSync(path, { force: true });
  } catch {
    /* already gone */
  }
}
