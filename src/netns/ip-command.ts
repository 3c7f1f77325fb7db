// Thin wrapper over iproute2's `ip`: addresses, routes and namespaces are configured with it
// (documented in docs/ARCHITECTURE.md) rather than hand-written netlink, because it is always
// present where ftcp runs and its error messages are the ones operators know.
import { execFile, execFileSync } from 'node:child_process';

export class IpCommandError extends Error {
  constructor(
    readonly args: readonly string[],
    readonly stderr: string,
    readonly exitCode: number | null,
  ) {
    super(`ip ${args.join(' ')}: ${stderr.trim() || `exit code ${exitCode}`}`);
    this.name = 'IpCommandError';
  }
}

/** Runs `ip ARGS` (inside netns NS when given) and resolves with its stdout. */
export function ip(args: readonly string[], netns?: string): Promise<string> {
  const full = netns ? ['-n', netns, ...args] : [...args];
  return new Promise((resolve, reject) => {
    execFile('ip', full, { encoding: 'utf8', timeout: 10_000 }, (err, stdout, stderr) => {
      if (err) reject(new IpCommandError(full, stderr || err.message, typeof err.code === 'number' ? err.code : null));
      else resolve(stdout);
    });
  });
}

/** Synchronous variant, for cleanup paths that must finish before the process exits. */
export function ipSync(args: readonly string[], netns?: string): string {
  const full = netns ? ['-n', netns, ...args] : [...args];
  try {
    return execFileSync('ip', full, { encoding: 'utf8', timeout: 10_000, stdio: ['ignore', 'pipe', 'pipe'] });
  } catch (err) {
    const e = err as { stderr?: string; status?: number | null; message: string };
    throw new IpCommandError(full, e.stderr ?? e.message, e.status ?? null);
  }
}

/** `ip -j ARGS` parsed as JSON (empty output means an empty list). */
export async function ipJson<T = unknown[]>(args: readonly string[], netns?: string): Promise<T> {
  const out = await ip(['-j', ...args], netns);
  return (out.trim() ? JSON.parse(out) : []) as T;
}
