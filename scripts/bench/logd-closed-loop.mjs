// Many writers waiting on the log for scripts/bench/logd.sh: a log server embedded in this process
// (fsync); WRITERS writers appending straight into its store (as the daemon does) and as many over
// gRPC (as shims do), each appending a 100-byte client_data record, waiting until it is durable,
// and repeating, for SECONDS. Prints records/s and records per group commit:
//   node logd-closed-loop.mjs DIR SECONDS  → "records_per_s=<n> commits=<n> records_per_commit=<x>"
import { LogClient } from '../../dist/log/client.js';
import { startEmbeddedLogServer } from '../../dist/log/embedded.js';

const [dir, secsArg] = process.argv.slice(2);
const secs = Number(secsArg ?? 4);
const writers = Number(process.env.WRITERS ?? 25);
const srv = await startEmbeddedLogServer({ dataDir: dir, durability: 'fsync' });
const clients = [];
for (let i = 0; i < writers; i++) {
  clients.push(new LogClient({ target: srv.target, service: 'closed-loop', inProcess: true }));
  clients.push(new LogClient({ target: srv.target, service: 'closed-loop', inProcess: false }));
}
const data = Buffer.alloc(100, 0x61);
const until = Date.now() + secs * 1000;
let n = 0;
async function loop(c, i) {
  for (let off = 0; Date.now() < until; off += data.length) {
    await c.waitDurable(c.append({ connId: `c${i}`, kind: { $case: 'clientData', value: { offset: off, data } } }));
    n++;
  }
}
await Promise.all(clients.map(loop));
const st = srv.store.stats();
console.log(`records_per_s=${Math.round(n / secs)} commits=${st.commits} records_per_commit=${(st.appendedRecords / st.commits).toFixed(1)}`);
for (const c of clients) await c.close();
await srv.close();
