// `ftcp capture --iface`: live libpcap capture of a veth between two test namespaces while curl
// fetches from a python3 HTTP server; the pcapng file is read back by tshark and by `ftcp decode`.
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { linkTypeFromCapName } from '../../src/capture/link-type.js';
import type { DecodedTcp, DecodeLine } from '../../src/pcap/decode-format.js';
import { compareWithTshark, expectedFromTshark, tsharkFieldText } from '../unit/pcap/tshark.js';

const ROOT = new URL('../../', import.meta.url).pathname;
const MAIN = join(ROOT, 'dist/cli/main.js');
const TAG = `ftcpt-${process.pid}`;
const NS_SRV = `${TAG}-cs`;
const NS_CLI = `${TAG}-cc`;
const SRV_ADDR = '10.203.0.1';
const CLI_ADDR = '10.203.0.2';
const PORT = 8080;
const IFACE = 'vcap-c';
const tmp = mkdtempSync(join(tmpdir(), 'ftcp-capture-'));
const children = new Set<ChildProcess>();

// Until main.ts registers `capture`, the test drives registerCapture through a two-line entry.
const HARNESS = [
  "import { Command } from 'commander';",
  "import { registerCapture } from './dist/cli/capture.js';",
  "const p = new Command('ftcp').exitOverride().enablePositionalOptions(); registerCapture(p);",
  'try { await p.parseAsync(process.argv.slice(1), { from: "user" }); } catch (e) { process.exit(e.exitCode ?? 1); }',
].join('\n');
let ftcpArgv: string[] = [];

function sh(cmd: string, ...args: string[]): string {
  const r = spawnSync(cmd, args, { encoding: 'utf8', timeout: 30_000 });
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')}: exit ${r.status}: ${r.stderr}`);
  return r.stdout;
}
const inNs = (ns: string, cmd: string, ...args: string[]): string => sh('ip', 'netns', 'exec', ns, cmd, ...args);

interface Captured {
  code: number | null;
  signal: NodeJS.Signals | null;
  stderr: string;
  stdout: Buffer;
}

/** Starts `ftcp capture ARGS` in the client namespace; resolves `ready` once it is capturing. */
function startCapture(args: string[]): { ready: Promise<void>; done: Promise<Captured>; child: ChildProcess } {
  const child = spawn('ip', ['netns', 'exec', NS_CLI, ...ftcpArgv, 'capture', ...args], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
  children.add(child);
  let stderr = '';
  const out: Buffer[] = [];
  child.stdout!.on('data', (d: Buffer) => out.push(d));
  const done = new Promise<Captured>((resolve) =>
    child.once('exit', (code, signal) => {
      children.delete(child);
      resolve({ code, signal, stderr, stdout: Buffer.concat(out) });
    }),
  );
  const ready = new Promise<void>((resolve, reject) => {
    child.stderr!.on('data', (d: Buffer) => {
      stderr += d.toString();
      if (stderr.includes('capturing on')) resolve();
    });
    void done.then((r) => reject(new Error(`capture exited before it was ready (${r.code}): ${r.stderr}`)));
  });
  ready.catch(() => undefined); // runCapture() only looks at `done`
  return { ready, done, child };
}

const runCapture = (args: string[]): Promise<Captured> => startCapture(args).done;

function curl(times: number): void {
  for (let i = 0; i < times; i++) {
    const body = inNs(NS_CLI, 'curl', '-sS', '--max-time', '10', `http://${SRV_ADDR}:${PORT}/page.txt`);
    expect(body.length).toBe(10_000);
  }
}

function decodeLikeTshark(file: string): DecodedTcp[] {
  const r = spawnSync('node', [MAIN, 'decode', '--json', file], { encoding: 'utf8', timeout: 60_000 });
  expect(r.stderr).toBe('');
  expect(r.status).toBe(0);
  const lines = r.stdout.split('\n').filter((l) => l !== '').map((l) => JSON.parse(l) as DecodeLine);
  expect(lines.filter((d) => 'error' in d)).toEqual([]);
  const tcp = lines as DecodedTcp[];
  compareWithTshark(tcp, expectedFromTshark(tsharkFieldText(file)));
  return tcp;
}

beforeAll(async () => {
  // Other modules may not typecheck yet; tsc still emits ours.
  spawnSync('npm', ['run', 'build:ts'], { cwd: ROOT, stdio: 'ignore', timeout: 300_000 });
  const wired = /^\s+capture\b/m.test(spawnSync('node', [MAIN, '--help'], { encoding: 'utf8' }).stdout);
  ftcpArgv = wired ? ['node', MAIN] : ['node', '--input-type=module', '-e', HARNESS, '--'];

  for (const ns of [NS_SRV, NS_CLI]) {
    if (existsSync(`/var/run/netns/${ns}`)) sh('ip', 'netns', 'del', ns);
    sh('ip', 'netns', 'add', ns);
    inNs(ns, 'ip', 'link', 'set', 'lo', 'up');
  }
  sh('ip', '-n', NS_SRV, 'link', 'add', 'vcap-s', 'type', 'veth', 'peer', 'name', IFACE, 'netns', NS_CLI);
  inNs(NS_SRV, 'ip', 'addr', 'add', `${SRV_ADDR}/24`, 'dev', 'vcap-s');
  inNs(NS_CLI, 'ip', 'addr', 'add', `${CLI_ADDR}/24`, 'dev', IFACE);
  inNs(NS_SRV, 'ip', 'link', 'set', 'vcap-s', 'up');
  inNs(NS_CLI, 'ip', 'link', 'set', IFACE, 'up');

  writeFileSync(join(tmp, 'page.txt'), 'x'.repeat(10_000));
  const srv = spawn('ip', ['netns', 'exec', NS_SRV, 'python3', '-m', 'http.server', String(PORT), '--bind', SRV_ADDR, '--directory', tmp], {
    stdio: 'ignore',
  });
  children.add(srv);
  for (let i = 0; ; i++) {
    const r = spawnSync('ip', ['netns', 'exec', NS_CLI, 'curl', '-s', '-o', '/dev/null', '--max-time', '2', `http://${SRV_ADDR}:${PORT}/`]);
    if (r.status === 0) break;
    if (i > 50) throw new Error('python3 http.server did not start');
    await new Promise((r2) => setTimeout(r2, 100));
  }
});

afterAll(() => {
  for (const c of children) c.kill('SIGKILL');
  for (const ns of [NS_SRV, NS_CLI]) spawnSync('ip', ['netns', 'del', ns]);
  rmSync(tmp, { recursive: true, force: true });
});

describe('ftcp capture --iface', () => {
  it('captures curl traffic on a veth until SIGINT; tshark and ftcp decode read the same packets', async () => {
    const file = join(tmp, 'veth.pcapng');
    const cap = startCapture(['--iface', IFACE, '--filter', `tcp port ${PORT}`, '-w', file]);
    await cap.ready;
    curl(3);
    // Let the last FIN/ACK exchange reach the capture before stopping it.
    await new Promise((r) => setTimeout(r, 300));
    cap.child.kill('SIGINT');
    const r = await cap.done;
    expect(r.code).toBe(0);
    expect(r.stderr).toMatch(/capturing on vcap-c \(link type 1\) filter "tcp port 8080"/);
    const written = Number(/(\d+) packets written to/.exec(r.stderr)?.[1]);

    // tshark opens it and sees three complete HTTP exchanges.
    const t = spawnSync('tshark', ['-r', file, '-T', 'fields', '-e', 'tcp.flags.syn', '-e', 'tcp.flags.ack', '-e', 'http.request.method', '-e', 'http.response.code'], {
      encoding: 'utf8',
    });
    expect(t.status).toBe(0);
    const rows = t.stdout.trim().split('\n').map((l) => l.split('\t'));
    expect(rows.length).toBe(written);
    expect(rows.filter(([syn, ack]) => syn === '1' && ack === '0').length).toBe(3);
    expect(rows.filter((f) => f[2] === 'GET').length).toBe(3);
    expect(rows.filter((f) => f[3] === '200').length).toBe(3);
    const info = spawnSync('capinfos', ['-t', '-E', '-T', '-r', file], { encoding: 'utf8' });
    expect(info.stdout).toMatch(/\tpcapng\tether\n/);

    // ftcp decode agrees with tshark on every field of every packet.
    const pkts = decodeLikeTshark(file);
    expect(pkts.length).toBe(written);
    expect(pkts.filter((p) => p.flags === 2 && p.dport === PORT).length).toBe(3);
    const bytesToClient = pkts.filter((p) => p.sport === PORT).reduce((n, p) => n + p.len, 0);
    expect(bytesToClient).toBeGreaterThan(3 * 10_000);
  });

  it('--count stops after N packets; -w - streams the pcapng to stdout', async () => {
    const cap = startCapture(['-i', IFACE, '-f', `tcp port ${PORT}`, '-c', '5', '-w', '-']);
    await cap.ready;
    curl(2);
    const r = await cap.done;
    expect(r.code).toBe(0);
    expect(r.stderr).toMatch(/5 packets written \(count reached\)/);
    const file = join(tmp, 'stdout.pcapng');
    writeFileSync(file, r.stdout);
    expect(readFileSync(file).readUInt32LE(0)).toBe(0x0a0d0d0a);
    const pkts = decodeLikeTshark(file);
    expect(pkts.length).toBe(5);
    expect(pkts[0]!.flags).toBe(2); // the capture starts with the first SYN
  });

  it('--duration ends a capture on a quiet link with a valid empty file', async () => {
    const file = join(tmp, 'quiet.pcapng');
    const r = await runCapture(['--iface', IFACE, '--filter', 'udp port 9', '--duration', '0.5', '-w', file]);
    expect(r.code).toBe(0);
    expect(r.stderr).toMatch(/0 packets written to .* \(duration reached\)/);
    expect(spawnSync('tshark', ['-r', file], { encoding: 'utf8' }).status).toBe(0);
    expect(decodeLikeTshark(file)).toEqual([]);
  });

  it('bad input fails at start with exit 2 and a message naming the fix', async () => {
    const file = join(tmp, 'bad.pcapng');
    const cases: Array<[string[], RegExp]> = [
      [['--iface', 'eth-none', '-w', file], /no interface "eth-none" in this network namespace \(have: .*vcap-c.*\); for one inside a namespace run `ip netns exec NS/],
      [['--iface', IFACE, '--filter', 'tcp portt 80', '-w', file], /--filter "tcp portt 80": .*syntax error.* \(see pcap-filter\(7\)/],
      [['--iface', IFACE], /-w FILE is required/],
      [['-w', file], /say what to capture: --iface IFACE .* or NAME/],
      [['web', '--iface', IFACE, '-w', file], /give either NAME \(web\) or --iface \(vcap-c\), not both/],
      [['--iface', IFACE, '--count', 'x', '-w', file], /--count x: expected a number of packets >= 1/],
      [['--iface', IFACE, '--duration', '-1', '-w', file], /--duration -1: expected seconds > 0/],
      [['--iface', IFACE, '-w', join(tmp, 'no-such-dir', 'f.pcapng')], /-w .*f\.pcapng: cannot write: ENOENT/],
      [['--iface', IFACE, '--side', 'inner', '-w', file], /--side applies to NAME/],
    ];
    for (const [args, re] of cases) {
      const r = await runCapture(args);
      expect({ args, stderr: r.stderr }).toEqual({ args, stderr: expect.stringMatching(re) });
      expect(r.code).toBe(2);
      expect(r.signal).toBeNull();
    }
  });
});

describe('link types named by the cap binding', () => {
  it('map to pcapng LINKTYPE numbers', () => {
    expect(linkTypeFromCapName('ETHERNET')).toBe(1);
    expect(linkTypeFromCapName('RAW')).toBe(101);
    expect(linkTypeFromCapName('LINKTYPE_LINUX_SLL')).toBe(113);
    expect(linkTypeFromCapName('NULL')).toBe(0);
    expect(linkTypeFromCapName('Unknown linktype 276')).toBe(276);
    expect(linkTypeFromCapName('Unknown linktype 12')).toBe(101);
    expect(linkTypeFromCapName('something else')).toBeUndefined();
  });
});
