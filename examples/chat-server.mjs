// Chat server on the shim: every line a client sends is broadcast to every connected client, so
// the order across connections matters — after a crash every client must see the same order.
// Run: ftcp run --name chat --port 7003 -- node examples/chat-server.mjs 7003
import { createServer } from 'ftcp/shim';

const port = Number(process.argv[2] ?? 7003);
const clients = new Set();
let joined = 0;

createServer((socket) => {
  const nick = `user${++joined}`;
  let buf = '';
  clients.add(socket);
  socket.setEncoding('utf8');
  socket.write(`* you are ${nick}\n`);
  socket.on('data', (chunk) => {
    buf += chunk;
    let nl;
    while ((nl = buf.indexOf('\n')) >= 0) {
      const line = buf.slice(0, nl);
      buf = buf.slice(nl + 1);
      for (const c of clients) c.write(`${nick}: ${line}\n`);
    }
  });
  socket.on('close', () => clients.delete(socket));
  socket.on('error', () => socket.destroy());
}).listen(port, () => console.log(`chat-server: pid ${process.pid} listening on ${port}`));
