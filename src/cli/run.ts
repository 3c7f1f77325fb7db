import type { Command } from 'commander';

// Placeholder: replaced by the module that implements `ftcp run`.
export function registerRun(program: Command): void {
  program.command('run').description('(not implemented yet)').action(() => {
    throw new Error('ftcp run is not implemented yet');
  });
}
