import { mkdtempSync, readFileSync, rmSync, writeFileSync, chmodSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Command } from 'commander';
import { afterAll, describe, expect, it } from 'vitest';
import { registerRun } from '../../../src/cli/run.js';
import { configReferenceMarkdown } from '../../../src/config/config-reference.js';
import { didYouMean } from '../../../src/config/did-you-mean.js';
import { CONFIG_KEYS, parseByteSize } from '../../../src/config/file-keys.js';
import {
  ConfigFileError,
  loadRunConfig,
  loadRunConfigFile,
  mergeFlags,
  parseRunConfigText,
  type RunRaw,
} from '../../../src/config/run-config-file.js';
import { runFlagsFromCommand } from '../../../src/config/run-flags.js';
import { ConfigError } from '../../../src/run/run-config.js';

const F = '/etc/ftcp/web.toml';
const parse = (text: string, file = F): RunRaw => parseRunConfigText(text, file);
const errorOf = (text: string, file = F): string => {
  try {
    parse(text, file);
  } catch (err) {
    expect(err).toBeInstanceOf(ConfigFileError);
    expect(err).toBeInstanceOf(ConfigError);
    return (err as Error).message;
  }
  throw new Error(`no error for ${text}`);
};

const ROOT = join(import.meta.dirname, '..', '..', '..');
const dir = mkdtempSync(join(tmpdir(), 'ftcp-config-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('config file: valid files', () => {
  it('maps every key to its raw option', () => {
    const raw = parse(`
name = "api"
vip = "fd00::2"
host_addr = "fd00::1"
ports = [8080, 8443]
command = ["node", "server.js"]
restart = "always"
mtu = 9000
busy_poll_us = 0
offload = false
max_replay_bytes = 4096
[log]
mode = "embedded"
data_dir = "/srv/log"
durability = "memory"
`);
    expect(raw).toEqual({
      name: 'api',
      vip: 'fd00::2',
      hostAddr: 'fd00::1',
      port: [8080, 8443],
      command: ['node', 'server.js'],
      restart: 'always',
      mtu: 9000,
      busyPollUs: 0,
      vnetHdr: false,
      maxReplayBytes: 4096,
      log: true,
      dataDir: '/srv/log',
      durability: 'memory',
    });
  });

  it('takes the credentials of a log on another host in [log]', () => {
    const raw = parse(`
ports = [1]
command = ["x"]
[log]
target = "10.0.0.2:7000"
token_file = "/etc/ftcp/log.token"
tls_ca = "/etc/ftcp/ca.pem"
tls_cert = "/etc/ftcp/cli.pem"
tls_key = "/etc/ftcp/cli.key"
`);
    expect(raw).toMatchObject({ logTarget: '10.0.0.2:7000', logTokenFile: '/etc/ftcp/log.token', logTlsCa: '/etc/ftcp/ca.pem', logTlsCert: '/etc/ftcp/cli.pem', logTlsKey: '/etc/ftcp/cli.key' });
    expect(parse('ports = [1]\ncommand = ["x"]\n[log]\ntarget = "nats://a:4222"\ncreds = "/etc/ftcp/ftcp.creds"\n')).toMatchObject({ logCreds: '/etc/ftcp/ftcp.creds' });
    expect(errorOf('[log]\ntoken_file = "/etc/ftcp/log.token"')).toContain('key "log.token_file": only used with a log on another host');
    expect(errorOf('[log]\ntarget = "unix:/run/ftcp/logd.sock"\ntls_ca = "/ca.pem"')).toContain('key "log.tls_ca": only used with a log on another host');
    expect(errorOf('[log]\ntarget = "10.0.0.2:7000"\ncreds = "/x.creds"')).toContain('key "log.creds": a NATS credentials file');
    expect(errorOf('[log]\ntarget = "10.0.0.2:7000"\ntoken_file = "log.token"')).toContain('must be an absolute path');
  });

  it('--log TARGET drops the file\'s credentials with its log', () => {
    const m = mergeFlags({ logTarget: '10.0.0.2:7000', logTokenFile: '/t', logTlsCa: '/ca' }, { log: true, logTarget: 'nats://a:1', logCreds: '/c', port: [], command: [] });
    expect(m).toMatchObject({ logTarget: 'nats://a:1', logCreds: '/c' });
    expect(m.logTokenFile).toBeUndefined();
    expect(m.logTlsCa).toBeUndefined();
  });

  it('takes the service name from the file name', () => {
    expect(parse('ports = [1]').name).toBe('web');
    expect(parse('ports = [1]', '/x/db-1.toml').name).toBe('db-1');
  });

  it('infers external mode from target; off means log false', () => {
    expect(parse('[log]\ntarget = "unix:/run/ftcp/logd.sock"')).toMatchObject({ log: true, logTarget: 'unix:/run/ftcp/logd.sock' });
    expect(parse('[log]\ntarget = "10.0.0.5:7000"').logTarget).toBe('10.0.0.5:7000');
    expect(parse('[log]\ntarget = "[fd00::5]:7000"').logTarget).toBe('[fd00::5]:7000');
    expect(parse('[log]\nmode = "off"').log).toBe(false);
    expect(parse('').log).toBe(true);
  });

  it('reads size strings', () => {
    expect(parseByteSize('512MiB')).toBe(512 * 1024 * 1024);
    expect(parseByteSize('1G')).toBe(1024 ** 3);
    expect(parseByteSize('7')).toBe(7);
    expect(parseByteSize('1 GB')).toBeUndefined();
    expect(parse('max_replay_bytes = "2KiB"').maxReplayBytes).toBe(2048);
  });

  it('the example config in packaging/ is valid', () => {
    const raw = loadRunConfigFile(join(ROOT, 'packaging', 'example.toml'));
    expect(raw).toMatchObject({ name: 'example', port: [8080], log: true, durability: 'fsync' });
    const cfg = loadRunConfig(join(ROOT, 'packaging', 'example.toml'), { port: [], command: [] });
    expect(cfg).toMatchObject({ name: 'example', vip: '10.77.0.2', ports: [8080], restart: 'on-failure', dataDir: '/var/lib/ftcp/example' });
  });
});

describe('config file: every error names the file, the key and the fix', () => {
  const cases: Array<[string, string]> = [
    ['ports = 8080', 'key "ports": expected a list of port numbers, e.g. ports = [8080]'],
    ['ports = []', 'key "ports": expected at least one port number'],
    ['ports = [70000]', 'key "ports": item 1: 70000 is not a port number'],
    ['ports = [80, 1.5]', 'key "ports": item 2: 1.5 is not a port number'],
    ['ports = ["a"]', 'key "ports": item 1: "a" is not a port number'],
    ['name = 3', 'key "name": expected a string, e.g. name = "web"'],
    ['name = "Web Server"', 'key "name": "Web Server" must be 1-12 characters'],
    ['vip = "x"', 'key "vip": "x" is not an IPv4 or IPv6 address, e.g. vip = "10.77.0.2"'],
    ['vip = 10', 'key "vip": expected an IPv4 or IPv6 address in quotes'],
    ['host_addr = "nope"', 'key "host_addr": "nope" is not an IPv4 or IPv6 address'],
    ['host_addr = "fd77::1"', 'key "host_addr": fd77::1 is IPv6 but the default vip 10.77.0.2 is IPv4'],
    ['vip = "fd00::2"\nhost_addr = "10.0.0.1"', 'key "host_addr": 10.0.0.1 is IPv4 but vip fd00::2 is IPv6'],
    ['vip = "10.1.1.1"\nhost_addr = "10.1.1.1"', 'key "host_addr": must differ from vip'],
    ['command = "node server.js"', 'key "command": expected a list of strings'],
    ['command = []', 'key "command": expected the program and its arguments'],
    ['command = ["node", 1]', 'key "command": item 2: expected a list of strings'],
    ['restart = "never"', 'key "restart": "never" is not one of "no", "on-failure", "always"'],
    ['mtu = 100', 'key "mtu": 100 is below 1280'],
    ['mtu = 70000', 'key "mtu": 70000 is above 65535'],
    ['mtu = "1500"', 'key "mtu": expected an integer 1280-65535'],
    ['busy_poll_us = 20000', 'key "busy_poll_us": 20000 is above 10000'],
    ['nice = 20', 'key "nice": expected an integer -20 to 19, e.g. nice = -10'],
    ['nice = "low"', 'key "nice": expected an integer -20 to 19, e.g. nice = -10'],
    ['offload = "yes"', 'key "offload": expected true or false (no quotes)'],
    ['max_replay_bytes = -1', 'key "max_replay_bytes": -1: expected a byte count'],
    ['max_replay_bytes = "lots"', 'key "max_replay_bytes": "lots": expected a byte count'],
    ['max_replay_bytes = true', 'key "max_replay_bytes": expected a byte count'],
    ['log = 3', 'key "log": expected a table: write [log] on its own line'],
    ['[log]\nmode = "remote"', 'key "log.mode": "remote" is not one of "embedded", "external", "off"'],
    ['[log]\nmode = "external"', 'key "log.target": missing: mode = "external" needs the log server address'],
    ['[log]\nmode = "embedded"\ntarget = "unix:/a"', 'key "log.target": only used with mode = "external" (mode is "embedded")'],
    ['[log]\nmode = "off"\ndata_dir = "/x"', 'key "log.data_dir": only used with mode = "embedded" (mode is "off")'],
    ['[log]\ntarget = "unix:/a"\ndurability = "fsync"', 'key "log.durability": only used with mode = "embedded" (mode is "external")'],
    ['[log]\ntarget = "logd"', 'key "log.target": "logd" is not a log server address'],
    ['[log]\ndata_dir = "var/x"', 'key "log.data_dir": "var/x" must be an absolute path'],
    ['[log]\ndurability = "disk"', 'key "log.durability": "disk" is not one of "fsync", "memory"'],
    ['port = [1]', 'key "port": unknown key; did you mean "ports"?'],
    ['host-addr = "10.0.0.1"', 'key "host-addr": unknown key; did you mean "host_addr"?'],
    ['data_dir = "/x"', 'key "data_dir": unknown key'],
    ['[log]\ndurabilty = "fsync"', 'key "log.durabilty": unknown key in [log]; did you mean "durability"?'],
    ['zzzz = 1', 'key "zzzz": unknown key; known keys: name, vip, host_addr, ports, command'],
    ['[app]\nx = 1', 'key "app": unknown key'],
  ];
  for (const [text, expected] of cases) {
    it(JSON.stringify(text), () => {
      const msg = errorOf(text);
      expect(msg.startsWith(`${F}: `)).toBe(true);
      expect(msg).toContain(expected);
    });
  }

  it('a file name that is not a service name needs name =', () => {
    expect(errorOf('ports = [1]', '/etc/ftcp/My Service.toml')).toContain('key "name": missing, and the file name "My Service" is not a valid service name: add name = "web"');
  });

  it('TOML syntax errors give line and column', () => {
    const msg = errorOf('ports = [8080]\nvip = 10.0.0.1\n');
    expect(msg).toMatch(/^\/etc\/ftcp\/web\.toml: line 2, column \d+: TOML syntax error: /);
    expect(msg).toContain('vip = 10.0.0.1');
    expect(errorOf('ports = [8080]\nports = [9090]\n')).toMatch(/line 2, column \d+: TOML syntax error/);
  });

  it('an unreadable file says why and what to do', () => {
    expect(() => loadRunConfigFile(join(dir, 'missing.toml'))).toThrow(/missing\.toml: cannot read: ENOENT \(create it from \/etc\/ftcp\/example\.toml\)/);
    const p = join(dir, 'secret.toml');
    writeFileSync(p, 'ports = [1]');
    chmodSync(p, 0);
    if (process.getuid?.() !== 0) expect(() => loadRunConfigFile(p)).toThrow(/cannot read: EACCES/);
  });

  it('loadRunConfig: missing ports or command name the key', () => {
    const p = join(dir, 'svc.toml');
    writeFileSync(p, 'command = ["x"]\n');
    expect(() => loadRunConfig(p, { port: [], command: [] })).toThrow(`${p}: key "ports": missing: the TCP ports the app listens on`);
    writeFileSync(p, 'ports = [1]\n');
    expect(() => loadRunConfig(p, { port: [], command: [] })).toThrow(`${p}: key "command": missing: the server to run`);
    // ...unless the command line gives them.
    expect(loadRunConfig(p, { port: [], command: ['sleep', '1'] }).command).toEqual(['sleep', '1']);
  });

  it('loadRunConfig: a bad flag is reported with its flag name and the file', () => {
    const p = join(dir, 'svc2.toml');
    writeFileSync(p, 'ports = [1]\ncommand = ["x"]\n');
    expect(() => loadRunConfig(p, { port: ['0'], command: [] })).toThrow(`--port must be between 1 and 65535 (with --config ${p})`);
    expect(() => loadRunConfig(p, { hostAddr: 'fd00::1', port: [], command: [] })).toThrow(/--host-addr fd00::1 and --vip 10.77.0.2 must be of the same IP version/);
  });
});

describe('mergeFlags: the command line overrides the file', () => {
  const file: RunRaw = {
    name: 'web',
    vip: '10.0.0.2',
    port: [8080],
    command: ['node', 'a.js'],
    log: true,
    dataDir: '/srv/log',
    durability: 'memory',
    mtu: 9000,
  };

  it('keeps the file where no flag is given (empty lists count as not given)', () => {
    expect(mergeFlags(file, { port: [], command: [] })).toEqual(file);
  });

  it('scalar and list flags replace the key', () => {
    const m = mergeFlags(file, { vip: '10.0.0.9', port: ['9000'], command: ['node', 'b.js'], mtu: '1500', vnetHdr: false, restart: 'no' });
    expect(m).toMatchObject({ vip: '10.0.0.9', port: ['9000'], command: ['node', 'b.js'], mtu: '1500', vnetHdr: false, restart: 'no', dataDir: '/srv/log' });
  });

  it('--log TARGET replaces the embedded log table', () => {
    const m = mergeFlags(file, { log: true, logTarget: 'unix:/run/ftcp/logd.sock', port: [], command: [] });
    expect(m).toMatchObject({ log: true, logTarget: 'unix:/run/ftcp/logd.sock' });
    expect(m.dataDir).toBeUndefined();
    expect(m.durability).toBeUndefined();
  });

  it('--no-log turns logging off whatever the file says', () => {
    const m = mergeFlags({ ...file, dataDir: undefined, logTarget: 'unix:/x' }, { log: false, port: [], command: [] });
    expect(m.log).toBe(false);
    expect(m.logTarget).toBeUndefined();
  });

  it('--data-dir over an external file selects the embedded log server', () => {
    const m = mergeFlags({ name: 'web', log: true, logTarget: 'unix:/x' }, { dataDir: '/d', port: [], command: [] });
    expect(m).toMatchObject({ log: true, dataDir: '/d' });
    expect(m.logTarget).toBeUndefined();
  });

  it('--durability alone keeps the file data_dir', () => {
    expect(mergeFlags(file, { durability: 'fsync', port: [], command: [] })).toMatchObject({ dataDir: '/srv/log', durability: 'fsync' });
  });
});

describe('runFlagsFromCommand: only flags typed on the command line', () => {
  const parseRun = async (argv: string[]): Promise<RunRaw> => {
    const program = new Command('ftcp').exitOverride().enablePositionalOptions();
    registerRun(program);
    const run = program.commands.find((c) => c.name() === 'run')!;
    let out: RunRaw | undefined;
    run.action((command: string[], _flags: unknown, cmd: Command) => {
      out = runFlagsFromCommand(cmd, command);
    });
    await program.parseAsync(['run', ...argv], { from: 'user' });
    return out!;
  };

  it('leaves out commander defaults', async () => {
    expect(await parseRun(['--name', 'web', '--', 'node', 's.js'])).toEqual({ name: 'web', port: [], command: ['node', 's.js'] });
  });

  it('carries every flag given', async () => {
    const raw = await parseRun([
      '--name', 'web', '--vip', '10.0.0.2', '--host-addr', '10.0.0.1', '--port', '80', '--port', '81', '--data-dir', '/d',
      '--durability', 'memory', '--max-replay-bytes', '100', '--restart', 'always', '--mtu', '9000', '--busy-poll-us', '20', '--no-offload', '--', 'x',
    ]);
    expect(raw).toEqual({
      name: 'web', vip: '10.0.0.2', hostAddr: '10.0.0.1', port: ['80', '81'], dataDir: '/d', durability: 'memory',
      maxReplayBytes: '100', restart: 'always', mtu: '9000', busyPollUs: '20', vnetHdr: false, command: ['x'],
    });
  });

  it('--log TARGET and --no-log', async () => {
    expect(await parseRun(['--name', 'w', '--log', 'unix:/s', '--', 'x'])).toMatchObject({ log: true, logTarget: 'unix:/s' });
    expect(await parseRun(['--name', 'w', '--log', 'nats://a:1,b:2', '--replicas', '1', '--lease-ms', '500', '--lan-if', 'eth0', '--', 'x'])).toMatchObject({
      log: true,
      logTarget: 'nats://a:1,b:2',
      replicas: '1',
      leaseMs: '500',
      lanIf: 'eth0',
    });
    expect(await parseRun(['--name', 'w', '--no-log', '--', 'x'])).toMatchObject({ log: false });
    expect(await parseRun(['--name', 'w', '--nice', '-5', '--', 'x'])).toMatchObject({ nice: '-5' });
  });
});

describe('replicated log keys', () => {
  it('nice', () => {
    expect(parse('nice = -5\nports = [80]\ncommand = ["x"]')).toMatchObject({ nice: -5 });
  });

  it('a nats:// target with replicas, lease_ms and lan_if', () => {
    const raw = parse(['lan_if = "eth1"', 'ports = [80]', 'command = ["x"]', '[log]', 'target = "nats://10.0.0.5:4222,10.0.0.6:4222"', 'replicas = 3', 'lease_ms = 1500'].join('\n'));
    expect(raw).toMatchObject({ logTarget: 'nats://10.0.0.5:4222,10.0.0.6:4222', replicas: 3, leaseMs: 1500, lanIf: 'eth1' });
  });

  it('role = "standby" (the same unit on both hosts), only with a replicated log', () => {
    const text = ['role = "standby"', 'ports = [80]', 'command = ["x"]', '[log]', 'target = "nats://10.0.0.5:4222"'].join('\n');
    expect(parse(text)).toMatchObject({ role: 'standby' });
    expect(() => parse('role = "backup"\nports = [80]\ncommand = ["x"]')).toThrow(/key "role".*"primary" or "standby"/);
  });

  it('replicas and lease_ms only with a nats:// target', () => {
    expect(() => parse(['ports = [80]', 'command = ["x"]', '[log]', 'lease_ms = 1500'].join('\n'))).toThrow(/log.lease_ms.*only used with a replicated log/);
  });
});

describe('configuration reference', () => {
  it('has a row per key', () => {
    const md = configReferenceMarkdown();
    for (const k of CONFIG_KEYS) expect(md).toContain(`| \`${k.table ? `${k.table}.` : ''}${k.key}\` |`);
  });

  it('docs/OPERATIONS.md holds the current reference (regenerate: node scripts/gen-config-doc.mjs)', () => {
    const doc = readFileSync(join(ROOT, 'docs', 'OPERATIONS.md'), 'utf8');
    const m = /<!-- config-reference:start -->\n([\s\S]*?)<!-- config-reference:end -->/.exec(doc);
    expect(m, 'markers in docs/OPERATIONS.md').not.toBeNull();
    expect(m![1]).toBe(configReferenceMarkdown());
  });

  it('didYouMean only suggests close names', () => {
    expect(didYouMean('mtuu', ['mtu', 'name'])).toBe('mtu');
    expect(didYouMean('completely_else', ['mtu', 'name'])).toBeUndefined();
  });
});
