// Is the supervised app alive? A FIN/RST from its stack is a close only if it is; during a
// crash the kernel closes the dead process's sockets while it is still exiting (PF_EXITING)
// or a zombie, before the supervisor hears of the exit.
import { readFileSync } from 'node:fs';

const PF_EXITING = 0x4;

/** State letter and flags of /proc/PID/stat, or null when the process is gone. */
export function procState(pid: number): { state: string; flags: number } | null {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const rest = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return { state: rest[0] ?? '?', flags: Number(rest[6] ?? 0) };
  } catch {
    return null;
  }
}

export function isProcessAlive(pid: number | undefined): boolean {
  if (pid === undefined) return false;
  const st = procState(pid);
  if (st === null) return false;
  if (st.state === 'Z' || st.state === 'X' || st.state === 'x') return false;
  return (st.flags & PF_EXITING) === 0;
}
