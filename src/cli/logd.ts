import type { Command } from 'commander';

// Placeholder: replaced by the module that implements `ftcp logd`.
export function registerLogd(program: Command): void {
  program.command('logd').description('(not implemented yet)').action(() => {
    throw new Error('ftcp logd is not implemented yet');
  });
}
