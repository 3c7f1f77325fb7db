// A service's config file (/etc/ftcp/NAME.toml) → the raw options `parseRunConfig` validates.
// Every error names the file, the key and the fix; command-line flags override the file.
import { readFileSync } from 'node:fs';
import { basename } from 'node:path';
import { isIP } from 'node:net';
import { parse as parseToml, TomlError } from 'smol-toml';
import { ConfigError, DEFAULT_VIP4, NAME_PATTERN, parseRunConfig, type RawRunOptions, type RunConfig } from '../run/run-config.js';
import { CONFIG_KEYS, dottedKey, type ConfigKey } from './file-keys.js';
import { didYouMean } from './did-you-mean.js';

/** Raw `ftcp run` options as a file or the command line gives them (absent: not given). */
export type RunRaw = Partial<RawRunOptions>;

/** A config file error; a ConfigError so `ftcp run` exits 2 like for a bad flag. */
export class ConfigFileError extends ConfigError {
  override name = 'ConfigFileError';
  constructor(
    readonly file: string,
    readonly key: string | undefined,
    detail: string,
  ) {
    super(key === undefined ? `${file}: ${detail}` : `${file}: key "${key}": ${detail}`);
  }
}

const TABLES = ['log'] as const;
const keysOf = (table: string | undefined): ConfigKey[] => CONFIG_KEYS.filter((k) => k.table === table);

function isTable(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v) && !(v instanceof Date);
}

function unknownKey(file: string, table: string | undefined, key: string): ConfigFileError {
  const known = [...keysOf(table).map((k) => k.key), ...(table === undefined ? TABLES.map((t) => t as string) : [])];
  const near = didYouMean(key, known);
  const where = table === undefined ? '' : ` in [${table}]`;
  const hint = near !== undefined ? `did you mean "${near}"?` : `known keys${where}: ${known.join(', ')}`;
  return new ConfigFileError(file, table === undefined ? key : `${table}.${key}`, `unknown key${where}; ${hint}`);
}

interface FileValues {
  [key: string]: unknown;
}

/** Validates each key of one table against its schema; unknown keys are errors. */
function validateTable(file: string, table: string | undefined, doc: Record<string, unknown>, out: FileValues): void {
  for (const [key, value] of Object.entries(doc)) {
    if (table === undefined && (TABLES as readonly string[]).includes(key)) {
      if (!isTable(value)) throw new ConfigFileError(file, key, `expected a table: write [${key}] on its own line, then its keys`);
      validateTable(file, key, value, out);
      continue;
    }
    const spec = keysOf(table).find((k) => k.key === key);
    if (spec === undefined) throw unknownKey(file, table, key);
    const res = spec.schema.safeParse(value);
    if (!res.success) {
      const issue = res.error.issues[0];
      const item = typeof issue?.path[0] === 'number' ? `item ${issue.path[0] + 1}: ` : '';
      throw new ConfigFileError(file, dottedKey(spec), item + (issue?.message ?? `invalid value; e.g. ${spec.example}`));
    }
    out[dottedKey(spec)] = res.data;
  }
}

function tomlError(file: string, err: TomlError): ConfigFileError {
  const what = err.message.split('\n')[0]!.replace(/^Invalid TOML document:\s*/, '');
  return new ConfigFileError(file, undefined, `line ${err.line}, column ${err.column}: TOML syntax error: ${what}\n${err.codeblock.trimEnd()}`);
}

/** Parses and validates config text; `file` names it in errors and gives the default service name. */
export function parseRunConfigText(text: string, file: string): RunRaw {
  let doc: Record<string, unknown>;
  try {
    doc = parseToml(text);
  } catch (err) {
    if (err instanceof TomlError) throw tomlError(file, err);
    throw err;
  }
  const v: FileValues = {};
  validateTable(file, undefined, doc, v);
  return toRaw(file, v);
}

/** Reads and validates a service config file. */
export function loadRunConfigFile(file: string): RunRaw {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code ?? String(err);
    const fix = code === 'ENOENT' ? ' (create it from /etc/ftcp/example.toml)' : code === 'EACCES' ? ' (run as root or give the ftcp group read access)' : '';
    throw new ConfigFileError(file, undefined, `cannot read: ${code}${fix}`);
  }
  return parseRunConfigText(text, file);
}

const defaultName = (file: string): string => basename(file).replace(/\.toml$/i, '');

/** Cross-key rules, then the mapping from file keys to `ftcp run` raw options. */
function toRaw(file: string, v: FileValues): RunRaw {
  const target = v['log.target'] as string | undefined;
  const mode = (v['log.mode'] as string | undefined) ?? (target !== undefined ? 'external' : 'embedded');
  const err = (key: string, detail: string): ConfigFileError => new ConfigFileError(file, key, detail);
  if (mode === 'external' && target === undefined) {
    throw err('log.target', 'missing: mode = "external" needs the log server address, e.g. target = "unix:/run/ftcp/logd.sock"');
  }
  if (mode !== 'external' && target !== undefined) {
    throw err('log.target', `only used with mode = "external" (mode is "${mode}"): remove it or set mode = "external"`);
  }
  const nats = target?.startsWith('nats://') ?? false;
  for (const k of ['log.replicas', 'log.lease_ms']) {
    if (!nats && v[k] !== undefined) throw err(k, 'only used with a replicated log: target = "nats://HOST:PORT,..." — remove it or set that target');
  }
  for (const k of ['log.token_file', 'log.tls_ca', 'log.tls_cert', 'log.tls_key', 'log.creds']) {
    if (v[k] === undefined) continue;
    if (mode !== 'external' || target?.startsWith('unix:')) {
      throw err(k, 'only used with a log on another host: target = "HOST:PORT" or "nats://HOST:PORT,..." — remove it or set that target');
    }
    if (k === 'log.creds' && !nats) throw err(k, 'a NATS credentials file: only used with target = "nats://..." (an `ftcp logd` takes token_file)');
  }
  for (const k of ['log.data_dir', 'log.durability']) {
    if (mode !== 'embedded' && v[k] !== undefined) {
      throw err(k, `only used with mode = "embedded" (mode is "${mode}"): remove it${mode === 'external' ? ' (the external log server has its own)' : ''}`);
    }
  }
  const vip = v.vip as string | undefined;
  const hostAddr = v.host_addr as string | undefined;
  if (hostAddr !== undefined) {
    const vipVersion = isIP(vip ?? DEFAULT_VIP4);
    if (isIP(hostAddr) !== vipVersion) {
      const vipText = vip !== undefined ? `vip ${vip}` : `the default vip ${DEFAULT_VIP4}`;
      throw err('host_addr', `${hostAddr} is IPv${isIP(hostAddr)} but ${vipText} is IPv${vipVersion}: use addresses of the same IP version`);
    }
    if (hostAddr === (vip ?? DEFAULT_VIP4)) throw err('host_addr', `must differ from vip (both are ${hostAddr})`);
  }

  const raw: RunRaw = {};
  if (v.name !== undefined) raw.name = v.name as string;
  else {
    const name = defaultName(file);
    if (!NAME_PATTERN.test(name)) {
      throw err('name', `missing, and the file name "${name}" is not a valid service name: add name = "web" (1-12 of a-z, 0-9, _, -)`);
    }
    raw.name = name;
  }
  if (vip !== undefined) raw.vip = vip;
  if (hostAddr !== undefined) raw.hostAddr = hostAddr;
  if (v.ports !== undefined) raw.port = v.ports as number[];
  if (v.command !== undefined) raw.command = v.command as string[];
  if (v.restart !== undefined) raw.restart = v.restart as RunRaw['restart'];
  if (v.mtu !== undefined) raw.mtu = v.mtu as number;
  if (v.busy_poll_us !== undefined) raw.busyPollUs = v.busy_poll_us as number;
  if (v.offload !== undefined) raw.vnetHdr = v.offload as boolean;
  if (v.max_replay_bytes !== undefined) raw.maxReplayBytes = v.max_replay_bytes as number;
  if (v.metrics !== undefined) raw.metrics = v.metrics as string;
  if (v.nice !== undefined) raw.nice = v.nice as number;
  raw.log = mode !== 'off';
  if (target !== undefined) raw.logTarget = target;
  if (v['log.data_dir'] !== undefined) raw.dataDir = v['log.data_dir'] as string;
  if (v['log.durability'] !== undefined) raw.durability = v['log.durability'] as RunRaw['durability'];
  if (v['log.replicas'] !== undefined) raw.replicas = v['log.replicas'] as number;
  if (v['log.lease_ms'] !== undefined) raw.leaseMs = v['log.lease_ms'] as number;
  if (v['log.token_file'] !== undefined) raw.logTokenFile = v['log.token_file'] as string;
  if (v['log.tls_ca'] !== undefined) raw.logTlsCa = v['log.tls_ca'] as string;
  if (v['log.tls_cert'] !== undefined) raw.logTlsCert = v['log.tls_cert'] as string;
  if (v['log.tls_key'] !== undefined) raw.logTlsKey = v['log.tls_key'] as string;
  if (v['log.creds'] !== undefined) raw.logCreds = v['log.creds'] as string;
  if (v.lan_if !== undefined) raw.lanIf = v.lan_if as string;
  if (v.icmp_nudge !== undefined) raw.icmpNudge = v.icmp_nudge as boolean;
  if (v.role !== undefined) raw.role = v.role as RunRaw['role'];
  return raw;
}

/**
 * Flags given on the command line override the file. The log mode is one choice: `--log TARGET`,
 * `--no-log` or `--data-dir` replaces the file's whole [log] table. Empty `port`/`command` lists
 * count as not given.
 */
export function mergeFlags(fileRaw: RunRaw, flagRaw: RunRaw): RunRaw {
  const out: RunRaw = { ...fileRaw };
  const flagLogChoice = flagRaw.logTarget !== undefined || flagRaw.log === false || flagRaw.dataDir !== undefined;
  if (flagLogChoice) {
    delete out.logTarget;
    delete out.dataDir;
    // The file's credentials belong to the file's log.
    for (const k of ['logTokenFile', 'logTlsCa', 'logTlsCert', 'logTlsKey', 'logCreds'] as const) delete out[k];
    if (flagRaw.logTarget !== undefined || flagRaw.log === false) delete out.durability;
    out.log = true;
  }
  for (const [k, val] of Object.entries(flagRaw) as Array<[keyof RunRaw, unknown]>) {
    if (val === undefined) continue;
    if ((k === 'port' || k === 'command') && Array.isArray(val) && val.length === 0) continue;
    (out as Record<string, unknown>)[k] = val;
  }
  return out;
}

/** `ftcp run --config FILE [flags]`: the file merged with the flags, validated into a RunConfig. */
export function loadRunConfig(file: string, flagRaw: RunRaw): RunConfig {
  const merged = mergeFlags(loadRunConfigFile(file), flagRaw);
  if (merged.port === undefined || (Array.isArray(merged.port) && merged.port.length === 0)) {
    throw new ConfigFileError(file, 'ports', 'missing: the TCP ports the app listens on, e.g. ports = [8080] (or --port)');
  }
  if (merged.command === undefined || merged.command.length === 0) {
    throw new ConfigFileError(file, 'command', 'missing: the server to run, e.g. command = ["node", "server.js"] (or after -- on the command line)');
  }
  try {
    return parseRunConfig(merged);
  } catch (e) {
    // Only a command-line flag can still be wrong here: the file's keys were checked above.
    if (e instanceof ConfigError) throw new ConfigError(`${e.message} (with --config ${file})`);
    throw e;
  }
}
