// Demo server (plain node:net, no shim): answers each line with its number on the connection.
// Deterministic per connection, so ftcp can restore its connections by replay after a crash.
import { createServer } from 'node:net';

const port = Number(process.argv[2] ?? 7000);
createServer((socket) => {
  let n = 0;
  let buffered = '';
  socket.setEncoding('utf8');
  socket.on('data', (chunk) => {
    buffered += chunk;
    let nl;
    while ((nl = buffered.indexOf('\n')) >= 0) {
      const line = buffered.slice(0, nl);
      buffered = buffered.slice(nl + 1);
      n++;
      socket.write(`#${n} ${line}\n`);
    }
  });
  socket.on('error', () => socket.destroy());
}).listen(port, () => console.log(`line-server: pid ${process.pid} listening on ${port}`));
