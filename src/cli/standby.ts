// `ftcp standby`: the secondary host of a service on a replicated log; takes over when the
// primary's lease expires (src/run/standby.ts).
import type { Command } from 'commander';
import { runStandby } from '../run/standby.js';
import { runWithConfig, withRunOptions } from './run.js';

export function registerStandby(program: Command): void {
  withRunOptions(
    program
      .command('standby')
      .description('follow a replicated log and take the service over (VIP, app, every connection) when its primary fails')
      .usage('--name NAME --vip ADDR --port PORT... --log nats://HOST:PORT[,HOST:PORT...] -- COMMAND [ARGS...]'),
  ).action(async (command: string[], flags: Record<string, unknown>, cmd: Command) => {
    await runWithConfig('standby', command, flags, cmd, (cfg, log) => runStandby({ ...cfg, role: 'standby' }, { log }));
  });
}
