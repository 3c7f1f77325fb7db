#!/usr/bin/env node
// ftcp command-line entry: each subcommand lives in its own module and registers itself here.
import { Command, CommanderError } from 'commander';
import { registerDecode } from './decode.js';
import { registerLogd } from './logd.js';
import { registerRun } from './run.js';

const program = new Command('ftcp')
  .description('TCP connections that survive server failures')
  .version('0.1.0')
  .showHelpAfterError('(run `ftcp --help` for usage)');

registerRun(program);
registerDecode(program);
registerLogd(program);

program.exitOverride();
try {
  await program.parseAsync(process.argv);
} catch (err) {
  if (err instanceof CommanderError) process.exit(err.exitCode);
  process.stderr.write(`ftcp: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exit(1);
}
