// The `ftcp run` flags the operator actually typed (not commander's defaults), as raw options, so
// that with --config only those override the file.
import type { Command } from 'commander';
import type { RunRaw } from './run-config-file.js';

/** Commander option key → raw option key. `log` carries both `--log TARGET` and `--no-log`. */
const FLAG_KEYS: ReadonlyArray<[string, keyof RunRaw]> = [
  ['name', 'name'],
  ['vip', 'vip'],
  ['hostAddr', 'hostAddr'],
  ['dataDir', 'dataDir'],
  ['durability', 'durability'],
  ['maxReplayBytes', 'maxReplayBytes'],
  ['restart', 'restart'],
  ['mtu', 'mtu'],
  ['busyPollUs', 'busyPollUs'],
  ['offload', 'vnetHdr'],
  ['metrics', 'metrics'],
  ['replicas', 'replicas'],
  ['leaseMs', 'leaseMs'],
  ['lanIf', 'lanIf'],
  ['icmpNudge', 'icmpNudge'],
  ['nice', 'nice'],
  ['logTokenFile', 'logTokenFile'],
  ['logTlsCa', 'logTlsCa'],
  ['logTlsCert', 'logTlsCert'],
  ['logTlsKey', 'logTlsKey'],
  ['logCreds', 'logCreds'],
];

const given = (cmd: Command, key: string): boolean => {
  const src = cmd.getOptionValueSource(key);
  return src !== undefined && src !== 'default' && src !== 'implied';
};

/** Raw options from `ftcp run`'s command line: only flags given there; `port` and `command` always (maybe empty). */
export function runFlagsFromCommand(cmd: Command, command: string[]): RunRaw {
  const opts = cmd.opts<Record<string, unknown>>();
  const raw: RunRaw = { port: given(cmd, 'port') ? (opts.port as string[]) : [], command };
  for (const [flag, key] of FLAG_KEYS) {
    if (given(cmd, flag)) (raw as Record<string, unknown>)[key] = opts[flag];
  }
  if (given(cmd, 'log')) {
    raw.log = opts.log !== false;
    if (typeof opts.log === 'string') raw.logTarget = opts.log;
  }
  return raw;
}
