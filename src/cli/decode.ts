import type { Command } from 'commander';

// Placeholder: replaced by the module that implements `ftcp decode`.
export function registerDecode(program: Command): void {
  program.command('decode').description('(not implemented yet)').action(() => {
    throw new Error('ftcp decode is not implemented yet');
  });
}
