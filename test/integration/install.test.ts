// scripts/install.sh staged into a temporary DESTDIR (nothing outside it is written): the file
// layout, idempotence, `systemd-analyze verify` of the units, the installed `ftcp` running a
// protected echo service, capturing and decoding, and an uninstall that leaves nothing behind.
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readlinkSync, readdirSync, cpSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadRunConfigFile } from '../../src/config/run-config-file.js';
import { ROOT, TestNetns, netnsExists, sh } from '../helpers/host.js';

const INSTALL = join(ROOT, 'scripts', 'install.sh');
const PREFIX = '/opt/ftcp';
const tmp = mkdtempSync(join(tmpdir(), 'ftcp-install-'));
const DEST = join(tmp, 'dest');
const BIN = join(DEST, PREFIX, 'bin', 'ftcp');
const LIB = join(DEST, PREFIX, 'lib', 'ftcp');
const children = new Set<ChildProcess>();
const svc = `in${(process.pid % 10000).toString(36)}`;
let host: TestNetns | undefined;

function install(...args: string[]): { code: number | null; stdout: string; stderr: string } {
  // --no-build: reuse this tree's build (made in beforeAll / by `make test`), never race another build.
  const r = spawnSync('bash', [INSTALL, ...(args.includes('--uninstall') ? [] : ['--no-build']), ...args], { encoding: 'utf8', env: { ...process.env, DESTDIR: DEST }, timeout: 170_000 });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

/** Every path under DIR (relative), with a type mark; symlinks are not followed. */
function listTree(dir: string): string[] {
  const out: string[] = [];
  const walk = (d: string): void => {
    for (const e of readdirSync(d, { withFileTypes: true })) {
      const p = join(d, e.name);
      out.push(`${relative(dir, p)}${e.isDirectory() ? '/' : e.isSymbolicLink() ? '@' : ''}`);
      if (e.isDirectory()) walk(p);
    }
  };
  if (existsSync(dir)) walk(dir);
  return out.sort();
}

const ftcp = (args: string[], timeout = 30_000) => spawnSync(BIN, args, { encoding: 'utf8', timeout });

beforeAll(() => {
  // The install reuses this tree's build; make sure it is current (tsc emits even if another module has type errors).
  spawnSync('npm', ['run', 'build:ts'], { cwd: ROOT, stdio: 'ignore', timeout: 300_000 });
  mkdirSync(DEST);
});

afterAll(() => {
  for (const c of children) c.kill('SIGKILL');
  host?.destroy();
  if (netnsExists(`ftcp-${svc}`)) spawnSync('ip', ['netns', 'del', `ftcp-${svc}`]);
  rmSync(tmp, { recursive: true, force: true });
});

describe('scripts/install.sh with DESTDIR', () => {
  let firstTree: string[] = [];

  it('installs the command, the library, the units and the example config, reporting progress', () => {
    const r = install();
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    for (let i = 1; i <= 7; i++) expect(r.stdout).toContain(`[${i}/7]`);
    expect(r.stdout).toContain('using the existing build');

    expect(statSync(BIN).mode & 0o111).not.toBe(0);
    expect(readlinkSync(join(DEST, 'usr/local/bin/ftcp'))).toBe(`${PREFIX}/bin/ftcp`);
    // The daemons (run, standby) get their node flags (scripts/daemon-node-flags), a standby its
    // own too (scripts/standby-node-flags); the other commands node's defaults.
    const flags = readFileSync(join(ROOT, 'scripts', 'daemon-node-flags'), 'utf8').trim();
    const standby = readFileSync(join(ROOT, 'scripts', 'standby-node-flags'), 'utf8').trim();
    expect(flags).toContain('--v8-pool-size=1');
    const bin = readFileSync(BIN, 'utf8');
    expect(bin).toContain(`run) exec "$node" ${flags} "$here/`);
    expect(bin).toContain(`standby) exec "$node" ${flags} ${standby} "$here/`);
    for (const f of ['dist/cli/main.js', 'native/build/Release/ftcp_tun.node', 'native/build/Release/ftcp_crc32c.node', 'package.json', 'proto', 'node_modules/cap/build/Release/cap.node', 'node_modules/@grpc/grpc-js', 'docs/OPERATIONS.md']) {
      expect(existsSync(join(LIB, f)), f).toBe(true);
    }
    // Production dependencies only.
    for (const dev of ['typescript', 'vitest', 'ts-proto', 'node-gyp', 'fast-check']) expect(existsSync(join(LIB, 'node_modules', dev)), dev).toBe(false);

    const logd = readFileSync(join(DEST, 'etc/systemd/system/ftcp-logd.service'), 'utf8');
    expect(logd).toContain(`ExecStart=${PREFIX}/bin/ftcp logd --data-dir /var/lib/ftcp/logd --listen unix:/run/ftcp/logd.sock`);
    const tpl = readFileSync(join(DEST, 'etc/systemd/system/ftcp@.service'), 'utf8');
    expect(tpl).toContain(`ExecStart=${PREFIX}/bin/ftcp run --config /etc/ftcp/%i.toml`);
    expect(tpl).toMatch(/^CapabilityBoundingSet=CAP_NET_ADMIN CAP_SYS_ADMIN CAP_KILL CAP_NET_BIND_SERVICE CAP_SYS_NICE CAP_NET_RAW$/m);
    expect(tpl).not.toMatch(/@BINDIR@|@LIBDIR@/);
    expect(loadRunConfigFile(join(DEST, 'etc/ftcp/example.toml'))).toMatchObject({ name: 'example', port: [8080] });
    firstTree = listTree(DEST);
  });

  it('is idempotent: a second run gives the same tree', () => {
    const r = install();
    expect(r.code).toBe(0);
    expect(listTree(DEST)).toEqual(firstTree);
  });

  it('the unit files pass systemd-analyze verify', (ctx) => {
    if (spawnSync('which', ['systemd-analyze']).status !== 0) return ctx.skip('systemd-analyze is not installed');
    // verify loads the units as systemd would, so it needs the stock units (sysinit.target...) and
    // the ExecStart binaries under the same root: the DESTDIR tree plus this host's /usr/lib/systemd.
    const vroot = join(tmp, 'verify-root');
    cpSync(DEST, vroot, { recursive: true, verbatimSymlinks: true });
    mkdirSync(join(vroot, 'usr/lib/systemd'), { recursive: true });
    cpSync('/usr/lib/systemd/system', join(vroot, 'usr/lib/systemd/system'), { recursive: true, verbatimSymlinks: true });
    const verify = (...units: string[]) => spawnSync('systemd-analyze', ['verify', `--root=${vroot}`, ...units], { encoding: 'utf8', timeout: 60_000 });
    const ok = verify('ftcp-logd.service', 'ftcp@.service', `ftcp@${svc}.service`);
    expect(ok.stderr).toBe('');
    expect(ok.status).toBe(0);
    // The verifier really checks in this container: a broken copy fails.
    writeFileSync(
      join(vroot, 'etc/systemd/system/ftcp-broken@.service'),
      readFileSync(join(vroot, 'etc/systemd/system/ftcp@.service'), 'utf8').replace(`${PREFIX}/bin/ftcp run`, `${PREFIX}/bin/nope run`).replace('UMask=0077', 'UMask=0077\nNoSuchKey=1'),
    );
    const bad = verify('ftcp-broken@x.service');
    expect(bad.status).not.toBe(0);
    expect(bad.stderr).toMatch(/Unknown key 'NoSuchKey'/);
    expect(bad.stderr).toMatch(/nope is not executable/);
    rmSync(vroot, { recursive: true, force: true });
  });

  it('the installed ftcp runs: --help, native addons, decode', () => {
    const help = ftcp(['--help']);
    expect(help.status).toBe(0);
    for (const c of ['run', 'decode', 'logd']) expect(help.stdout).toMatch(new RegExp(`^\\s+${c}\\b`, 'm'));
    const addons = spawnSync('node', ['--input-type=module', '-e', "const m = await import('./dist/native/load.js'); m.loadAddon('ftcp_tun'); m.loadAddon('ftcp_crc32c'); console.log('ok')"], { cwd: LIB, encoding: 'utf8' });
    expect(addons.stderr).toBe('');
    expect(addons.stdout.trim()).toBe('ok');
    const fixture = join(ROOT, 'test/fixtures/lo-v4v6-snap200.pcapng');
    const installed = ftcp(['decode', '--json', fixture]);
    const source = spawnSync('node', [join(ROOT, 'dist/cli/main.js'), 'decode', '--json', fixture], { encoding: 'utf8' });
    expect(installed.status).toBe(0);
    expect(installed.stdout.length).toBeGreaterThan(0);
    expect(installed.stdout).toBe(source.stdout);
  });

  it('the installed ftcp protects an echo service, and captures and decodes its traffic', async () => {
    host = TestNetns.create('inst');
    const data = join(tmp, 'data');
    const env = { ...process.env, FTCP_RUN_DIR: join(tmp, 'run'), FTCP_LOG_LEVEL: 'warn' };
    const vip = '10.77.9.2';
    // Through a config file as ftcp@.service does, once `ftcp run --config` exists; flags before that.
    const conf = join(tmp, `${svc}.toml`);
    writeFileSync(
      conf,
      [`vip = "${vip}"`, 'ports = [9000]', `command = ["python3", "${join(ROOT, 'test/apps/echo.py')}", "9000"]`, '[log]', `data_dir = "${data}"`, 'durability = "memory"', ''].join('\n'),
    );
    const runArgs = /--config\b/.test(ftcp(['run', '--help']).stdout)
      ? ['run', '--config', conf]
      : ['run', '--name', svc, '--vip', vip, '--port', '9000', '--data-dir', data, '--durability', 'memory', '--', 'python3', join(ROOT, 'test/apps/echo.py'), '9000'];
    const daemon = spawn('nsenter', [`--net=/var/run/netns/${host.name}`, BIN, ...runArgs], { env, stdio: ['ignore', 'pipe', 'pipe'] });
    children.add(daemon);
    let out = '';
    let err = '';
    daemon.stdout!.on('data', (d: Buffer) => (out += d.toString()));
    daemon.stderr!.on('data', (d: Buffer) => (err += d.toString()));
    const exited = new Promise<number | null>((resolve) => daemon.once('exit', (code) => resolve(code)));
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`installed ftcp run not ready; stderr: ${err}`)), 30_000);
      daemon.stdout!.on('data', () => {
        if (/ready vip=/.test(out)) {
          clearTimeout(timer);
          resolve();
        }
      });
      void exited.then((code) => reject(new Error(`installed ftcp run exited (${code}): ${err}`)));
    });

    // Capture on the service's outer TUN with the installed binary (libpcap binding from the install).
    const pcap = join(tmp, 'outer.pcapng');
    const wired = /^\s+capture\b/m.test(ftcp(['--help']).stdout);
    const captureCmd = wired
      ? [BIN, 'capture']
      : ['node', '--input-type=module', '-e',
          "import { Command } from 'commander'; import { registerCapture } from './dist/cli/capture.js'; const p = new Command('ftcp'); registerCapture(p); await p.parseAsync(process.argv.slice(1), { from: 'user' });",
          '--', 'capture'];
    const cap = spawn('nsenter', [`--net=/var/run/netns/${host.name}`, ...captureCmd, '--iface', `ft-${svc}`, '-f', 'tcp port 9000', '-w', pcap], {
      cwd: LIB,
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    children.add(cap);
    let capErr = '';
    await new Promise<void>((resolve, reject) => {
      cap.stderr!.on('data', (d: Buffer) => {
        capErr += d.toString();
        if (capErr.includes('capturing on')) resolve();
      });
      cap.once('exit', (code) => reject(new Error(`capture exited (${code}): ${capErr}`)));
    });

    const echo = JSON.parse(host.exec('python3', [join(ROOT, 'test/apps/echo_client.py'), vip, '9000', String(256 << 10), '20'], { timeout: 60_000 })) as {
      sentSha: string;
      recvSha: string;
      received: number;
    };
    expect(echo.received).toBe(256 << 10);
    expect(echo.recvSha).toBe(echo.sentSha);

    await new Promise((r) => setTimeout(r, 300));
    const capDone = new Promise<number | null>((resolve) => cap.once('exit', (code) => resolve(code)));
    cap.kill('SIGINT');
    expect(await capDone).toBe(0);
    const decoded = ftcp(['decode', '--json', pcap]);
    expect(decoded.status).toBe(0);
    const pkts = decoded.stdout.trim().split('\n').map((l) => JSON.parse(l) as { flags: number; dport: number; dst: string });
    expect(pkts.filter((p) => p.flags === 2 && p.dport === 9000 && p.dst === vip).length).toBe(1);

    daemon.kill('SIGTERM');
    expect(await exited).toBe(0);
    expect(netnsExists(`ftcp-${svc}`)).toBe(false);
  });

  it('--uninstall leaves nothing behind', () => {
    const r = install('--uninstall');
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('ftcp uninstalled');
    expect(listTree(DEST)).toEqual([]);
    // ...and is idempotent too.
    expect(install('--uninstall').code).toBe(0);
  });

  it('keeps operator configs unless --purge', () => {
    const again = install();
    expect(again.stderr).toBe('');
    expect(again.code).toBe(0);
    writeFileSync(join(DEST, 'etc/ftcp', `${svc}.toml`), 'ports = [9000]\ncommand = ["true"]\n');
    mkdirSync(join(DEST, 'var/lib/ftcp', svc), { recursive: true });
    const r = install('--uninstall');
    expect(r.stdout).toMatch(/kept \/etc\/ftcp/);
    expect(listTree(DEST)).toEqual(['etc/', 'etc/ftcp/', `etc/ftcp/${svc}.toml`, 'var/', 'var/lib/', 'var/lib/ftcp/', `var/lib/ftcp/${svc}/`]);
    expect(install('--uninstall', '--purge').code).toBe(0);
    expect(listTree(DEST)).toEqual(['etc/', 'var/', 'var/lib/']);
  });

  it('refuses bad options and an unsupported host with a clear message', () => {
    expect(install('--rebuild').stderr).toMatch(/--rebuild and --no-build exclude each other/);
    expect(install('--prefix', 'relative').stderr).toMatch(/--prefix must be an absolute path/);
    expect(install('--frobnicate').stderr).toMatch(/unknown option --frobnicate/);
    expect(install('--purge').stderr).toMatch(/--purge goes with --uninstall/);
    // Without DESTDIR in a container without systemd as PID 1, the real install refuses to start.
    if (!existsSync('/run/systemd/system')) {
      const r = spawnSync('bash', [INSTALL], { encoding: 'utf8', env: { ...process.env, DESTDIR: '' } });
      expect(r.status).toBe(1);
      expect(r.stderr).toMatch(/unsupported host: systemd is not running/);
    }
  });
});
