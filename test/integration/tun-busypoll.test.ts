// Busy-polling of the event-loop reader (TunOpenOptions.busyPollUs) against real TUNs in two
// namespaces made by the test: request/response and bulk TCP byte-exact through a Relay, a spin
// only ever follows a delivered batch (so an idle relay never spins), timers still fire during
// continuous traffic, and a device closed from inside a batch callback mid-spin is safe.
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { TestNetns, pythonIn, sh } from '../helpers/host.js';
import { TunDevice, type PacketBatch } from '../../src/tun/tun-device.js';
import { Relay } from '../../src/relay/relay.js';
import type { Direction, PacketOutput, PacketPath } from '../../src/relay/packet-path.js';

const ADDR_A = '10.205.0.1';
const ADDR_B = '10.205.0.2';
const PORT = 9200;

let a: TestNetns;
let b: TestNetns;
let relay: Relay | undefined;
const devices: TunDevice[] = [];

beforeAll(() => {
  a = TestNetns.create('bpa');
  b = TestNetns.create('bpb');
  // No IPv6 chatter (router solicitations, MLD): the only packets are the test's own.
  for (const ns of [a, b]) ns.exec('sysctl', ['-qw', 'net.ipv6.conf.all.disable_ipv6=1', 'net.ipv6.conf.default.disable_ipv6=1']);
});

afterEach(() => {
  relay?.close();
  relay = undefined;
  while (devices.length > 0) devices.pop()!.close();
});

afterAll(() => {
  a?.destroy();
  b?.destroy();
});

const python = pythonIn;

function openPair(busyPollUs: number): { outer: TunDevice; inner: TunDevice } {
  const outer = TunDevice.open({ name: 'ftcptbpa', netns: a.name, mtu: 1500, vnetHdr: true, reader: 'loop', busyPollUs });
  devices.push(outer);
  const inner = TunDevice.open({ name: 'ftcptbpb', netns: b.name, mtu: 1500, vnetHdr: true, reader: 'loop', busyPollUs });
  devices.push(inner);
  for (const [ns, dev, local, peer] of [
    [a, outer, ADDR_A, ADDR_B],
    [b, inner, ADDR_B, ADDR_A],
  ] as const) {
    sh('ip', ['-n', ns.name, 'addr', 'add', `${local}/32`, 'dev', dev.name]);
    sh('ip', ['-n', ns.name, 'route', 'add', `${peer}/32`, 'dev', dev.name]);
  }
  return { outer, inner };
}

const ECHO_SERVER = `
import socket
srv = socket.socket()
srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
srv.bind(('${ADDR_B}', ${PORT}))
srv.listen(1)
srv.settimeout(40)
c, _ = srv.accept()
c.settimeout(40)
c.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
while True:
    d = c.recv(1 << 16)
    if not d:
        break
    c.sendall(d)
c.close()
`;

/** `rounds` 64-byte request/responses (each checked), then `bulk` bytes echoed; prints a summary. */
function client(rounds: number, bulk: number): string {
  return `
import socket, hashlib, threading, random, json
s = socket.create_connection(('${ADDR_B}', ${PORT}), timeout=40)
s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
bad = 0
for i in range(${rounds}):
    msg = (b'%08d' % i) * 8
    s.sendall(msg)
    got = b''
    while len(got) < 64:
        d = s.recv(64 - len(got))
        if not d:
            raise SystemExit('closed early')
        got += d
    bad += got != msg
data = random.Random(5).randbytes(${bulk})
h = hashlib.sha256()
n = 0
def reader():
    global n
    while n < ${bulk}:
        d = s.recv(1 << 16)
        if not d:
            return
        h.update(d)
        n += len(d)
t = threading.Thread(target=reader)
t.start()
s.sendall(data)
t.join()
s.close()
print(json.dumps({'bad': bad, 'n': n, 'same': h.hexdigest() == hashlib.sha256(data).hexdigest()}))
`;
}

async function exchange(rounds: number, bulk: number, timeoutMs = 60_000): Promise<{ bad: number; n: number; same: boolean }> {
  // Settled either way, so a failed client never leaves the server's rejection unhandled.
  const server = python(b, ECHO_SERVER, timeoutMs).then(
    () => undefined,
    (err: unknown) => err,
  );
  for (let i = 0; i < 100; i++) {
    if (sh('ip', ['netns', 'exec', b.name, 'ss', '-Htln', `sport = :${PORT}`]).trim() !== '') break;
    await new Promise((r) => setTimeout(r, 50));
  }
  let out: string;
  try {
    out = await python(a, client(rounds, bulk), timeoutMs);
  } finally {
    await server;
  }
  return JSON.parse(out) as { bad: number; n: number; same: boolean };
}

describe('TunDevice busy-polling (reader: loop, busyPollUs)', () => {
  it('carries request/response and bulk TCP byte-exact; every spin follows a delivered batch', async () => {
    const { outer, inner } = openPair(50);
    relay = new Relay({ outer, inner });
    relay.start();
    expect(outer.busyPollStats()).toBeDefined();
    const r = await exchange(2000, 4 << 20);
    expect(r).toEqual({ bad: 0, n: 4 << 20, same: true });
    expect(relay.counters.errors).toBe(0);

    // A spin starts only after a batch was delivered: spins never outnumber batches read, and
    // with nothing arriving (IPv6 is off, the exchange is over) neither figure moves.
    const batches = (): number => relay!.counters.inbound.readBatches + relay!.counters.outbound.readBatches;
    const s0 = outer.busyPollStats()!;
    expect(s0.spins).toBeLessThanOrEqual(batches());
    expect(s0.hits).toBeLessThanOrEqual(batches());
    const idleFrom = { spins: s0.spins, batches: batches() };
    await new Promise((res) => setTimeout(res, 300));
    const s1 = outer.busyPollStats()!;
    expect(s1.spins - idleFrom.spins).toBeLessThanOrEqual(batches() - idleFrom.batches);
    expect(inner.busyPollStats()).toEqual(s1); // one spin state per JS thread
  });

  it('lets timers run while packets keep coming', async () => {
    const { outer, inner } = openPair(1000);
    relay = new Relay({ outer, inner });
    relay.start();
    // With a 1 ms window and replies every few tens of µs the spin would never run out: the
    // timer gets its turns only because a spin yields to a due timer.
    let ticksDuringTraffic = 0;
    let lastRead = -1;
    const timer = setInterval(() => {
      const read = relay!.counters.inbound.readPackets;
      if (lastRead >= 0 && read > lastRead) ticksDuringTraffic++;
      lastRead = read;
    }, 5);
    try {
      const r = await exchange(5000, 1 << 20);
      expect(r.bad).toBe(0);
    } finally {
      clearInterval(timer);
    }
    expect(ticksDuringTraffic).toBeGreaterThan(0);
  });

  it('survives a device closed from inside a batch callback while spinning', async () => {
    const { outer, inner } = openPair(200);
    let seen = 0;
    class Closer implements PacketPath {
      process(batch: PacketBatch, _direction: Direction, out: PacketOutput): void {
        out.transmitAll(batch);
        if (++seen === 50) inner.close();
      }
    }
    const errors: string[] = [];
    relay = new Relay({ outer, inner, path: new Closer(), onError: (err) => errors.push(err.message) });
    relay.start();
    // The exchange breaks when the inner device goes away; only the relay's survival matters.
    await exchange(500, 0, 5_000).catch(() => undefined);
    expect(seen).toBeGreaterThanOrEqual(50);
    // The thread can open, relay and busy-poll again afterwards.
    relay.close();
    while (devices.length > 0) devices.pop()!.close();
    const pair = openPair(50);
    relay = new Relay({ outer: pair.outer, inner: pair.inner });
    relay.start();
    const r = await exchange(200, 64 << 10);
    expect(r).toEqual({ bad: 0, n: 64 << 10, same: true });
  });
});
