// `ftcp status [NAME] [--json]`: asks running daemons over their control sockets what they protect.
// Without NAME every daemon with a socket in the run dir answers.
import type { Command } from 'commander';
import { NAME_PATTERN } from '../run/run-config.js';
import { ControlError, listServices, requestStatus } from '../status/control-client.js';
import { formatStatus } from '../status/format.js';
import type { StatusSnapshot } from '../status/snapshot.js';
import { runDir } from '../status/socket-path.js';

export interface StatusOptions {
  name?: string | undefined;
  json?: boolean;
  /** Run dir (default FTCP_RUN_DIR or /run/ftcp). */
  dir?: string;
  timeoutMs?: number;
}

export interface StatusIo {
  out: (text: string) => void;
  err: (text: string) => void;
}

const stdio: StatusIo = {
  out: (t) => process.stdout.write(t),
  err: (t) => process.stderr.write(t),
};

/** Prints the status; resolves with the exit code (0 ok, 1 a service could not be asked, 2 usage). */
export async function runStatus(opts: StatusOptions, io: StatusIo = stdio): Promise<number> {
  const dir = opts.dir ?? runDir();
  const req = { dir, timeoutMs: opts.timeoutMs ?? 5_000 };
  if (opts.name !== undefined) {
    if (!NAME_PATTERN.test(opts.name)) {
      io.err(`ftcp status: ${JSON.stringify(opts.name)} is not a service name (1-12 characters of a-z, 0-9, _ or -)\n`);
      return 2;
    }
    try {
      const s = await requestStatus(opts.name, req);
      io.out(opts.json ? `${JSON.stringify(s, null, 2)}\n` : formatStatus(s));
      return 0;
    } catch (err) {
      io.err(`ftcp status: ${message(err)}\n`);
      return 1;
    }
  }

  let names: string[];
  try {
    names = listServices(dir);
  } catch (err) {
    io.err(`ftcp status: ${message(err)}\n`);
    return 1;
  }
  if (names.length === 0) {
    if (opts.json) io.out('[]\n');
    io.err(`ftcp status: no ftcp service is running (no control socket in ${dir})\n`);
    return 1;
  }
  const results = await Promise.all(
    names.map((n) => requestStatus(n, req).then((s): StatusSnapshot | Error => s, (e: unknown) => (e instanceof Error ? e : new Error(String(e))))),
  );
  const ok = results.filter((r): r is StatusSnapshot => !(r instanceof Error));
  for (const r of results) if (r instanceof Error) io.err(`ftcp status: ${r.message}\n`);
  if (opts.json) io.out(`${JSON.stringify(ok, null, 2)}\n`);
  else io.out(ok.map(formatStatus).join('\n'));
  return ok.length === results.length ? 0 : 1;
}

function message(err: unknown): string {
  if (err instanceof ControlError) return err.message;
  return err instanceof Error ? err.message : String(err);
}

export function registerStatus(program: Command): void {
  program
    .command('status')
    .description('show the connections a running ftcp service protects, with their state and counters')
    .argument('[name]', 'service name (default: every running service)')
    .option('--json', 'print the status as JSON (one object for NAME, an array otherwise)')
    .option('--timeout <seconds>', 'how long to wait for each daemon', '5')
    .action(async (name: string | undefined, f: { json?: boolean; timeout: string }) => {
      const s = Number(f.timeout);
      if (!Number.isFinite(s) || s <= 0 || s > 3600) {
        process.stderr.write(`ftcp status: --timeout ${f.timeout}: expected seconds > 0, e.g. --timeout 5\n`);
        process.exitCode = 2;
        return;
      }
      // `ftcp status | head` closes the pipe early: that is not an error.
      process.stdout.on('error', (err: NodeJS.ErrnoException) => {
        if (err.code === 'EPIPE') process.exit(process.exitCode ?? 0);
        throw err;
      });
      process.exitCode = await runStatus({ name, json: f.json === true, timeoutMs: Math.round(s * 1000) });
    });
}
