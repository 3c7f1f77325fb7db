// Echo server for the shim benchmark: MODE net (plain node:net), stream or exact (ftcp/shim).
import * as net from 'node:net';
import { createServer } from 'ftcp/shim';

const [port, mode] = [Number(process.argv[2] ?? 7000), process.argv[3] ?? 'exact'];
const onConn = (s) => {
  s.setNoDelay(true);
  s.on('data', (d) => s.write(d));
  s.on('error', () => s.destroy());
};
const server = mode === 'net' ? net.createServer(onConn) : createServer({ boundaries: mode }, onConn);
server.listen(port, () => console.log(`shim-echo: ${mode} on ${port}`));
