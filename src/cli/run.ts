// `ftcp run`: protect a server's TCP connections across crashes of the app.
import { Command, Option } from 'commander';
import { loadRunConfig } from '../config/run-config-file.js';
import { runFlagsFromCommand } from '../config/run-flags.js';
import { runDaemon } from '../run/daemon.js';
import { runStandby } from '../run/standby.js';
import { ConfigError, parseRunConfig, type RunConfig } from '../run/run-config.js';
import { createLogger, type Logger } from '../util/logger.js';
import { quietTlsIpServerNameWarning } from '../util/tls-ip-warning.js';

const collect = (value: string, prev: string[] = []): string[] => [...prev, value];

/** The flags of `ftcp run`, shared with `ftcp standby` (which becomes `ftcp run` on takeover). */
export function withRunOptions(cmd: Command): Command {
  return cmd
    .option('--config <file>', 'read settings from a TOML file (/etc/ftcp/NAME.toml); flags given here override it')
    .option('--name <name>', 'service name (namespace ftcp-NAME); required without --config')
    .option('--vip <addr>', 'service address clients connect to (IPv4 or IPv6)', undefined)
    .option('--host-addr <addr>', 'host-side address the app can reach (default 10.77.0.1 / fd77::1)')
    .option('--port <port>', 'TCP port the app listens on (repeatable)', collect, [])
    .option('--data-dir <dir>', 'directory of the embedded log server (default /var/lib/ftcp/NAME)')
    .option('--log <target>', 'external log server: unix:/PATH or HOST:PORT, or a replicated log: nats://HOST:PORT[,HOST:PORT...] (instead of the embedded one)')
    .option('--no-log', 'pass-through mode: relay only, nothing logged or protected')
    .option('--log-token-file <file>', 'with --log HOST:PORT or nats://: file holding the log server\'s bearer token (ftcp logd --token-file) or a NATS token')
    .option('--log-tls-ca <file>', 'with --log HOST:PORT or nats://: CA (PEM) of the log server\'s TLS certificate; turns TLS on')
    .option('--log-tls-cert <file>', 'client certificate (PEM) for a log server that verifies clients; with --log-tls-key')
    .option('--log-tls-key <file>', 'key (PEM) of --log-tls-cert')
    .option('--log-creds <file>', 'with --log nats://: NATS user credentials file (JWT and nkey seed)')
    .addOption(new Option('--durability <mode>', 'durability of the embedded log server').choices(['fsync', 'memory']).default('fsync'))
    .option('--max-replay-bytes <n>', 'without the shim: client bytes replayed at most per connection (past it: unprotected)')
    .addOption(new Option('--restart <policy>', 'restart the app when it exits (default on-failure; no with --no-log)').choices(['no', 'on-failure', 'always']))
    .option('--mtu <bytes>', 'MTU of both TUN devices', '1500')
    .option('--busy-poll-us <us>', 'keep polling the TUNs this long after a batch before sleeping (default 50; 0 = off)')
    .option('--metrics <host:port>', 'serve Prometheus metrics on http://HOST:PORT/metrics (e.g. 127.0.0.1:9464)')
    .option('--no-offload', 'disable virtio-net headers and TSO/checksum offload on the TUNs')
    .option('--replicas <n>', 'with --log nats://: replicas of the log stream and the lease (default 3)')
    .option('--lease-ms <ms>', 'with --log nats://: primary lease time; a standby takes over after it (default 1000)')
    .option('--lan-if <ifname>', 'LAN link the VIP is claimed on (proxy ARP, gratuitous ARP); default: the link whose subnet holds the VIP, with --log nats://')
    .option('--nice <n>', 'nice value of the daemon and the app it starts, -20 to 19 (default -10: ahead of the host\'s other work)')
    .option('--no-icmp-nudge', 'after a takeover or a daemon restart, do not send held clients ICMP unreachable errors that make them retransmit at once (RFC 6069)')
    .argument('[command...]', 'the server to protect, after -- (or command = [...] in --config)')
    .passThroughOptions();
}

/** Parses the flags (and --config) and runs `body`; config errors exit 2 with one line naming the fix. */
export async function runWithConfig(
  what: string,
  command: string[],
  flags: Record<string, unknown>,
  cmd: Command,
  body: (cfg: RunConfig, log: Logger) => Promise<number>,
): Promise<void> {
  const log = createLogger(what);
  quietTlsIpServerNameWarning();
  try {
    // Only flags typed on the command line count (so they can override a config file).
    const given = runFlagsFromCommand(cmd, command);
    const cfg = typeof flags.config === 'string' ? loadRunConfig(flags.config, given) : parseRunConfig(given);
    process.exitCode = await body(cfg, log);
  } catch (err) {
    process.stderr.write(`ftcp ${what}: ${err instanceof Error ? err.message : String(err)}\n`);
    process.exitCode = err instanceof ConfigError ? 2 : 1;
  }
}

export function registerRun(program: Command): void {
  withRunOptions(
    program
      .command('run')
      .description('run COMMAND in its own network namespace behind the ftcp daemon')
      .usage('(--config FILE | --name NAME --port PORT... -- COMMAND [ARGS...]) [--vip ADDR] [--data-dir DIR | --log TARGET | --no-log]'),
  ).action(async (command: string[], flags: Record<string, unknown>, cmd: Command) => {
    // A config file may say role = "standby": the same unit then runs on both hosts.
    await runWithConfig('run', command, flags, cmd, (cfg, log) => (cfg.role === 'standby' ? runStandby(cfg, { log }) : runDaemon(cfg, { log })));
  });
}
