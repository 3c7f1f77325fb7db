// Echo server on the shim: what a client sends comes back. Chunking does not matter to it, so it
// declares `boundaries: 'stream'` (no chunk records, no output wait).
// Run: ftcp run --name echo --port 7001 -- node examples/echo-server.mjs 7001
import { createServer } from 'ftcp/shim';

const port = Number(process.argv[2] ?? 7001);
createServer({ boundaries: 'stream' }, (socket) => {
  socket.on('data', (chunk) => socket.write(chunk));
  socket.on('error', () => socket.destroy());
}).listen(port, () => console.log(`echo-server: pid ${process.pid} listening on ${port}`));
