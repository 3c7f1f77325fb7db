// A process that takes the lease and keeps renewing it, for the lease tests (SIGKILL, SIGSTOP).
// Uses the compiled module (dist/, `npm run build:ts`).
//
// Usage: node lease_holder.mjs '{"servers":[...],"service":"s","ttlMs":1000,"pollMs":100,"id":"a"}'
// Prints one JSON line per event on stdout, each with t = performance.timeOrigin + performance.now()
// (the machine's clock, comparable across processes):
//   {"ev":"ready"} {"ev":"acquired","epoch":N} {"ev":"suspended","deadline":T} {"ev":"resumed"}
//   {"ev":"lost","loss":{...}} {"ev":"released"} {"ev":"error","err":"..."}
//   {"ev":"take","epoch":N,"continues":E} (after a "take" command; epoch absent = held by someone)
// Lines on stdin: "release" releases the lease; "take" tries once to take it (tryAcquire);
// "exit" closes and exits.
import { createInterface } from 'node:readline';
import { hostname } from 'node:os';

const { Lease } = await import(new URL('../../dist/failover/lease.js', import.meta.url).href);
const { silentLogger } = await import(new URL('../../dist/util/logger.js', import.meta.url).href);

const cfg = JSON.parse(process.argv[2]);
const wall = (mono) => performance.timeOrigin + mono;
const out = (ev, extra = {}) => process.stdout.write(`${JSON.stringify({ ev, t: wall(performance.now()), ...extra })}\n`);

const lease = await Lease.open({
  servers: cfg.servers,
  service: cfg.service,
  ttlMs: cfg.ttlMs,
  pollMs: cfg.pollMs,
  holder: { id: cfg.id, host: hostname() },
  log: silentLogger(),
});
lease.on('acquired', (epoch) => out('acquired', { epoch }));
lease.on('suspended', (deadline) => out('suspended', { deadline: wall(deadline), validNow: lease.valid() }));
lease.on('resumed', () => out('resumed'));
lease.on('lost', (loss) => out('lost', { loss, validNow: lease.valid() }));
lease.on('error', (err) => out('error', { err: err.message }));
out('ready');

createInterface({ input: process.stdin }).on('line', (line) => {
  if (line === 'release') void lease.release().then(() => out('released'));
  if (line === 'take') {
    void lease.tryAcquire().then(
      (epoch) => out('take', { epoch, continues: lease.continuesEpoch }),
      (err) => out('error', { err: err.message }),
    );
  }
  if (line === 'exit') void lease.close().then(() => process.exit(0));
});

await lease.acquire();
