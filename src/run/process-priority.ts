// The protected service's CPU priority: the relay thread, V8's compiler and the TUN threads of the
// daemon, and the app (children inherit the nice value of the thread that forks them).
import { readdirSync } from 'node:fs';
import { getPriority, setPriority } from 'node:os';

export interface PriorityResult {
  /** Threads given the nice value. */
  threads: number;
  /** Why it could not be set (the first failure), or undefined. */
  error: string | undefined;
}

/**
 * Gives every thread of this process the nice value. On Linux a nice value belongs to a thread
 * (setpriority on a thread id), so the threads that exist now (V8's workers, the event loop) are
 * set one by one; threads started later inherit it from the thread that starts them.
 */
export function setProcessNice(nice: number, taskDir = '/proc/self/task'): PriorityResult {
  let tids: number[];
  try {
    tids = readdirSync(taskDir).map(Number).filter((t) => Number.isInteger(t) && t > 0);
  } catch (err) {
    return { threads: 0, error: (err as Error).message };
  }
  let threads = 0;
  for (const tid of tids) {
    try {
      if (getPriority(tid) !== nice) setPriority(tid, nice);
      threads++;
    } catch (err) {
      // A thread that ended meanwhile is not an error; a refusal (EACCES: no CAP_SYS_NICE) is.
      // os.setPriority throws a SystemError: the errno's name is in `info.code`.
      const code = (err as { info?: { code?: string } }).info?.code;
      if (code === 'ESRCH') continue;
      return { threads, error: (err as Error).message };
    }
  }
  return { threads, error: undefined };
}
