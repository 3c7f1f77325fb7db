// Load generator for scripts/bench/logd.sh: drives a log server through LogClient.
//   node logd-client.mjs TARGET throughput SIZE SECONDS  → "records=<n> secs=<s> rps=<r> mbps=<MB/s>"
//   node logd-client.mjs TARGET latency SIZE COUNT       → "p50_us=<> p99_us=<>"
// TARGET is a running `ftcp logd` (unix:/path), or embedded:DIR to start a log server inside this
// process on DIR (fsync) as `ftcp run` does, the client then appending straight into its store.
import { LogClient } from '../../dist/log/client.js';
import { startEmbeddedLogServer } from '../../dist/log/embedded.js';

const [targetArg, mode, sizeArg, amountArg] = process.argv.slice(2);
let embedded;
let target = targetArg;
if (targetArg.startsWith('embedded:')) {
  embedded = await startEmbeddedLogServer({ dataDir: targetArg.slice(9), durability: 'fsync' });
  target = embedded.target;
}
const size = Number(sizeArg);
const amount = Number(amountArg);
const data = Buffer.alloc(size, 0x61);
const client = new LogClient({ target, service: `bench-${process.pid}` }); // default batching and high-water mark
const rec = (off) => ({ connId: 'c', kind: { $case: 'clientData', value: { offset: off, data } } });

if (mode === 'throughput') {
  // Warm-up so the connection and JIT are ready.
  for (let i = 0; i < 100; i++) client.append(rec(i * size));
  await client.waitDurable();
  const t0 = process.hrtime.bigint();
  const until = t0 + BigInt(Math.round(amount * 1e9));
  let n = 0;
  let off = 100 * size;
  // Append in bursts of about 256 KiB, yielding to I/O between bursts as an event-driven
  // writer (the daemon) does; wait for 'drain' when the client says it is full.
  const burst = Math.max(1, Math.floor(262144 / size));
  for (;;) {
    for (let k = 0; k < burst; k++) {
      client.append(rec(off));
      off += size;
      n++;
    }
    if (process.hrtime.bigint() >= until) break;
    if (client.writable) await new Promise((resolve) => setImmediate(resolve));
    else await new Promise((resolve) => client.once('drain', resolve));
  }
  await client.waitDurable();
  const secs = Number(process.hrtime.bigint() - t0) / 1e9;
  const st = await client.stats(client.service);
  const perCommit = st.commits > 0 ? Math.round(st.appendedRecords / st.commits) : 0;
  console.log(
    `records=${n} secs=${secs.toFixed(2)} rps=${Math.round(n / secs)} mbps=${((n * size) / secs / 1e6).toFixed(1)} records_per_commit=${perCommit}`,
  );
} else {
  // Warm-up: a log server and its writer that have been running for a while (V8 has optimized
  // their per-request code), then the measured records at low load. FTCP_BENCH_LAT_WARMUP.
  const warmUp = Number(process.env.FTCP_BENCH_LAT_WARMUP ?? 2000);
  let off = 0;
  for (let i = 0; i < warmUp; i++, off += size) await client.waitDurable(client.append(rec(off)));
  const lat = [];
  for (let i = 0; i < amount + 20; i++, off += size) {
    await new Promise((r) => setTimeout(r, 2)); // low load: one record at a time, spaced
    const t0 = process.hrtime.bigint();
    await client.waitDurable(client.append(rec(off)));
    if (i >= 20) lat.push(Number(process.hrtime.bigint() - t0) / 1e3);
  }
  lat.sort((a, b) => a - b);
  console.log(`p50_us=${Math.round(lat[Math.floor(lat.length / 2)])} p99_us=${Math.round(lat[Math.floor(lat.length * 0.99)])}`);
}
await client.close();
await embedded?.close();
