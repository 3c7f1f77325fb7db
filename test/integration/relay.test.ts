// The Relay between two real TUNs in two namespaces made by the test: a real TCP transfer
// (python sockets, echoed both ways, byte-exact), with and without vnet headers, and with a
// per-packet PacketPath plugged in.
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { TestNetns, pythonIn, sh } from '../helpers/host.js';
import { TunDevice, type PacketBatch } from '../../src/tun/tun-device.js';
import { Relay, RelayConfigError } from '../../src/relay/relay.js';
import type { Direction, PacketOutput, PacketPath } from '../../src/relay/packet-path.js';
import { udpPacket } from '../helpers/udp-packet.js';

const ADDR_A = '10.201.0.1';
const ADDR_B = '10.201.0.2';
const ADDR6_A = 'fd00:201::1';
const ADDR6_B = 'fd00:201::2';
const PORT = 9100;

let a: TestNetns;
let b: TestNetns;
let relay: Relay | undefined;
const devices: TunDevice[] = [];

beforeAll(() => {
  a = TestNetns.create('a');
  b = TestNetns.create('b');
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

/** A TUN in each namespace, addressed /32 with a route to the other side through it. */
function openPair(vnetHdr: boolean, reader: 'thread' | 'loop' = 'thread'): { outer: TunDevice; inner: TunDevice } {
  const outer = TunDevice.open({ name: 'ftcpta', netns: a.name, mtu: 1500, vnetHdr, reader });
  devices.push(outer);
  const inner = TunDevice.open({ name: 'ftcptb', netns: b.name, mtu: 1500, vnetHdr, reader });
  devices.push(inner);
  for (const [ns, dev, local, peer] of [
    [a, outer, ADDR_A, ADDR_B],
    [b, inner, ADDR_B, ADDR_A],
  ] as const) {
    sh('ip', ['-n', ns.name, 'addr', 'add', `${local}/32`, 'dev', dev.name]);
    sh('ip', ['-n', ns.name, 'route', 'add', `${peer}/32`, 'dev', dev.name]);
  }
  for (const [ns, dev, local, peer] of [
    [a, outer, ADDR6_A, ADDR6_B],
    [b, inner, ADDR6_B, ADDR6_A],
  ] as const) {
    sh('ip', ['-n', ns.name, '-6', 'addr', 'add', `${local}/128`, 'dev', dev.name, 'nodad']);
    sh('ip', ['-n', ns.name, '-6', 'route', 'add', `${peer}/128`, 'dev', dev.name]);
  }
  return { outer, inner };
}

const echoServer = (addr: string): string => `
import socket, sys
srv = socket.socket(socket.AF_INET6 if ':' in '${addr}' else socket.AF_INET)
srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
srv.bind(('${addr}', ${PORT}))
srv.listen(1)
srv.settimeout(40)
print('listening', flush=True)
c, _ = srv.accept()
c.settimeout(40)
while True:
    d = c.recv(1 << 16)
    if not d:
        break
    c.sendall(d)
c.shutdown(socket.SHUT_WR)
c.close()
`;

/** Sends `size` pseudo-random bytes, reads the echo; prints sent/received sha256 and count. */
function echoClient(size: number, addr: string): string {
  return `
import socket, hashlib, threading, random, json
rnd = random.Random(7)
data = rnd.randbytes(${size})
s = socket.create_connection(('${addr}', ${PORT}), timeout=40)
got = hashlib.sha256()
n = 0
def reader():
    global n
    while True:
        d = s.recv(1 << 16)
        if not d:
            return
        got.update(d)
        n += len(d)
t = threading.Thread(target=reader)
t.start()
s.sendall(data)
s.shutdown(socket.SHUT_WR)
t.join()
print(json.dumps({'sent': hashlib.sha256(data).hexdigest(), 'received': got.hexdigest(), 'n': n}))
`;
}

async function echoThroughRelay(size: number, addr = ADDR_B): Promise<{ sent: string; received: string; n: number }> {
  const server = python(b, echoServer(addr));
  // The server prints once bound; wait for the socket instead of a fixed sleep.
  for (let i = 0; i < 100; i++) {
    if (sh('ip', ['netns', 'exec', b.name, 'ss', '-Htln', `sport = :${PORT}`]).trim() !== '') break;
    await new Promise((r) => setTimeout(r, 50));
  }
  const out = await python(a, echoClient(size, addr));
  await server;
  return JSON.parse(out) as { sent: string; received: string; n: number };
}

describe('Relay', () => {
  for (const vnetHdr of [false, true]) {
    it(`carries a TCP stream both ways byte-exact (vnetHdr ${vnetHdr})`, async () => {
      const { outer, inner } = openPair(vnetHdr);
      const errors: string[] = [];
      relay = new Relay({ outer, inner, onError: (err, dir) => errors.push(`${dir}: ${err.message}`) });
      relay.start();
      const size = 8 << 20;
      const r = await echoThroughRelay(size);
      expect(r.n).toBe(size);
      expect(r.received).toBe(r.sent);
      expect(errors).toEqual([]);
      const c = relay.counters;
      // 8 MiB each way crossed the relay in both directions, in batches.
      expect(c.inbound.readBytes).toBeGreaterThan(size);
      expect(c.outbound.readBytes).toBeGreaterThan(size);
      expect(c.inbound.writtenPackets + c.inbound.droppedPackets).toBe(c.inbound.readPackets);
      expect(c.outbound.writtenPackets + c.outbound.droppedPackets).toBe(c.outbound.readPackets);
      expect(c.inbound.readPackets).toBeGreaterThan(c.inbound.readBatches);
      if (vnetHdr) {
        // TSO: segments larger than the 1500-byte MTU crossed the relay whole.
        expect(c.inbound.readBytes / c.inbound.readPackets).toBeGreaterThan(1500);
      }
    });
  }

  it('carries a TCP stream with event-loop readers (reader: loop)', async () => {
    const { outer, inner } = openPair(true, 'loop');
    relay = new Relay({ outer, inner });
    relay.start();
    const size = 4 << 20;
    const r = await echoThroughRelay(size);
    expect(r.n).toBe(size);
    expect(r.received).toBe(r.sent);
    expect(relay.counters.errors).toBe(0);
  });

  it('carries IPv6 TCP with TSO6 segments', async () => {
    const { outer, inner } = openPair(true);
    relay = new Relay({ outer, inner });
    relay.start();
    const size = 4 << 20;
    const r = await echoThroughRelay(size, ADDR6_B);
    expect(r.n).toBe(size);
    expect(r.received).toBe(r.sent);
    expect(relay.counters.inbound.readBytes / relay.counters.inbound.readPackets).toBeGreaterThan(1500);
  });

  it('runs every packet through a plugged-in PacketPath that may rewrite, drop and inject', async () => {
    const { outer, inner } = openPair(true);
    const seen: Record<Direction, number> = { inbound: 0, outbound: 0 };
    let dropped = 0;
    // Forwards packet by packet, rewrites the IPv4 TTL in place (with an RFC 1624 update of
    // the header checksum), drops every 50th client→server segment (TCP recovers), and sends a
    // copy of every 100th packet through send() (a duplicate, which TCP tolerates).
    class Sampler implements PacketPath {
      process(batch: PacketBatch, direction: Direction, out: PacketOutput): void {
        for (let i = 0; i < batch.count; i++) {
          const n = ++seen[direction];
          if (direction === 'inbound' && n % 50 === 0) {
            dropped++;
            continue;
          }
          rewriteTtl(batch.buffer, batch.offsets[i]! + outer.vnetHdrLen);
          out.transmit(batch, i);
          if (n % 100 === 0) {
            const copy = Buffer.from(batch.buffer.subarray(batch.offsets[i]!, batch.offsets[i]! + batch.lengths[i]!));
            out.send(copy, 0, copy.length);
          }
        }
      }
    }
    relay = new Relay({ outer, inner, path: new Sampler() });
    relay.start();
    const size = 2 << 20;
    const r = await echoThroughRelay(size);
    expect(r.n).toBe(size);
    expect(r.received).toBe(r.sent);
    expect(dropped).toBeGreaterThan(0);
    expect(seen.inbound).toBe(relay.counters.inbound.readPackets);
    expect(seen.outbound).toBe(relay.counters.outbound.readPackets);
    expect(rewritten).toBeGreaterThan(0);
  });

  it('refuses to join a vnet-header device with a plain one', () => {
    const outer = TunDevice.open({ name: 'ftcpta', netns: a.name, vnetHdr: true });
    devices.push(outer);
    const inner = TunDevice.open({ name: 'ftcptb', netns: b.name, vnetHdr: false });
    devices.push(inner);
    expect(() => new Relay({ outer, inner })).toThrow(RelayConfigError);
  });

  it('inject() writes a packet outside any batch', async () => {
    const { outer, inner } = openPair(false);
    relay = new Relay({ outer, inner });
    relay.start();
    const receiver = python(b, `
import socket
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind(('${ADDR_B}', 7000))
s.settimeout(10)
print(s.recvfrom(100)[0].decode())
`);
    let done = false;
    void receiver.finally(() => (done = true));
    const packet = udpPacket(ADDR_A, ADDR_B, 6000, 7000, Buffer.from('injected'));
    while (!done) {
      expect(relay.inject('inbound', packet)).toBe(true);
      await new Promise((r) => setTimeout(r, 100));
    }
    expect((await receiver).trim()).toBe('injected');
    expect(relay.counters.inbound.writtenPackets).toBeGreaterThan(0);
  });
});

let rewritten = 0;

/** Sets the TTL of an IPv4 packet at buffer[ip] to 33, updating the header checksum. */
function rewriteTtl(buffer: Buffer, ip: number): void {
  if (buffer[ip]! >> 4 !== 4) return;
  const oldWord = buffer.readUInt16BE(ip + 8);
  buffer[ip + 8] = 33;
  const newWord = buffer.readUInt16BE(ip + 8);
  let sum = (~buffer.readUInt16BE(ip + 10) & 0xffff) + (~oldWord & 0xffff) + newWord;
  while (sum > 0xffff) sum = (sum & 0xffff) + (sum >>> 16);
  buffer.writeUInt16BE(~sum & 0xffff, ip + 10);
  rewritten++;
}
