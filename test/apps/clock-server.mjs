// Test app: answers every line with "<n> <time>" where the time comes from the shim's now()
// (argv[3] = 'shim') or straight from Date.now() (argv[3] = 'bypass': not deterministic on replay).
import { createServer, now } from 'ftcp/shim';

const port = Number(process.argv[2] ?? 9000);
const clock = process.argv[3] === 'bypass' ? () => Date.now() : () => now();
createServer((socket) => {
  let n = 0;
  let buf = '';
  socket.setEncoding('utf8');
  socket.on('data', (chunk) => {
    buf += chunk;
    let nl;
    while ((nl = buf.indexOf('\n')) >= 0) {
      buf = buf.slice(nl + 1);
      socket.write(`${++n} ${clock()}\n`);
    }
  });
  socket.on('error', () => socket.destroy());
}).listen(port, () => console.log(`clock-server: pid ${process.pid} listening on ${port}`));
