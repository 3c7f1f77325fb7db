// Runs `ftcp logd` as a child process for the integration tests (built dist/, real disk).
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { existsSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';

export const ROOT = new URL('../../../', import.meta.url).pathname;
export const MAIN = join(ROOT, 'dist/cli/main.js');

function newestMtime(dir: string): number {
  let t = 0;
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    t = Math.max(t, e.isDirectory() ? newestMtime(p) : statSync(p).mtimeMs);
  }
  return t;
}

/** Builds dist/ when it is missing or older than the log server sources. */
export function ensureBuilt(): void {
  const out = join(ROOT, 'dist/log/server.js');
  const src = Math.max(newestMtime(join(ROOT, 'src/log')), statSync(join(ROOT, 'src/cli/logd.ts')).mtimeMs);
  if (existsSync(out) && existsSync(MAIN) && statSync(out).mtimeMs >= src) return;
  spawnSync('npm', ['run', 'build:ts'], { cwd: ROOT, stdio: 'ignore', timeout: 300_000 });
  if (!existsSync(out)) throw new Error('dist/log/server.js missing after npm run build:ts');
}

export interface Logd {
  proc: ChildProcess;
  /** The addresses from the ready line. */
  listen: string[];
  stderr: () => string;
  exited: Promise<number | null>;
}

const children = new Set<ChildProcess>();

/** Starts `ftcp logd ARGS` and resolves once it printed its ready line. */
export function startLogd(args: string[]): Promise<Logd> {
  const proc = spawn(process.execPath, [MAIN, 'logd', ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  children.add(proc);
  let err = '';
  let out = '';
  proc.stderr!.on('data', (d: Buffer) => (err += d.toString()));
  const exited = new Promise<number | null>((resolve) =>
    proc.on('exit', (code) => {
      children.delete(proc);
      resolve(code);
    }),
  );
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`logd did not get ready: ${err}`)), 30_000);
    proc.stdout!.on('data', (d: Buffer) => {
      out += d.toString();
      const m = /^ftcp: logd ready listen=(\S+)/m.exec(out);
      if (m) {
        clearTimeout(timer);
        resolve({ proc, listen: m[1]!.split(','), stderr: () => err, exited });
      }
    });
    void exited.then((code) => {
      clearTimeout(timer);
      reject(new Error(`logd exited with ${code} before ready: ${err}`));
    });
  });
}

/** Runs `ftcp logd ARGS` expecting it to fail at start. */
export function runLogdSync(args: string[]): { code: number | null; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [MAIN, 'logd', ...args], { encoding: 'utf8', timeout: 30_000 });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

/** SIGKILLs every logd child still running (afterAll). */
export function killAllLogd(): void {
  for (const c of children) c.kill('SIGKILL');
  children.clear();
}
