#!/usr/bin/env node
// ftcp command-line entry: each subcommand lives in its own module and registers itself here.
import { Command, CommanderError } from 'commander';
import { registerCapture } from './capture.js';
import { registerDecode } from './decode.js';
import { registerLogd } from './logd.js';
import { registerRun } from './run.js';
import { registerStatus } from './status.js';
import { registerStandby } from './standby.js';

const program = new Command('ftcp')
  .description('TCP connections that survive server failures')
  .version('0.1.0')
  .enablePositionalOptions()
  // Usage errors are one line that names the fix.
  .configureOutput({
    outputError: (str, write) => write(`ftcp: ${str.replace(/^error: /, '').trimEnd()} (see \`ftcp help\`)\n`),
  });

// Settings are inherited by subcommands when they are created, so they come first.
program.exitOverride();

registerRun(program);
registerStandby(program);
registerDecode(program);
registerLogd(program);
registerCapture(program);
registerStatus(program);

try {
  await program.parseAsync(process.argv);
} catch (err) {
  // Usage errors exit 2; --help and --version exit 0.
  if (err instanceof CommanderError) process.exit(err.exitCode === 0 ? 0 : 2);
  process.stderr.write(`ftcp: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exit(1);
}
