// `ftcp logd`: the log server as its own process (docs/LOG.md).
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Command, CommanderError, Option } from 'commander';
import { checkListenSecurity, ListenError, parseListen, type ListenSpec } from '../log/listen.js';
import { LogServer, type TlsFiles } from '../log/server.js';
import { LogStore, type Durability } from '../log/store.js';
import { createLogger } from '../util/logger.js';
import { V8TuningError, applyV8Tuning } from '../util/v8-tuning.js';

const collect = (value: string, prev: string[] = []): string[] => [...prev, value];

interface LogdFlags {
  dataDir: string;
  listen: string[];
  durability: Durability;
  tlsCert?: string;
  tlsKey?: string;
  tlsCa?: string;
  tokenFile?: string;
  segmentMb: string;
  inlineCommitKb: string;
}

/** Exit 2 with one line naming the fix. */
class UsageError extends Error {}

function readOrFail(path: string, flag: string): Buffer {
  try {
    return readFileSync(path);
  } catch (err) {
    throw new UsageError(`${flag} ${path}: cannot read (${(err as NodeJS.ErrnoException).code ?? String(err)})`);
  }
}

interface LogdConfig {
  dataDir: string;
  listen: ListenSpec[];
  durability: Durability;
  tls: TlsFiles | undefined;
  token: string | undefined;
  segmentBytes: number;
  inlineCommitBytes: number;
}

function parseFlags(f: LogdFlags): LogdConfig {
  const listen = (f.listen.length > 0 ? f.listen : [`unix:${join(f.dataDir, 'logd.sock')}`]).map((s) => {
    try {
      return parseListen(s);
    } catch (err) {
      throw new UsageError((err as Error).message);
    }
  });
  if ((f.tlsCert === undefined) !== (f.tlsKey === undefined)) {
    throw new UsageError('--tls-cert and --tls-key go together: give both (PEM files)');
  }
  if (f.tlsCa !== undefined && f.tlsCert === undefined) throw new UsageError('--tls-ca needs --tls-cert and --tls-key');
  const tls =
    f.tlsCert !== undefined && f.tlsKey !== undefined
      ? {
          cert: readOrFail(f.tlsCert, '--tls-cert'),
          key: readOrFail(f.tlsKey, '--tls-key'),
          ...(f.tlsCa !== undefined ? { ca: readOrFail(f.tlsCa, '--tls-ca') } : {}),
        }
      : undefined;
  let token: string | undefined;
  if (f.tokenFile !== undefined) {
    token = readOrFail(f.tokenFile, '--token-file').toString('utf8').trim();
    if (token.length < 16) throw new UsageError(`--token-file ${f.tokenFile}: the token must be at least 16 characters`);
  }
  try {
    checkListenSecurity(listen, { tls: tls !== undefined, token: token !== undefined });
  } catch (err) {
    throw new UsageError((err as ListenError).message);
  }
  const mb = Number(f.segmentMb);
  if (!Number.isInteger(mb) || mb < 1 || mb > 4096) throw new UsageError('--segment-mb must be an integer 1-4096');
  const kb = Number(f.inlineCommitKb);
  if (!Number.isInteger(kb) || kb < 0 || kb > 65536) throw new UsageError('--inline-commit-kb must be an integer 0-65536');
  return { dataDir: f.dataDir, listen, durability: f.durability, tls, token, segmentBytes: mb * 1024 * 1024, inlineCommitBytes: kb * 1024 };
}

async function runLogd(cfg: LogdConfig): Promise<number> {
  const log = createLogger('logd');
  const store = await LogStore.open({
    dataDir: cfg.dataDir,
    durability: cfg.durability,
    segmentBytes: cfg.segmentBytes,
    inlineCommitBytes: cfg.inlineCommitBytes,
    log,
  });
  const server = new LogServer({ store, log, ...(cfg.token !== undefined ? { token: cfg.token } : {}) });
  let addresses: string[];
  try {
    addresses = await server.listen(cfg.listen, cfg.tls);
  } catch (err) {
    await server.close();
    throw err;
  }
  process.stdout.write(`ftcp: logd ready listen=${addresses.join(',')} durability=${cfg.durability} data-dir=${cfg.dataDir}\n`);
  log.info({ listen: addresses, durability: cfg.durability }, 'logd serving');
  await new Promise<void>((resolve) => {
    const stop = (sig: string): void => {
      log.info({ signal: sig }, 'logd stopping');
      process.off('SIGTERM', onTerm);
      process.off('SIGINT', onInt);
      resolve();
    };
    const onTerm = (): void => stop('SIGTERM');
    const onInt = (): void => stop('SIGINT');
    process.on('SIGTERM', onTerm);
    process.on('SIGINT', onInt);
  });
  await server.close();
  log.info('logd stopped');
  return 0;
}

export function registerLogd(program: Command): void {
  program
    .command('logd')
    .description('run the log server (durable record store for the wrappers)')
    .requiredOption('--data-dir <dir>', 'directory of segment and checkpoint files')
    .option('--listen <addr>', 'unix:/PATH or HOST:PORT (repeatable; default unix:DATA_DIR/logd.sock)', collect, [])
    .addOption(new Option('--durability <mode>', 'fsync: ack after fdatasync; memory: ack when in memory').choices(['fsync', 'memory']).default('fsync'))
    .option('--tls-cert <pem>', 'server certificate for TCP listeners')
    .option('--tls-key <pem>', 'private key of --tls-cert')
    .option('--tls-ca <pem>', 'CA for client certificates (enables mutual TLS)')
    .option('--token-file <file>', 'file holding a bearer token every client must present')
    .option('--segment-mb <n>', 'roll segment files at this size', '64')
    .option('--inline-commit-kb <n>', 'write group commits up to this size synchronously (lower latency; 0 = never)', '64')
    // Usage errors exit 2 (commander has already printed the one-line message).
    .exitOverride((err) => {
      throw new CommanderError(err.exitCode === 0 ? 0 : 2, err.code, err.message);
    })
    .action(async (flags: LogdFlags) => {
      let cfg: LogdConfig;
      try {
        cfg = parseFlags(flags);
        applyV8Tuning(); // before the log server's code first runs
      } catch (err) {
        if (!(err instanceof UsageError) && !(err instanceof V8TuningError)) throw err;
        process.stderr.write(`ftcp logd: ${err.message}\n`);
        process.exit(2);
      }
      try {
        process.exitCode = await runLogd(cfg);
      } catch (err) {
        process.stderr.write(`ftcp logd: ${err instanceof Error ? err.message : String(err)}\n`);
        process.exitCode = 1;
      }
    });
}
