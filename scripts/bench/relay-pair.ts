// Throughput probe of the TUN relay: two namespaces, a TUN in each opened by this process, a
// Relay joining them, iperf3 one stream for a few seconds, with and without vnet header/TSO.
// Prints Gbit/s, the relay's batch figures and this process's RSS. Needs root.
//
// Node 20 cannot run .ts directly; compile then run (from the repository root):
//   npm run build:native && npx tsc --outDir dist/bench --rootDir . --module nodenext \
//     --moduleResolution nodenext --target es2022 --types node --skipLibCheck scripts/bench/relay-pair.ts
//   node dist/bench/scripts/bench/relay-pair.js [--seconds 5] [--mode plain|vnet|both] [--veth]
// --veth also measures a direct veth pair between the same namespaces, the reference figure.
// --rtt adds 64-byte request/response round trips (native/tools/pingpong.c, built on demand).
// Tuning knobs (TunOpenOptions) from the environment: FTCP_BENCH_BATCH_BYTES, FTCP_BENCH_POOL,
// FTCP_BENCH_BATCH_PACKETS, FTCP_BENCH_TXQLEN, FTCP_BENCH_READER=loop.
import { spawn, execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, statSync } from 'node:fs';
import { TunDevice } from '../../src/tun/tun-device.js';
import { Relay } from '../../src/relay/relay.js';

const ADDR_A = '10.201.0.1';
const ADDR_B = '10.201.0.2';

function ip(...args: string[]): void {
  execFileSync('ip', args, { stdio: ['ignore', 'ignore', 'pipe'] });
}

function run(cmd: string, args: string[], timeoutMs: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (err += d.toString()));
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.on('close', (code) => {
      clearTimeout(timer);
      if (code === 0) resolve(out);
      else reject(new Error(`${cmd} ${args.join(' ')} exited ${code}: ${err.trim()}`));
    });
  });
}

interface Netns {
  name: string;
}

function makeNetns(name: string): Netns {
  if (existsSync(`/var/run/netns/${name}`)) ip('netns', 'del', name);
  ip('netns', 'add', name);
  ip('-n', name, 'link', 'set', 'lo', 'up');
  return { name };
}

function deleteNetns(ns: Netns): void {
  try {
    const pids = execFileSync('ip', ['netns', 'pids', ns.name], { encoding: 'utf8' }).split('\n').filter(Boolean);
    for (const pid of pids) process.kill(Number(pid), 'SIGKILL');
  } catch {
    /* already gone */
  }
  try {
    ip('netns', 'del', ns.name);
  } catch {
    /* already gone */
  }
}

function address(ns: Netns, dev: string, local: string, peer: string): void {
  ip('-n', ns.name, 'addr', 'add', `${local}/32`, 'dev', dev);
  ip('-n', ns.name, 'link', 'set', dev, 'up');
  ip('-n', ns.name, 'route', 'add', `${peer}/32`, 'dev', dev);
}

async function iperf(a: Netns, b: Netns, seconds: number): Promise<number> {
  const server = spawn('ip', ['netns', 'exec', b.name, 'iperf3', '-s', '-1', '-B', ADDR_B, '-p', '5201'], {
    stdio: 'ignore',
  });
  try {
    await new Promise((r) => setTimeout(r, 300));
    const json = await run(
      'ip',
      ['netns', 'exec', a.name, 'iperf3', '-c', ADDR_B, '-p', '5201', '-t', String(seconds), '-J'],
      (seconds + 20) * 1000,
    );
    const report = JSON.parse(json) as { end: { sum_received: { bits_per_second: number } } };
    return report.end.sum_received.bits_per_second / 1e9;
  } finally {
    server.kill('SIGKILL');
  }
}

const PINGPONG_SRC = 'native/tools/pingpong.c';
const PINGPONG = 'native/build/tools/pingpong';
let rttCount = 0; // 0: no latency probe

function pingpongBinary(): string {
  if (!existsSync(PINGPONG) || statSync(PINGPONG).mtimeMs < statSync(PINGPONG_SRC).mtimeMs) {
    mkdirSync('native/build/tools', { recursive: true });
    execFileSync('cc', ['-O2', '-o', PINGPONG, PINGPONG_SRC]);
  }
  return `${process.cwd()}/${PINGPONG}`;
}

async function rtt(a: Netns, b: Netns): Promise<string> {
  if (rttCount === 0) return '';
  const bin = pingpongBinary();
  const server = spawn('ip', ['netns', 'exec', b.name, bin, 'server', '7000'], { stdio: 'ignore' });
  try {
    await new Promise((r) => setTimeout(r, 300));
    const out = await run('ip', ['netns', 'exec', a.name, bin, 'client', ADDR_B, '7000', String(rttCount), '64'], 60_000);
    const r = JSON.parse(out) as { p50: number; p99: number; mean: number };
    return `  rtt p50 ${r.p50} us p99 ${r.p99} us`;
  } finally {
    server.kill('SIGKILL');
  }
}

async function measureRelay(a: Netns, b: Netns, vnetHdr: boolean, seconds: number): Promise<void> {
  const tuning = {
    ...(process.env.FTCP_BENCH_BATCH_BYTES ? { batchBytes: Number(process.env.FTCP_BENCH_BATCH_BYTES) } : {}),
    ...(process.env.FTCP_BENCH_POOL ? { poolSize: Number(process.env.FTCP_BENCH_POOL) } : {}),
    ...(process.env.FTCP_BENCH_BATCH_PACKETS ? { batchPackets: Number(process.env.FTCP_BENCH_BATCH_PACKETS) } : {}),
    ...(process.env.FTCP_BENCH_TXQLEN ? { txQueueLen: Number(process.env.FTCP_BENCH_TXQLEN) } : {}),
    ...(process.env.FTCP_BENCH_READER === 'loop' ? { reader: 'loop' as const } : {}),
  };
  const ta = TunDevice.open({ name: 'ftcpbench0', netns: a.name, mtu: 1500, vnetHdr, ...tuning });
  const tb = TunDevice.open({ name: 'ftcpbench1', netns: b.name, mtu: 1500, vnetHdr, ...tuning });
  const relay = new Relay({ outer: ta, inner: tb, onError: (err, dir) => console.error(`relay ${dir}: ${err.message}`) });
  try {
    address(a, ta.name, ADDR_A, ADDR_B);
    address(b, tb.name, ADDR_B, ADDR_A);
    relay.start();
    const cpu0 = process.cpuUsage();
    const t0 = process.hrtime.bigint();
    const gbps = await iperf(a, b, seconds);
    const cpu = process.cpuUsage(cpu0);
    const wallUs = Number(process.hrtime.bigint() - t0) / 1000;
    const latency = await rtt(a, b);
    const c = relay.counters;
    const perBatch = (d: typeof c.inbound): string => (d.readBatches ? (d.readPackets / d.readBatches).toFixed(1) : '0');
    const avgPkt = c.inbound.readPackets ? Math.round(c.inbound.readBytes / c.inbound.readPackets) : 0;
    console.log(
      `relay ${vnetHdr ? 'vnet-hdr+TSO' : 'plain      '} (${ta.reader} reader)  ${gbps.toFixed(2)} Gbit/s` +
        `  rss ${(process.memoryUsage().rss / 2 ** 20).toFixed(0)} MiB` +
        `  cpu ${(((cpu.user + cpu.system) / wallUs) * 100).toFixed(0)}% (sys ${((cpu.system / wallUs) * 100).toFixed(0)}%)` +
        `  data dir: ${c.inbound.readPackets} pkts, ${perBatch(c.inbound)}/batch, avg ${avgPkt} B` +
        `  ack dir: ${c.outbound.readPackets} pkts, ${perBatch(c.outbound)}/batch` +
        `  dropped ${c.inbound.droppedPackets + c.outbound.droppedPackets}, errors ${c.errors}` +
        latency,
    );
  } finally {
    relay.close();
  }
}

async function measureVeth(a: Netns, b: Netns, seconds: number): Promise<void> {
  ip('-n', a.name, 'link', 'add', 'ftcpbv0', 'type', 'veth', 'peer', 'name', 'ftcpbv1', 'netns', b.name);
  try {
    address(a, 'ftcpbv0', ADDR_A, ADDR_B);
    address(b, 'ftcpbv1', ADDR_B, ADDR_A);
    const gbps = await iperf(a, b, seconds);
    console.log(`veth (reference)        ${gbps.toFixed(2)} Gbit/s${await rtt(a, b)}`);
  } finally {
    ip('-n', a.name, 'link', 'del', 'ftcpbv0');
  }
}

async function main(): Promise<void> {
  const argv = process.argv.slice(2);
  const opt = (name: string, fallback: string): string => {
    const i = argv.indexOf(name);
    return i >= 0 && argv[i + 1] !== undefined ? argv[i + 1]! : fallback;
  };
  const seconds = Number(opt('--seconds', '5'));
  const mode = opt('--mode', 'both');
  if (argv.includes('--rtt')) rttCount = Number(opt('--rtt-count', '5000'));
  const a = makeNetns(`ftcpt-${process.pid}-bench-a`);
  const b = makeNetns(`ftcpt-${process.pid}-bench-b`);
  const cleanup = (): void => {
    deleteNetns(a);
    deleteNetns(b);
  };
  process.on('SIGINT', () => {
    cleanup();
    process.exit(130);
  });
  try {
    if (argv.includes('--veth')) await measureVeth(a, b, seconds);
    if (mode === 'plain' || mode === 'both') await measureRelay(a, b, false, seconds);
    if (mode === 'vnet' || mode === 'both') await measureRelay(a, b, true, seconds);
  } finally {
    cleanup();
  }
}

main().catch((err: unknown) => {
  console.error(err);
  process.exitCode = 1;
});
