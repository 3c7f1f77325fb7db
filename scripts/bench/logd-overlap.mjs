// The shim's case (issue 5) for scripts/bench/logd.sh: a log server embedded in this process; a
// writer in this process (the daemon) appends a client_data record, and a moment later a second
// writer over gRPC (the shim, another stream) appends a small record while the first one's group
// commit is on its way to disk. Prints the second writer's append → durable latency, beside the
// same writer alone (no commit in flight when it appends), p50/p99 in microseconds:
//   node logd-overlap.mjs DIR COUNT  → "alone_p50_us=<> alone_p99_us=<> overlap_p50_us=<> overlap_p99_us=<>"
import { LogClient } from '../../dist/log/client.js';
import { startEmbeddedLogServer } from '../../dist/log/embedded.js';

const [dir, countArg] = process.argv.slice(2);
const count = Number(countArg ?? 300);
const srv = await startEmbeddedLogServer({ dataDir: dir, durability: 'fsync' });
const daemon = new LogClient({ target: srv.target, service: 'overlap' });
const shim = new LogClient({ target: srv.target, service: 'overlap', inProcess: false });
const data = Buffer.alloc(1024, 0x61);
let off = 0;
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const small = (i) => ({ connId: 'c', kind: { $case: 'shimChunks', value: { offset: i, lengths: [1], globalOrder: i } } });

async function sample(i, overlap) {
  let d;
  if (overlap) {
    d = daemon.waitDurable(daemon.append({ connId: 'c', kind: { $case: 'clientData', value: { offset: off, data } } }));
    off += data.length;
    // Let the daemon's commit start (it goes out at the end of this microtask run).
    await new Promise((r) => setImmediate(r));
  }
  const t0 = process.hrtime.bigint();
  await shim.waitDurable(shim.append(small(i)));
  const us = Number(process.hrtime.bigint() - t0) / 1e3;
  await d;
  return us;
}

const alone = [];
const over = [];
for (let i = 0; i < 20; i++) await sample(i, i % 2 === 1); // warm-up
for (let i = 0; i < count; i++) {
  alone.push(await sample(2 * i, false));
  await sleep(2);
  over.push(await sample(2 * i + 1, true));
  await sleep(2);
}
const q = (a, p) => Math.round(a.sort((x, y) => x - y)[Math.min(a.length - 1, Math.floor(a.length * p))]);
console.log(`alone_p50_us=${q(alone, 0.5)} alone_p99_us=${q(alone, 0.99)} overlap_p50_us=${q(over, 0.5)} overlap_p99_us=${q(over, 0.99)}`);
await shim.close();
await daemon.close();
await srv.close();
