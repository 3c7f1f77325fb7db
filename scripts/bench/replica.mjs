// Replicated log benchmark: logged append throughput (64 KiB client-data records) and
// append-to-durable latency (one small record at a time) of the replicated store (embedded store
// + every commit on a local 3-node JetStream cluster, R3) beside the plain memory and fsync
// stores. Writers append in-process, as the daemon's wrappers do with the embedded log server.
// Needs `npm run build:ts` and nats-server. Usage: node scripts/bench/replica.mjs [MiB=128] [n=400]
import { spawn, spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { LogClient } from '../../dist/log/client.js';
import { startEmbeddedLogServer } from '../../dist/log/embedded.js';
import { openReplicatedStore } from '../../dist/log/replica/index.js';
import { silentLogger } from '../../dist/util/logger.js';

const MIB = Number(process.argv[2] ?? 128);
const N = Number(process.argv[3] ?? 400);
const RECORD = 64 * 1024;
const NATS = spawnSync('which', ['nats-server']).status === 0 ? 'nats-server' : existsSync('/usr/sbin/nats-server') ? '/usr/sbin/nats-server' : undefined;
if (!NATS) throw new Error('nats-server is not installed');
const log = silentLogger();

async function freePort() {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });
}

/** A 3-node cluster on loopback in a temp dir (the same settings as test/helpers/nats-cluster.ts). */
async function startCluster(dir) {
  await mkdir(dir, { recursive: true });
  const cp = [await freePort(), await freePort(), await freePort()];
  const rp = [await freePort(), await freePort(), await freePort()];
  const routes = rp.map((p) => `nats-route://127.0.0.1:${p}`).join(', ');
  const procs = [];
  for (let i = 0; i < 3; i++) {
    const conf = join(dir, `n${i + 1}.conf`);
    await writeFile(conf, [
      `server_name: n${i + 1}`, `listen: 127.0.0.1:${cp[i]}`, 'max_payload: 8MB',
      `jetstream { store_dir: "${join(dir, `n${i + 1}`)}", max_memory_store: 64MB, max_file_store: 4GB }`,
      `cluster { name: ftcpbench${process.pid}, listen: 127.0.0.1:${rp[i]}, routes: [ ${routes} ] }`,
    ].join('\n'));
    const p = spawn(NATS, ['-c', conf, '-l', join(dir, `n${i + 1}.log`)], { stdio: 'ignore' });
    procs.push(p);
  }
  for (let t = 0; t < 300; t++) {
    const logs = await Promise.all([1, 2, 3].map((i) => readFile(join(dir, `n${i}.log`), 'utf8').catch(() => '')));
    if (logs.every((l) => l.includes('Server is ready'))) return { urls: cp.map((p) => `127.0.0.1:${p}`), procs };
    await sleep(100);
  }
  throw new Error('cluster not ready');
}

async function measure(name, srv, service, epoch) {
  const c = new LogClient({ target: srv.target, service, epoch });
  // Throughput: MIB of 64 KiB records, kept under the client's high-water mark.
  const data = Buffer.alloc(RECORD, 7);
  const total = Math.floor((MIB * 1024 * 1024) / RECORD);
  const t0 = process.hrtime.bigint();
  let off = 0;
  for (let i = 0; i < total; i++) {
    c.append({ connId: 'bench', kind: { $case: 'clientData', value: { offset: off, data } } });
    off += RECORD;
    if (!c.writable) await new Promise((r) => c.once('drain', r));
  }
  await c.waitDurable();
  const secs = Number(process.hrtime.bigint() - t0) / 1e9;
  // Latency: one small record at a time, append → durable.
  const us = [];
  for (let i = 0; i < N; i++) {
    const t = process.hrtime.bigint();
    const seq = c.append({ connId: '', kind: { $case: 'nondeterministic', value: { name: 'bench', value: Buffer.alloc(8), globalOrder: i } } });
    await c.waitDurable(seq);
    us.push(Number(process.hrtime.bigint() - t) / 1000);
  }
  await c.close();
  us.sort((a, b) => a - b);
  const q = (x) => Math.round(us[Math.min(us.length - 1, Math.floor(x * us.length))]);
  const row = { store: name, MBps: Number(((total * RECORD) / secs / 1e6).toFixed(1)), records: total, p50_us: q(0.5), p99_us: q(0.99) };
  console.log(JSON.stringify(row));
  return row;
}

const dir = await mkdtemp(join(tmpdir(), 'ftcp-bench-replica-'));
let cluster;
try {
  console.log(JSON.stringify({ loadavg_before: loadavg().map((x) => Number(x.toFixed(2))), MiB: MIB, recordBytes: RECORD, latencySamples: N }));
  for (const durability of ['memory', 'fsync']) {
    const srv = await startEmbeddedLogServer({ dataDir: join(dir, durability), durability, log });
    await measure(`embedded ${durability}`, srv, 'bench', 0);
    await srv.close();
  }
  cluster = await startCluster(join(dir, 'nats'));
  for (const local of ['memory', 'fsync']) {
    const { store, replica } = await openReplicatedStore({
      servers: cluster.urls, service: `bench${local}`, epoch: 1, log, ...(local === 'fsync' ? { dataDir: join(dir, 'replica-fsync') } : {}),
    });
    const srv = await startEmbeddedLogServer({ store, listen: [`unix:${join(dir, `r-${local}.sock`)}`], log });
    await measure(`replicated R3 (local ${local})`, srv, `bench${local}`, 1);
    await srv.close();
    await replica.close();
  }
  console.log(JSON.stringify({ loadavg_after: loadavg().map((x) => Number(x.toFixed(2))) }));
} finally {
  for (const p of cluster?.procs ?? []) p.kill('SIGKILL');
  await sleep(200);
  await rm(dir, { recursive: true, force: true });
}
