// A line-echo server speaking to the daemon the way the shim does, for the daemon-side tests of
// close intents and checkpoints (plain node:net + the compiled LogClient; not the shim itself).
//
// Usage: node shim_daemon_app.mjs PORT STATUS_FILE
// Every line is echoed back, except the commands:
//   CLOSE  log a CloseIntent(END) for this connection, wait until it is durable, then end()
//   CKPT   checkpoint {tuple: received bytes} with this connection's position (no reply: the
//          checkpoint is taken while everything written so far is already acknowledged)
//   COUNT  reply "COUNT <client bytes this connection's state has consumed>"
// Progress lines go to STATUS_FILE: "listening", "restored <tuple> <clientOffset>", "ckpt <tuple> <offset>".
import { appendFileSync } from 'node:fs';
import { randomUUID } from 'node:crypto';
import { createServer } from 'node:net';

const dist = new URL('../../dist/log/', import.meta.url);
const { LogClient } = await import(new URL('client.js', dist).href);
const { shimConnId, tupleKeyFromText } = await import(new URL('conn-key.js', dist).href);
const { CloseIntent_How } = await import(new URL('gen/ftcp/v1/log.js', dist).href);

const port = Number(process.argv[2]);
const statusFile = process.argv[3];
const status = (line) => appendFileSync(statusFile, `${line}\n`);

const log = new LogClient({
  target: process.env.FTCP_LOG_TARGET,
  service: process.env.FTCP_SERVICE,
  streamId: `shim-${process.pid}-${randomUUID()}`,
  inProcess: false,
});

// State restored from the latest checkpoint: tuple → client bytes consumed.
const restored = new Map();
for await (const item of log.read({ connId: '-' })) {
  if (item.type !== 'checkpoint') break;
  const state = JSON.parse(Buffer.from(item.checkpoint.state).toString() || '{}');
  for (const [tuple, n] of Object.entries(state)) {
    restored.set(tuple, n);
    status(`restored ${tuple} ${n}`);
  }
  break;
}
// The session is open once something was appended: a no-op record is not needed, the first
// append opens it; make one durable now so a crash always has a session to drop.
await log.waitDurable(log.append({ connId: '', kind: { $case: 'shimOrder', value: { globalOrder: 0, event: 'start' } } })).catch(() => undefined);

let accepted = 0;
const server = createServer((sock) => {
  const tuple = tupleKeyFromText(sock.remoteAddress, sock.remotePort, sock.localPort);
  const id = shimConnId(tuple, ++accepted);
  let received = restored.get(tuple) ?? 0;
  restored.delete(tuple);
  let written = 0;
  let buf = '';
  const write = (s) => {
    written += Buffer.byteLength(s);
    sock.write(s);
  };
  sock.on('data', async (chunk) => {
    buf += chunk.toString('latin1');
    let nl;
    while ((nl = buf.indexOf('\n')) >= 0) {
      const line = buf.slice(0, nl + 1);
      buf = buf.slice(nl + 1);
      received += line.length;
      if (line === 'CLOSE\n') {
        sock.pause();
        await log.waitDurable(log.append({ connId: id, kind: { $case: 'closeIntent', value: { how: CloseIntent_How.END, serverOffset: written, globalOrder: 0 } } }));
        sock.end();
      } else if (line === 'CKPT\n') {
        sock.pause();
        await log.checkpoint(Buffer.from(JSON.stringify({ [tuple]: received })), [{ connId: id, clientOffset: received, serverOffset: written }]);
        status(`ckpt ${tuple} ${received}`);
        sock.resume();
      } else if (line === 'COUNT\n') {
        write(`COUNT ${received}\n`);
      } else {
        write(line);
      }
    }
  });
  sock.on('error', () => undefined);
});
server.listen(port, () => status('listening'));
