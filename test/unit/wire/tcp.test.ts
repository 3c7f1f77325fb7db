import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { checksumOf, foldSum, pseudoSumV4 } from '../../../src/wire/checksum.js';
import { buildSegment } from '../../../src/wire/builder.js';
import { PacketParser } from '../../../src/wire/packet-parser.js';
import { emitTcp, parseTcpRepr, TcpPacket, tcpHeaderLen, type TcpRepr, TCP_ACK, TCP_SYN } from '../../../src/wire/tcp.js';
import { ipv4Arb, ipv6Arb, optionListArb, tcpReprArb } from './arbitraries.js';

function emitRepr(r: TcpRepr): Buffer {
  const b = Buffer.alloc(tcpHeaderLen(r) + r.payload.length);
  emitTcp(r, b, 0);
  return b;
}

describe('TcpPacket view', () => {
  it('reads every header field', () => {
    const b = Buffer.from('9c4000500000000a0000000b' + '5' + '0' + '12' + 'faf0' + '0000' + '0007', 'hex');
    const t = new TcpPacket();
    expect(t.wrap(b, 0, b.length)).toBe('ok');
    expect([t.srcPort, t.dstPort, t.seq, t.ack, t.headerLen, t.flags, t.window, t.urgent, t.payloadLen]).toEqual([
      40000, 80, 10, 11, 20, 0x12, 0xfaf0, 7, 0,
    ]);
    expect(t.segLen).toBe(1);
    expect(t.scanOptions()).toBe('ok');
    expect([t.mss, t.wscale, t.tsval, t.sackOff, t.sackPermitted]).toEqual([-1, -1, -1, -1, false]);
  });

  it('rejects data offsets below 5 or past the segment, and short headers', () => {
    const t = new TcpPacket();
    const b = Buffer.alloc(24);
    b[12] = 0x40;
    expect(t.wrap(b, 0, 24)).toBe('bad-tcp-offset');
    b[12] = 0x70;
    expect(t.wrap(b, 0, 24)).toBe('bad-tcp-offset');
    b[12] = 0x60;
    expect(t.wrap(b, 0, 24)).toBe('ok');
    expect(t.wrap(b, 0, 24, 22)).toBe('truncated-tcp');
    expect(t.wrap(b, 0, 19)).toBe('truncated-tcp');
    expect(t.wrap(b, 10, 24)).toBe('truncated-tcp');
  });

  it('round-trips TcpRepr parse∘emit byte-exact with arbitrary options', () => {
    fc.assert(
      fc.property(tcpReprArb, (r) => {
        const b = emitRepr(r);
        const t = new TcpPacket();
        expect(t.wrap(b, 0, b.length)).toBe('ok');
        const back = parseTcpRepr(t);
        if (typeof back === 'string') throw new Error(back);
        expect({ ...back, payload: Buffer.from(back.payload) }).toEqual({ ...r, payload: Buffer.from(r.payload) });
        expect(emitRepr(back).equals(b)).toBe(true);
      }),
      { numRuns: 500 },
    );
  });
});

type Edit =
  | ['seq' | 'ack' | 'tsval' | 'tsecr', number]
  | ['window' | 'srcPort' | 'dstPort' | 'urgent' | 'mss' | 'flags', number]
  | ['sackLeft' | 'sackRight', number, number];

const u32 = fc.integer({ min: 0, max: 0xffffffff });
const u16 = fc.integer({ min: 0, max: 0xffff });
const editArb: fc.Arbitrary<Edit> = fc.oneof(
  fc.tuple(fc.constantFrom('seq' as const, 'ack' as const, 'tsval' as const, 'tsecr' as const), u32),
  fc.tuple(fc.constantFrom('window' as const, 'srcPort' as const, 'dstPort' as const, 'urgent' as const, 'mss' as const), u16),
  fc.tuple(fc.constant('flags' as const), fc.integer({ min: 0, max: 255 })),
  fc.tuple(fc.constantFrom('sackLeft' as const, 'sackRight' as const), fc.nat(3), u32),
);

function applyEdit(t: TcpPacket, e: Edit): void {
  switch (e[0]) {
    case 'seq':
      return t.setSeq(e[1]);
    case 'ack':
      return t.setAck(e[1]);
    case 'tsval':
      if (t.tsOff >= 0) t.setTsval(e[1]);
      return;
    case 'tsecr':
      if (t.tsOff >= 0) t.setTsecr(e[1]);
      return;
    case 'window':
      return t.setWindow(e[1]);
    case 'srcPort':
      return t.setSrcPort(e[1]);
    case 'dstPort':
      return t.setDstPort(e[1]);
    case 'urgent':
      return t.setUrgent(e[1]);
    case 'flags':
      return t.setFlags(e[1]);
    case 'mss':
      if (t.mssOff >= 0) t.setMss(e[1]);
      return;
    case 'sackLeft':
    case 'sackRight':
      if (e[1] < t.sackCount) (e[0] === 'sackLeft' ? t.setSackLeft : t.setSackRight).call(t, e[1], e[2]);
      return;
  }
}

describe('in-place rewriting', () => {
  const packetArb = fc.record({
    v6: fc.boolean(),
    a4: fc.tuple(ipv4Arb, ipv4Arb),
    a6: fc.tuple(ipv6Arb, ipv6Arb),
    options: optionListArb,
    payload: fc.uint8Array({ maxLength: 40 }),
    edits: fc.array(editArb, { minLength: 1, maxLength: 12 }),
  });

  it('keeps the full checksum equal to a recomputation after any edits (odd-aligned options too)', () => {
    const parser = new PacketParser({ verifyChecksums: true });
    fc.assert(
      fc.property(packetArb, ({ v6, a4, a6, options, payload, edits }) => {
        const [src, dst] = v6 ? a6 : a4;
        const pkt = buildSegment({ src, dst, srcPort: 1, dstPort: 2, seq: 3, ack: 4, flags: TCP_ACK, options, payload });
        expect(parser.parse(pkt, 0, pkt.length)).toBe('ok');
        for (const e of edits) applyEdit(parser.tcp, e);
        expect(parser.tcp.computeChecksum(parser.pseudoSum)).toBe(parser.tcp.checksum);
        expect(parser.parse(pkt, 0, pkt.length)).toBe('ok');
      }),
      { numRuns: 1000 },
    );
  });

  it("leaves a partial (offload) checksum alone; the device's completion still comes out right", () => {
    fc.assert(
      fc.property(packetArb, ({ v6, a4, a6, options, payload, edits }) => {
        const [src, dst] = v6 ? a6 : a4;
        const spec = { src, dst, srcPort: 1, dstPort: 2, seq: 3, ack: 4, flags: TCP_ACK, options, payload };
        const pkt = buildSegment({ ...spec, checksumMode: 'partial' });
        const p = new PacketParser();
        expect(p.parse(pkt, 0, pkt.length)).toBe('ok');
        const t = p.tcp;
        t.checksumMode = 'partial';
        const partial = t.checksum;
        expect(partial).toBe(foldSum(p.pseudoSum));
        for (const e of edits) applyEdit(t, e);
        expect(t.checksum).toBe(partial);
        // What the NIC/kernel does with NEEDS_CSUM: sum from csum_start with the field as it is.
        const finished = checksumOf(pkt, t.off, t.len);
        expect(finished).toBe(t.computeChecksum(p.pseudoSum));
      }),
      { numRuns: 300 },
    );
  });

  it('rewrites a SYN-ACK as the relay would (seq by delta, TSval by offset)', () => {
    const pkt = buildSegment({
      src: '192.0.2.1',
      dst: '198.51.100.7',
      srcPort: 80,
      dstPort: 51000,
      seq: 0xfffffff0,
      ack: 1001,
      flags: TCP_SYN | TCP_ACK,
      window: 65160,
      mss: 1460,
      sackPermitted: true,
      timestamps: { tsval: 100, tsecr: 55 },
      wscale: 7,
    });
    const p = new PacketParser({ verifyChecksums: true });
    expect(p.parse(pkt, 0, pkt.length)).toBe('ok');
    p.tcp.setSeq((p.tcp.seq + 0x20) >>> 0);
    p.tcp.setTsval(p.tcp.tsval + 1000);
    expect(p.parse(pkt, 0, pkt.length)).toBe('ok');
    expect([p.tcp.seq, p.tcp.tsval, p.tcp.tsecr, p.tcp.mss, p.tcp.wscale]).toEqual([0x10, 1100, 55, 1460, 7]);
    expect(checksumOf(pkt, p.tcp.off, p.tcp.len, pseudoSumV4(pkt, 0, 6, p.tcp.len))).toBe(0);
  });
});
