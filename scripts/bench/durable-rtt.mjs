// One log durability round trip as the shim sees it: append one small record over gRPC and wait
// until the log server says it is durable, N times in a row; prints p50/p99 in microseconds.
import { LogClient } from '../../dist/log/client.js';

const [target, service, n] = [process.argv[2], process.argv[3], Number(process.argv[4] ?? 2000)];
const c = new LogClient({ target, service, inProcess: false });
const ms = [];
for (let i = 0; i < n; i++) {
  const t = process.hrtime.bigint();
  const seq = c.append({ connId: '', kind: { $case: 'nondeterministic', value: { name: 'bench', value: Buffer.alloc(8), globalOrder: i } } });
  await c.waitDurable(seq);
  ms.push(Number(process.hrtime.bigint() - t) / 1000);
}
await c.close();
ms.sort((a, b) => a - b);
const p = (q) => ms[Math.min(ms.length - 1, Math.floor(q * ms.length))].toFixed(1);
console.log(JSON.stringify({ p50: Number(p(0.5)), p99: Number(p(0.99)) }));
