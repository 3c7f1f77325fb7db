// Test app for the shim's replay (no daemon): prints every event it is handed — accepts, data
// chunks with their length and a now() value — one line each, and answers each chunk's length.
import { createServer, now } from 'ftcp/shim';

const port = Number(process.argv[2]);
createServer((s) => {
  const who = s.remotePort;
  console.log(`accept ${who}`);
  s.on('data', (d) => {
    console.log(`data ${who} ${d.length} ${now()}`);
    s.write(`${d.length}\n`);
  });
  s.on('error', () => {});
}).listen(port, '127.0.0.1', () => console.log('listening'));
