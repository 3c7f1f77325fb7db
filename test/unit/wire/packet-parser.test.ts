import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { readCapture, type CaptureRecord } from '../../../src/pcap/reader.js';
import { ipOffset } from '../../../src/pcap/link.js';
import { buildAck, buildData, buildRst, buildSegment, buildSyn, buildSynAck, layoutOptions } from '../../../src/wire/builder.js';
import { PacketParser, parsePacket } from '../../../src/wire/packet-parser.js';
import { TCP_ACK, TCP_PSH, TCP_RST, TCP_SYN } from '../../../src/wire/tcp.js';
import { segmentFieldsArb, toSegmentSpec } from './arbitraries.js';

const specArb = segmentFieldsArb({ maxSackBlocks: 2, maxPayload: 100 });

describe('PacketParser', () => {
  it('decodes what the builders forge, both IP versions, with correct checksums', () => {
    const parser = new PacketParser({ verifyChecksums: true });
    fc.assert(
      fc.property(specArb, (s) => {
        const spec = toSegmentSpec(s);
        const pkt = buildSegment(spec);
        expect(parser.parse(pkt, 0, pkt.length)).toBe('ok');
        const f = parsePacket(pkt);
        if (!f.ok) throw new Error(f.error);
        expect(f.ipVersion).toBe(s.v6 ? 6 : 4);
        expect([f.srcPort, f.dstPort, f.seq, f.ack, f.flags, f.window, f.payloadLen]).toEqual([
          s.srcPort, s.dstPort, s.seq, s.ack, s.flags, s.window, s.payload.length,
        ]);
        expect(f.mss).toBe(s.mss);
        expect(f.wscale).toBe(s.wscale);
        expect(f.sackPermitted).toBe(s.sackPermitted ? true : undefined);
        expect(f.sack).toEqual(s.sack);
        expect(f.tsval).toBe(s.ts?.[0]);
        expect(f.tsecr).toBe(s.ts?.[1]);
        // Any single flipped bit is caught by one of the checksums (or breaks the header).
        // (IPv6 hop limit, traffic class and flow label are covered by no checksum: skip them.)
        const from = s.v6 ? 64 : 0;
        const bit = from + (s.seq % (pkt.length * 8 - from));
        pkt[bit >> 3] = pkt[bit >> 3]! ^ (1 << (bit & 7));
        expect(parser.parse(pkt, 0, pkt.length)).not.toBe('ok');
      }),
      { numRuns: 500 },
    );
  });

  it('never throws on arbitrary bytes, and errors are typed', () => {
    const parser = new PacketParser({ verifyChecksums: true });
    const known = new Set([
      'ok', 'truncated-ip', 'bad-ip-version', 'bad-ip-header', 'bad-ip-length', 'bad-ext-header', 'unsupported-jumbogram',
      'fragment', 'not-tcp', 'truncated-tcp', 'bad-tcp-offset', 'option-overrun', 'bad-option-length', 'bad-checksum',
    ]);
    const seed = buildSyn({ src: 'fd00::1', dst: 'fd00::2', srcPort: 1, dstPort: 2, seq: 3, mss: 1400, sackPermitted: true, timestamps: { tsval: 1, tsecr: 0 }, wscale: 7 });
    const seed4 = buildSyn({ src: '10.0.0.1', dst: '10.0.0.2', srcPort: 1, dstPort: 2, seq: 3, mss: 1400, wscale: 7 });
    const mutated = fc
      .tuple(fc.constantFrom(seed, seed4), fc.array(fc.tuple(fc.nat(100), fc.nat(255)), { maxLength: 6 }), fc.nat(120))
      .map(([s, muts, cut]) => {
        const b = Buffer.from(s);
        for (const [i, v] of muts) if (i < b.length) b[i] = v;
        return b.subarray(0, Math.min(cut, b.length));
      });
    fc.assert(
      fc.property(fc.oneof(fc.uint8Array({ maxLength: 120 }).map((u) => Buffer.from(u)), mutated), fc.nat(8), (b, pad) => {
        const buf = Buffer.concat([Buffer.alloc(pad), b]);
        const st = parser.parse(buf, pad, b.length);
        expect(known.has(st)).toBe(true);
        parser.parse(buf, pad, b.length + 5); // length past the buffer
        parsePacket(b);
      }),
      { numRuns: 3000 },
    );
  });

  it('types fragments, non-TCP and bad lengths', () => {
    const syn = buildSyn({ src: '10.0.0.1', dst: '10.0.0.2', srcPort: 1, dstPort: 2, seq: 3 });
    const p = new PacketParser();
    const frag = Buffer.from(syn);
    frag[6] = 0x20; // MF
    expect(p.parse(frag, 0, frag.length)).toBe('fragment');
    expect(p.protocol).toBe(6);
    const udp = Buffer.from(syn);
    udp[9] = 17;
    expect(p.parse(udp, 0, udp.length)).toBe('not-tcp');
    expect(p.parse(syn, 0, syn.length - 1)).toBe('truncated-ip');
    const data = buildData({ ...{ src: '10.0.0.1', dst: '10.0.0.2', srcPort: 1, dstPort: 2, seq: 3 }, payload: Buffer.alloc(10) });
    expect(p.parse(data, 0, data.length - 1)).toBe('truncated-ip');
    const short = new PacketParser({ allowShortPayload: true });
    expect(short.parse(data, 0, data.length - 1)).toBe('ok');
    expect(short.tcp.payloadLen).toBe(10);
    expect(short.parse(data, 0, 39)).toBe('truncated-tcp');
    expect(p.parse(Buffer.alloc(0), 0, 0)).toBe('truncated-ip');
    const bad = Buffer.from(syn);
    bad[25] = bad[25]! ^ 0xff;
    expect(p.parse(bad, 0, bad.length)).toBe('ok');
    expect(new PacketParser({ verifyChecksums: true }).parse(bad, 0, bad.length)).toBe('bad-checksum');
  });
});

describe('builders', () => {
  const base = { src: '10.0.0.1', dst: '10.0.0.2', srcPort: 5000, dstPort: 80, seq: 100 };
  it('set the flags of each segment kind', () => {
    const flagsOf = (b: Buffer): number => {
      const f = parsePacket(b);
      return f.ok ? f.flags : -1;
    };
    expect(flagsOf(buildSyn(base))).toBe(TCP_SYN);
    expect(flagsOf(buildSynAck({ ...base, ack: 1 }))).toBe(TCP_SYN | TCP_ACK);
    expect(flagsOf(buildAck({ ...base, ack: 1 }))).toBe(TCP_ACK);
    expect(flagsOf(buildRst(base))).toBe(TCP_RST);
    expect(flagsOf(buildRst({ ...base, ack: 7 }))).toBe(TCP_RST | TCP_ACK);
    expect(flagsOf(buildData({ ...base, ack: 1, payload: Buffer.from('hi') }))).toBe(TCP_ACK | TCP_PSH);
  });

  it('write into a caller buffer at an offset and refuse buffers too small', async () => {
    const { writeSegment, segmentLength } = await import('../../../src/wire/builder.js');
    const spec = { ...base, flags: TCP_ACK, ack: 9, timestamps: { tsval: 1, tsecr: 2 } };
    const buf = Buffer.alloc(200);
    const n = writeSegment(spec, buf, 7);
    expect(n).toBe(segmentLength(spec));
    expect(n).toBe(20 + 32);
    expect(parsePacket(buf, 7, n).ok).toBe(true);
    expect(() => writeSegment(spec, Buffer.alloc(40), 0)).toThrow(RangeError);
    expect(() => buildSegment({ ...spec, mss: 1, sackPermitted: true, wscale: 1, sack: [[1, 2], [3, 4], [5, 6]] })).toThrow(RangeError);
  });

  it("lay out a SYN's options byte for byte like Linux (fixture captured from a real kernel)", () => {
    const file = fileURLToPath(new URL('../../fixtures/lo-v4v6-snap200.pcap', import.meta.url));
    const rec = [...readCapture(readFileSync(file))][0] as CaptureRecord;
    const off = ipOffset(rec.linkType, rec.data);
    if (!off.ok) throw new Error(off.error);
    const p = new PacketParser({ allowShortPayload: true });
    expect(p.parse(rec.data, off.off, rec.data.length - off.off)).toBe('ok');
    const t = p.tcp;
    const kernelOpts = rec.data.subarray(t.off + 20, t.off + t.headerLen);
    const ours = buildSyn({
      ...base,
      mss: t.mss,
      sackPermitted: true,
      timestamps: { tsval: t.tsval, tsecr: t.tsecr },
      wscale: t.wscale,
    });
    expect(ours.subarray(40, 20 + t.headerLen).equals(kernelOpts)).toBe(true);
    expect(layoutOptions({ ...base, flags: 0, sack: [[1, 2]] }).map((o) => o.kind)).toEqual(['nop', 'nop', 'sack']);
  });
});
