// Chat server on the shim: every line a client sends is broadcast to every connected client, so
// the order across connections matters — after a crash every client must see the same order.
// When a client leaves, the server checkpoints its state (nicknames, the join counter, partial
// lines): the log of a connection is dropped when it closes, so what it changed must be in a
// checkpoint for a later replay to agree with what the others saw.
// Run: ftcp run --name chat --port 7003 -- node examples/chat-server.mjs 7003
import { checkpoint, connectionId, createServer, isProtected, onRestore } from 'ftcp/shim';

const port = Number(process.argv[2] ?? 7003);
const clients = new Set();
let joined = 0;
/** By stable connection id: nickname and partial line. */
const nicks = new Map();
const partial = new Map();

onRestore((state) => {
  joined = state.joined;
  for (const [id, nick] of state.nicks) nicks.set(id, nick);
  for (const [id, text] of state.partial) partial.set(id, text);
});

const save = () => {
  if (isProtected()) checkpoint({ joined, nicks: [...nicks], partial: [...partial] }).catch((err) => console.error(`chat-server: checkpoint failed: ${err.message}`));
};

createServer((socket) => {
  const id = connectionId(socket) ?? `${socket.remoteAddress}:${socket.remotePort}`;
  let nick = nicks.get(id);
  if (nick === undefined) {
    nick = `user${++joined}`;
    nicks.set(id, nick);
    socket.write(`* you are ${nick}\n`);
  } // else: restored from a checkpoint, the client already knows its name
  clients.add(socket);
  socket.setEncoding('utf8');
  socket.on('data', (chunk) => {
    let buf = (partial.get(id) ?? '') + chunk;
    let nl;
    while ((nl = buf.indexOf('\n')) >= 0) {
      const line = buf.slice(0, nl);
      buf = buf.slice(nl + 1);
      for (const c of clients) c.write(`${nick}: ${line}\n`);
    }
    partial.set(id, buf);
  });
  socket.on('close', () => {
    clients.delete(socket);
    nicks.delete(id);
    partial.delete(id);
    save();
  });
  socket.on('error', () => socket.destroy());
}).listen(port, () => console.log(`chat-server: pid ${process.pid} listening on ${port}`));
