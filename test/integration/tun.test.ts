// The ftcp_tun addon against the real kernel: a TUN opened inside a namespace made by the test,
// errno-coded errors, close while the reader waits, vnet headers, batches of UDP both ways.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readlinkSync } from 'node:fs';
import { join } from 'node:path';
import { ROOT, TestNetns, pythonIn, sh } from '../helpers/host.js';
import { TunDevice, type PacketBatch } from '../../src/tun/tun-device.js';
import { TunError } from '../../src/tun/tun-error.js';
import { VNET_HDR_LEN, VnetFlags, VnetHdrView } from '../../src/tun/vnet-hdr.js';
import { completePartialChecksum, onesComplementSum } from '../../src/tun/vnet-csum.js';
import { udpPacket } from '../helpers/udp-packet.js';

const LOCAL = '10.202.0.1';
const PEER = '10.202.0.2';
const DEV = 'ftcpt0';

let ns: TestNetns;
const open: TunDevice[] = [];

function openTun(opts: Partial<Parameters<typeof TunDevice.open>[0]> = {}): TunDevice {
  const dev = TunDevice.open({ name: DEV, netns: ns.name, mtu: 1400, ...opts });
  open.push(dev);
  return dev;
}

function closeAll(): void {
  while (open.length > 0) open.pop()!.close();
}

const pythonInNs = (code: string, timeoutMs = 20_000): Promise<string> => pythonIn(ns, code, timeoutMs);

function addressTun(dev: TunDevice): void {
  sh('ip', ['-n', ns.name, 'addr', 'add', `${LOCAL}/24`, 'dev', dev.name]);
}

/** Sends `count` UDP datagrams to PEER:9999, payload "n:<i>", each from port 40000. */
function sendUdp(count: number): Promise<string> {
  return pythonInNs(`
import socket
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind(('${LOCAL}', 40000))
for i in range(${count}):
    s.sendto(b'n:%d' % i, ('${PEER}', 9999))
`);
}

/** Collects copies of the IPv4 UDP packets the reader hands over (skipping IPv6 noise). */
function collector(dev: TunDevice): { packets: Buffer[]; batches: number[]; errors: Error[] } {
  const got = { packets: [] as Buffer[], batches: [] as number[], errors: [] as Error[] };
  dev.start(
    (batch: PacketBatch) => {
      got.batches.push(batch.count);
      for (let i = 0; i < batch.count; i++) {
        const p = batch.buffer.subarray(batch.offsets[i]!, batch.offsets[i]! + batch.lengths[i]!);
        const ip = p.subarray(dev.vnetHdrLen);
        if (ip[0] === 0x45 && ip[9] === 17) got.packets.push(Buffer.from(p));
      }
    },
    (err) => got.errors.push(err),
  );
  return got;
}

async function until(cond: () => boolean, what: string, timeoutMs = 10_000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

function expectTunError(fn: () => unknown, code: string, syscall: string, message: RegExp): void {
  let caught: unknown;
  try {
    fn();
  } catch (err) {
    caught = err;
  }
  expect(caught).toBeInstanceOf(TunError);
  const e = caught as TunError;
  expect(e.code).toBe(code);
  expect(e.syscall).toBe(syscall);
  expect(e.message).toMatch(message);
}

beforeAll(() => {
  ns = TestNetns.create('tun');
});

afterAll(() => {
  closeAll();
  ns?.destroy();
});

describe('TunDevice.open', () => {
  it('creates the device inside the named namespace with the MTU, up, and leaves ours alone', () => {
    const ourNetns = readlinkSync('/proc/thread-self/ns/net');
    const dev = openTun();
    expect(readlinkSync('/proc/thread-self/ns/net')).toBe(ourNetns);
    expect(dev.name).toBe(DEV);
    expect(dev.vnetHdr).toBe(false);
    expect(dev.vnetHdrLen).toBe(0);
    const link = sh('ip', ['-n', ns.name, '-o', 'link', 'show', DEV]);
    expect(link).toMatch(/mtu 1400/);
    expect(link).toMatch(/<[^>]*\bUP\b/);
    expect(sh('ip', ['-o', 'link', 'show'])).not.toMatch(new RegExp(`\\b${DEV}\\b`));
    closeAll();
    expect(sh('ip', ['-n', ns.name, '-o', 'link', 'show'])).not.toMatch(new RegExp(`\\b${DEV}\\b`));
  });

  it('lets the kernel number the device when the name has %d', () => {
    const dev = openTun({ name: 'ftcpq%d' });
    expect(dev.name).toMatch(/^ftcpq\d+$/);
    expect(sh('ip', ['-n', ns.name, '-o', 'link', 'show', dev.name])).toContain(dev.name);
    closeAll();
  });

  it('reports a missing namespace as ENOENT', () => {
    expectTunError(() => openTun({ netns: `ftcpt-${process.pid}-missing` }), 'ENOENT', 'open', /cannot open netns ftcpt-\d+-missing: ENOENT/);
  });

  it('rejects bad namespace and device names with EINVAL', () => {
    expectTunError(() => openTun({ netns: '../etc' }), 'EINVAL', 'open', /invalid netns name/);
    expectTunError(() => openTun({ name: 'bad/name' }), 'EINVAL', 'ioctl(TUNSETIFF)', /cannot create TUN device bad\/name/);
    expectTunError(() => openTun({ name: 'a-name-far-too-long' }), 'EINVAL', 'ioctl(TUNSETIFF)', /1 to 15 bytes/);
  });

  it('reports a device already held by another fd as EBUSY', () => {
    openTun();
    expectTunError(() => TunDevice.open({ name: DEV, netns: ns.name }), 'EBUSY', 'ioctl(TUNSETIFF)', /EBUSY/);
    closeAll();
  });

  it('reports missing privileges as EPERM (a child without capabilities)', () => {
    const addon = join(ROOT, 'native', 'build', 'Release', 'ftcp_tun.node');
    const script = `
const { TunHandle } = require(${JSON.stringify(addon)});
const out = [];
for (const o of [{ name: 'ftcpt9' }, { name: 'ftcpt9', netns: ${JSON.stringify(ns.name)} }]) {
  try { new TunHandle(o); out.push('opened'); } catch (e) { out.push({ code: e.code, syscall: e.syscall, message: e.message }); }
}
console.log(JSON.stringify(out));`;
    const out = sh('setpriv', ['--inh-caps=-all', '--bounding-set=-all', process.execPath, '-e', script]);
    expect(JSON.parse(out)).toEqual([
      { code: 'EPERM', syscall: 'ioctl(TUNSETIFF)', message: 'cannot create TUN device ftcpt9: EPERM' },
      { code: 'EPERM', syscall: 'setns', message: `cannot enter netns ${ns.name}: EPERM` },
    ]);
  });

  it('rejects an impossible MTU with the errno of the ioctl', () => {
    expectTunError(() => openTun({ mtu: 70_000 }), 'EINVAL', 'ioctl(SIOCSIFMTU)', /cannot set MTU 70000/);
  });
});

// Both readers (native thread, event loop) honour the same contract.
for (const reader of ['thread', 'loop'] as const) {
describe(`TunDevice reading and writing (${reader} reader)`, () => {
  const openR = (opts: Parameters<typeof openTun>[0] = {}): TunDevice => openTun({ reader, ...opts });

  it('closes while the reader is blocked, twice, and refuses use afterwards', async () => {
    const dev = openR();
    const got = collector(dev);
    await new Promise((r) => setTimeout(r, 50));
    dev.close();
    dev.close();
    expect(got.errors).toEqual([]);
    expect(() => dev.write(Buffer.alloc(20))).toThrow(TunError);
    expect(() => dev.start(() => {}, () => {})).toThrow(/closed/);
    closeAll();
  });

  it('passes an exception thrown by onBatch to onError and keeps reading; closes from inside onBatch', async () => {
    const dev = openR();
    addressTun(dev);
    const errors: Error[] = [];
    let packets = 0;
    let closedInside = false;
    dev.start(
      (batch) => {
        packets += batch.count;
        if (packets >= 400) {
          dev.close();
          closedInside = true;
          return;
        }
        throw new Error('bad batch');
      },
      (err) => errors.push(err),
    );
    // Send in several rounds so more batches than the pool holds go through.
    for (let round = 0; round < 20 && !closedInside; round++) {
      // The sender fails once the device (and its address) is gone: expected after the close.
      await sendUdp(50).catch((err: unknown) => {
        if (!closedInside) throw err;
      });
    }
    await until(() => closedInside, 'close from inside onBatch');
    expect(errors.length).toBeGreaterThanOrEqual(5); // more than the pool (4) holds: slots were recycled
    expect(errors.every((e) => e.message === 'bad batch')).toBe(true);
    expect(dev.isClosed).toBe(true);
    closeAll();
  });

  it('applies backpressure: while JS is stalled the kernel queue absorbs, then reading resumes', async () => {
    const dev = openR({ poolSize: 2, batchPackets: 8, txQueueLen: 64 });
    addressTun(dev);
    const got = collector(dev);
    const sender = sendUdp(2000);
    // Stall the JS thread: the reader fills both slots, waits, and the kernel queue (64) overflows.
    await new Promise((r) => setTimeout(r, 50));
    const end = Date.now() + 300;
    while (Date.now() < end) {
      /* busy */
    }
    await sender;
    await until(() => got.packets.length > 0, 'packets after the stall');
    const afterStall = got.packets.length;
    expect(Math.max(...got.batches)).toBeLessThanOrEqual(8);
    // Still alive and reading after the overflow.
    await sendUdp(5);
    await until(() => got.packets.some((p) => p.subarray(28).toString() === 'n:4') && got.packets.length > afterStall, 'packets after the overflow');
    expect(got.errors).toEqual([]);
    const drops = Number(sh('ip', ['netns', 'exec', ns.name, 'cat', `/sys/class/net/${dev.name}/statistics/tx_dropped`]).trim());
    expect(got.packets.length + drops).toBeGreaterThanOrEqual(2000);
    closeAll();
  });

  it('reports a device deleted under it: EBADFD to onError, and on writes', async () => {
    const dev = openR();
    const got = collector(dev);
    sh('ip', ['-n', ns.name, 'link', 'del', DEV]);
    await until(() => got.errors.length > 0, 'the read error');
    const err = got.errors[0] as TunError;
    expect(err).toBeInstanceOf(TunError);
    expect(err.code).toBe('EBADFD');
    expect(err.syscall).toBe('read');
    expect(err.message).toBe(`cannot read from TUN device ${DEV}: EBADFD`);
    expectTunError(() => dev.write(Buffer.alloc(40)), 'EBADFD', 'write', /cannot write a packet to TUN device/);
    const batch = { buffer: Buffer.alloc(80), offsets: new Uint32Array([0, 40]), lengths: new Uint32Array([40, 40]), count: 2 };
    expect(dev.writeBatch(batch)).toBe(0);
    expect(dev.stats()).toEqual({ writeErrors: 3, lastWriteError: 'EBADFD', writeBehindWritten: 0, writeBehindDropped: 0 });
    closeAll();
  });

  for (const vnetHdr of [false, true]) {
    it(`hands over UDP in batches and writes replies back in place (vnetHdr ${vnetHdr})`, async () => {
      const dev = openR({ vnetHdr });
      addressTun(dev);
      expect(dev.vnetHdrLen).toBe(vnetHdr ? VNET_HDR_LEN : 0);
      const count = 200;
      // A responder on the TUN: swap addresses and ports of every datagram and write the batch
      // back — checksums stay valid under the swap, so no recomputation is needed.
      const seen: Buffer[] = [];
      const errors: Error[] = [];
      let written = 0;
      let maxBatch = 0;
      dev.start(
        (batch) => {
          maxBatch = Math.max(maxBatch, batch.count);
          for (let i = 0; i < batch.count; i++) {
            const p = batch.buffer.subarray(batch.offsets[i]!, batch.offsets[i]! + batch.lengths[i]!);
            const ip = p.subarray(dev.vnetHdrLen);
            if (ip[0] !== 0x45 || ip[9] !== 17) {
              batch.lengths[i] = 0; // not ours (IPv6 router solicitations...): write nothing
              continue;
            }
            seen.push(Buffer.from(p));
            const src = Buffer.from(ip.subarray(12, 16));
            ip.copy(ip, 12, 16, 20);
            src.copy(ip, 16);
            const sport = ip.readUInt16BE(20);
            ip.writeUInt16BE(ip.readUInt16BE(22), 20);
            ip.writeUInt16BE(sport, 22);
          }
          // Zero-length writes are refused by the kernel and counted, the rest go out.
          written += dev.writeBatch(batch);
        },
        (err) => errors.push(err),
      );
      const out = await pythonInNs(`
import socket
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind(('${LOCAL}', 40000))
s.settimeout(10)
for i in range(${count}):
    s.sendto(b'n:%d' % i, ('${PEER}', 9999))
got = set()
while len(got) < ${count}:
    data, addr = s.recvfrom(100)
    assert addr == ('${PEER}', 9999), addr
    got.add(data)
print(len(got))
`);
      expect(out.trim()).toBe(String(count));
      expect(errors).toEqual([]);
      expect(seen.length).toBe(count);
      expect(written).toBeGreaterThanOrEqual(count);
      expect(maxBatch).toBeGreaterThan(1);
      const payloads = seen.map((p) => p.subarray(dev.vnetHdrLen + 28).toString()).sort();
      expect(new Set(payloads).size).toBe(count);
      if (vnetHdr) {
        // The kernel leaves the UDP checksum to "the device" (us): partial, with its location.
        const hdr = new VnetHdrView().at(seen[0]!, 0);
        expect(hdr.flags & VnetFlags.NEEDS_CSUM).toBe(VnetFlags.NEEDS_CSUM);
        expect(hdr.csumStart).toBe(20);
        expect(hdr.csumOffset).toBe(6);
        expect(hdr.isGso).toBe(false);
        // Completed in software, the UDP checksum verifies like one computed by the stack.
        const pkt = Buffer.from(seen[0]!);
        expect(completePartialChecksum(pkt, 0, pkt.length)).toBe(true);
        const ip = pkt.subarray(VNET_HDR_LEN);
        const pseudo = Buffer.alloc(12);
        ip.copy(pseudo, 0, 12, 20);
        pseudo[9] = 17;
        pseudo.writeUInt16BE(ip.length - 20, 10);
        expect(onesComplementSum(Buffer.concat([pseudo, ip.subarray(20)]), 0, 12 + ip.length - 20)).toBe(0xffff);
      }
      closeAll();
    });
  }

  it('delivers every datagram of a burst, several per batch, each an exact IPv4/UDP packet', async () => {
    const dev = openR();
    addressTun(dev);
    const got = collector(dev);
    await sendUdp(300);
    await until(() => got.packets.length >= 300, '300 datagrams');
    expect(got.errors).toEqual([]);
    expect(Math.max(...got.batches)).toBeGreaterThan(1);
    expect(Math.max(...got.batches)).toBeLessThanOrEqual(64);
    const first = got.packets.find((p) => p.subarray(28).toString() === 'n:0')!;
    expect(first.readUInt16BE(2)).toBe(first.length); // IP total length = what read() returned
    expect(first.subarray(12, 16)).toEqual(Buffer.from([10, 202, 0, 1]));
    expect(first.readUInt16BE(22)).toBe(9999);
    closeAll();
  });

  it('writes a single packet the namespace receives', async () => {
    const dev = openR({ vnetHdr: true });
    addressTun(dev);
    dev.start(() => {}, () => {});
    const receiver = pythonInNs(`
import socket
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind(('${LOCAL}', 7777))
s.settimeout(10)
print(s.recvfrom(100)[0].decode())
`);
    await new Promise((r) => setTimeout(r, 300));
    const packet = Buffer.concat([Buffer.alloc(VNET_HDR_LEN), udpPacket(PEER, LOCAL, 5555, 7777, Buffer.from('hello'))]);
    // The receiver may not be bound yet on a slow machine: resend until it answers.
    let done = false;
    void receiver.finally(() => (done = true));
    while (!done) {
      expect(dev.write(packet)).toBe(true);
      await new Promise((r) => setTimeout(r, 100));
    }
    expect((await receiver).trim()).toBe('hello');
    closeAll();
  });

  it('write-behind: a burst through the writer thread arrives whole and in order, also across switching it off', async () => {
    const dev = openR();
    addressTun(dev);
    dev.start(() => {}, () => {});
    const total = 600;
    const receiver = pythonInNs(`
import socket
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 8 << 20)
s.bind(('${LOCAL}', 7778))
s.settimeout(10)
got = []
try:
    while len(got) < ${total}:
        m = s.recvfrom(100)[0].decode()
        if m.startswith('w:'): got.append(int(m[2:]))
except socket.timeout:
    pass
print(','.join(map(str, got)))
`);
    await until(() => sh('ip', ['netns', 'exec', ns.name, 'ss', '-Huln', 'sport', '=', ':7778']).includes('7778'), 'the receiver bound');
    const datagram = (i: number): Buffer => udpPacket(PEER, LOCAL, 5555, 7778, Buffer.from(`w:${i}`));
    let next = 0;
    // Runs of several packets in one buffer (as the relay writes them) and single writes.
    const writeRun = (n: number): void => {
      const packets = Array.from({ length: n }, () => datagram(next++));
      const offsets = new Uint32Array(n);
      const lengths = new Uint32Array(n);
      let at = 0;
      packets.forEach((p, k) => {
        offsets[k] = at;
        lengths[k] = p.length;
        at += p.length;
      });
      expect(dev.writePackets(Buffer.concat(packets), offsets, lengths, n)).toBe(n);
    };
    for (let i = 0; i < 100; i++) writeRun(1);
    dev.setWriteBehind(true);
    for (let i = 0; i < 40; i++) writeRun(1 + (i % 7));
    for (let i = 0; i < 50; i++) expect(dev.write(datagram(next++))).toBe(true);
    // Off again: writes wait behind what is still queued, never ahead of it.
    dev.setWriteBehind(false);
    while (next < total) writeRun(Math.min(5, total - next));
    const order = (await receiver).trim().split(',').map(Number);
    expect(order).toEqual(Array.from({ length: total }, (_, i) => i));
    const st = dev.stats();
    expect(st.writeBehindWritten).toBeGreaterThanOrEqual(50);
    expect(st.writeBehindDropped).toBe(0);
    expect(st.writeErrors).toBe(0);
    closeAll();
  });
});
}
