// `ftcp decode FILE [--json]`: print every TCP packet of a pcap/pcapng capture, with its pcapng
// comments (the daemon's decisions in an `ftcp capture NAME` file) after a `#`.
import { readFileSync } from 'node:fs';
import { once } from 'node:events';
import type { Command } from 'commander';
import { decodeItem, humanLine } from '../pcap/decode-format.js';
import { NotACaptureError, readCapture } from '../pcap/reader.js';

const FLUSH_BYTES = 64 * 1024;

export function registerDecode(program: Command): void {
  program
    .command('decode')
    .description('print the TCP packets of a pcap or pcapng capture, one per line')
    .argument('<file>', 'capture file (pcap or pcapng)')
    .option('--json', 'one JSON object per line')
    .action(async (file: string, opts: { json?: boolean }) => {
      process.exitCode = await runDecode(file, opts.json === true);
    });
}

/** Returns the exit code: 0, or 2 when the file cannot be read or is not a capture. */
export async function runDecode(file: string, json: boolean): Promise<number> {
  let buf: Buffer;
  try {
    buf = readFileSync(file);
  } catch (err) {
    process.stderr.write(`ftcp decode: cannot read ${file}: ${(err as NodeJS.ErrnoException).code ?? String(err)}\n`);
    return 2;
  }
  // A closed pipe (`ftcp decode f | head`) ends the output quietly.
  process.stdout.on('error', (err: NodeJS.ErrnoException) => {
    if (err.code === 'EPIPE') process.exit(0);
    throw err;
  });
  let pending = '';
  const flush = async (): Promise<void> => {
    if (pending === '') return;
    const chunk = pending;
    pending = '';
    if (!process.stdout.write(chunk)) await once(process.stdout, 'drain');
  };
  try {
    for (const item of readCapture(buf)) {
      const line = decodeItem(item);
      if (line === null) continue;
      pending += (json ? JSON.stringify(line) : humanLine(line, 'error' in item ? undefined : item.interfaceName)) + '\n';
      if (pending.length >= FLUSH_BYTES) await flush();
    }
  } catch (err) {
    if (!(err instanceof NotACaptureError)) throw err;
    await flush();
    process.stderr.write(`ftcp decode: ${file}: ${err.message}\n`);
    return 2;
  }
  await flush();
  return 0;
}
