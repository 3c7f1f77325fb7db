// Load for examples/kv-server.mjs: CONNS connections, each with one INCR of its own key in flight,
// for SECONDS; prints {"requests":…, "rps":…}. Every answer is checked (own counter = 1, 2, 3…).
import * as net from 'node:net';

const [host, port, conns, secs] = [process.argv[2], Number(process.argv[3]), Number(process.argv[4] ?? 50), Number(process.argv[5] ?? 10)];
let requests = 0;
let errors = 0;
const end = Date.now() + secs * 1000;
const done = [];
for (let i = 0; i < conns; i++) {
  done.push(
    new Promise((resolve) => {
      const s = net.connect(port, host);
      s.setNoDelay(true);
      let want = 1;
      let buf = '';
      const key = `load${process.pid}-${i}`;
      s.on('connect', () => s.write(`INCR ${key}\n`));
      s.setEncoding('utf8');
      s.on('data', (d) => {
        buf += d;
        let nl;
        while ((nl = buf.indexOf('\n')) >= 0) {
          if (Number(buf.slice(0, nl)) !== want) errors++;
          buf = buf.slice(nl + 1);
          want++;
          requests++;
          if (Date.now() < end) s.write(`INCR ${key}\n`);
          else s.end();
        }
      });
      s.on('close', resolve);
      s.on('error', () => {
        errors++;
        resolve();
      });
    }),
  );
}
const t0 = Date.now();
await Promise.all(done);
const dt = (Date.now() - t0) / 1000;
console.log(JSON.stringify({ requests, errors, rps: Math.round(requests / dt) }));
