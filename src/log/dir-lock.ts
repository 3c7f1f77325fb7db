// One store process per data directory: a LOCK file holding the owner's pid. A lock left by a
// dead process (kill -9) is taken over; a live owner is a start-up error.
import { promises as fsp } from 'node:fs';
import { join } from 'node:path';

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

export async function lockDataDir(dataDir: string): Promise<() => Promise<void>> {
  const path = join(dataDir, 'LOCK');
  for (let attempt = 0; attempt < 3; attempt++) {
    try {
      await fsp.writeFile(path, `${process.pid}\n`, { flag: 'wx', mode: 0o640 });
      return async () => {
        await fsp.rm(path, { force: true });
      };
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
      const pid = Number((await fsp.readFile(path, 'utf8').catch(() => '')).trim());
      if (Number.isInteger(pid) && pid > 0 && alive(pid)) {
        throw new Error(`data directory ${dataDir} is in use by process ${pid}; stop it or use another --data-dir`);
      }
      await fsp.rm(path, { force: true });
    }
  }
  throw new Error(`cannot lock data directory ${dataDir}`);
}
