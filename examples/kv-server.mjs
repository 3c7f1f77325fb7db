// Key-value server on the shim, with state shared across connections. Line protocol:
//   SET k v  -> OK        GET k -> the value, or NIL        INCR k -> the new integer value
// Every CHECKPOINT_MS (argv[3], 0 = never), and whenever a client leaves, it hands its state to ftcp
// at a quiescent point (between events), so the log stays bounded, a restart replays only what came
// after, and what a departed client changed survives (its own log is dropped when it closes).
// Run: ftcp run --name kv --port 7002 -- node examples/kv-server.mjs 7002 2000
import { checkpoint, connectionId, createServer, onRestore } from 'ftcp/shim';

const port = Number(process.argv[2] ?? 7002);
const checkpointMs = Number(process.argv[3] ?? 0);

const store = new Map();
/** Partial lines per connection, by the connection's stable id (part of the checkpointed state). */
const partial = new Map();

onRestore((state) => {
  for (const [k, v] of state.store) store.set(k, v);
  for (const [id, text] of state.partial) partial.set(id, text);
  console.log(`kv-server: restored ${store.size} keys from a checkpoint`);
});

function answer(line) {
  const [cmd, key, ...rest] = line.trim().split(' ');
  switch (cmd?.toUpperCase()) {
    case 'SET':
      store.set(key, rest.join(' '));
      return 'OK';
    case 'GET':
      return store.has(key) ? store.get(key) : 'NIL';
    case 'INCR': {
      const n = (Number.parseInt(store.get(key) ?? '0', 10) || 0) + 1;
      store.set(key, String(n));
      return String(n);
    }
    default:
      return `ERR unknown command ${JSON.stringify(cmd ?? '')}`;
  }
}

createServer((socket) => {
  const id = connectionId(socket) ?? `${socket.remoteAddress}:${socket.remotePort}`;
  socket.setEncoding('utf8');
  socket.on('data', (chunk) => {
    let buf = (partial.get(id) ?? '') + chunk;
    let nl;
    let out = '';
    while ((nl = buf.indexOf('\n')) >= 0) {
      const line = buf.slice(0, nl);
      buf = buf.slice(nl + 1);
      if (line.trim().toUpperCase() === 'QUIT') {
        socket.end(out + 'BYE\n');
        return;
      }
      out += answer(line) + '\n';
    }
    partial.set(id, buf);
    if (out) socket.write(out);
  });
  socket.on('close', () => {
    partial.delete(id);
    if (checkpointMs > 0) save();
  });
  socket.on('error', () => socket.destroy());
}).listen(port, () => console.log(`kv-server: pid ${process.pid} listening on ${port}`));

function save() {
  checkpoint({ store: [...store], partial: [...partial] }).catch((err) => console.error(`kv-server: checkpoint failed: ${err.message}`));
}
if (checkpointMs > 0) setInterval(save, checkpointMs);
