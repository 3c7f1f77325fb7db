import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { decodeItem, type DecodedTcp, humanLine } from '../../../src/pcap/decode-format.js';
import { PcapngWriter } from '../../../src/pcap/pcapng-writer.js';
import { type CaptureItem, type CaptureRecord, NotACaptureError, readCapture } from '../../../src/pcap/reader.js';
import { buildSegment } from '../../../src/wire/builder.js';
import { TCP_ACK, TCP_SYN } from '../../../src/wire/tcp.js';
import { compareWithTshark, expectedFromTshark } from './tshark.js';

const fixture = (name: string): string => fileURLToPath(new URL(`../../fixtures/${name}`, import.meta.url));

const syn = buildSegment({
  src: '10.1.0.1',
  dst: '10.1.0.2',
  srcPort: 40000,
  dstPort: 80,
  seq: 0xfffffff0,
  flags: TCP_SYN,
  window: 64240,
  mss: 1460,
  sackPermitted: true,
  timestamps: { tsval: 7, tsecr: 0 },
  wscale: 7,
});
const ack6 = buildSegment({
  src: 'fd00::1',
  dst: 'fd00::2',
  srcPort: 80,
  dstPort: 40000,
  seq: 1,
  ack: 2,
  flags: TCP_ACK,
  window: 500,
  sack: [[10, 20]],
});

function records(buf: Buffer): CaptureItem[] {
  return [...readCapture(buf)];
}

/** Classic pcap in either byte order and precision. */
function pcapFile(le: boolean, nano: boolean, linkType: number, pkts: Array<{ sec: number; frac: number; data: Buffer }>): Buffer {
  const parts: Buffer[] = [];
  const h = Buffer.alloc(24);
  const w32 = (b: Buffer, v: number, o: number): number => (le ? b.writeUInt32LE(v, o) : b.writeUInt32BE(v, o));
  const w16 = (b: Buffer, v: number, o: number): number => (le ? b.writeUInt16LE(v, o) : b.writeUInt16BE(v, o));
  w32(h, nano ? 0xa1b23c4d : 0xa1b2c3d4, 0);
  w16(h, 2, 4);
  w16(h, 4, 6);
  w32(h, 65535, 16);
  w32(h, linkType, 20);
  parts.push(h);
  for (const p of pkts) {
    const r = Buffer.alloc(16);
    w32(r, p.sec, 0);
    w32(r, p.frac, 4);
    w32(r, p.data.length, 8);
    w32(r, p.data.length, 12);
    parts.push(r, p.data);
  }
  return Buffer.concat(parts);
}

function firstTcp(item: CaptureItem | undefined): DecodedTcp {
  const d = decodeItem(item!);
  if (d === null || 'error' in d) throw new Error(`not a TCP line: ${JSON.stringify(d)}`);
  return d;
}

describe('pcap reader', () => {
  for (const le of [true, false]) {
    for (const nano of [false, true]) {
      it(`reads ${le ? 'little' : 'big'}-endian ${nano ? 'nanosecond' : 'microsecond'} pcap`, () => {
        const frac = nano ? 123456789 : 123456;
        const buf = pcapFile(le, nano, 101, [
          { sec: 1700000000, frac, data: syn },
          { sec: 1700000001, frac: 0, data: ack6 },
        ]);
        const items = records(buf);
        expect(items).toHaveLength(2);
        const d = firstTcp(items[0]);
        expect(d.ts).toBeCloseTo(1700000000 + frac / (nano ? 1e9 : 1e6), 9);
        expect(d).toMatchObject({ src: '10.1.0.1', dst: '10.1.0.2', sport: 40000, dport: 80, seq: 0xfffffff0, ack: 0 });
        expect(d).toMatchObject({ flags: 2, win: 64240, len: 0, mss: 1460, wscale: 7, sackPermitted: true, tsval: 7, tsecr: 0 });
        const d6 = firstTcp(items[1]);
        expect(d6).toMatchObject({ src: 'fd00::1', dst: 'fd00::2', sack: [[10, 20]], flags: 16 });
        expect(d6.mss).toBeUndefined();
        expect(d6.tsval).toBeUndefined();
      });
    }
  }

  it('reports a record cut off by the end of the file and stops', () => {
    const buf = pcapFile(true, false, 101, [{ sec: 1, frac: 0, data: syn }]);
    const items = records(buf.subarray(0, buf.length - 3));
    expect(items).toEqual([{ error: 'truncated-record', ts: 1 }]);
  });

  it('refuses files that are not captures', () => {
    expect(() => records(Buffer.from('hello world, not a capture'))).toThrow(NotACaptureError);
    expect(() => records(Buffer.alloc(0))).toThrow(NotACaptureError);
    expect(() => records(Buffer.from([0xd4, 0xc3, 0xb2, 0xa1, 2, 0]))).toThrow(NotACaptureError);
  });
});

describe('link types', () => {
  const eth = (et: number, vlan: boolean): Buffer => {
    const h = Buffer.alloc(vlan ? 18 : 14);
    if (vlan) {
      h.writeUInt16BE(0x8100, 12);
      h.writeUInt16BE(42, 14);
      h.writeUInt16BE(et, 16);
    } else h.writeUInt16BE(et, 12);
    return h;
  };
  const sll = (et: number): Buffer => {
    const h = Buffer.alloc(16);
    h.writeUInt16BE(et, 14);
    return h;
  };
  const sll2 = (et: number): Buffer => {
    const h = Buffer.alloc(20);
    h.writeUInt16BE(et, 0);
    return h;
  };
  const cases: Array<[string, number, Buffer, Buffer]> = [
    ['raw 101 v4', 101, Buffer.alloc(0), syn],
    ['raw 101 v6', 101, Buffer.alloc(0), ack6],
    ['ipv4 228', 228, Buffer.alloc(0), syn],
    ['ipv6 229', 229, Buffer.alloc(0), ack6],
    ['ethernet', 1, eth(0x0800, false), syn],
    ['ethernet + VLAN', 1, eth(0x86dd, true), ack6],
    ['linux SLL', 113, sll(0x0800), syn],
    ['linux SLL2', 276, sll2(0x86dd), ack6],
    ['BSD loopback', 0, Buffer.from([2, 0, 0, 0]), syn],
  ];
  for (const [name, lt, hdr, pkt] of cases) {
    it(`finds the IP packet: ${name}`, () => {
      const w = new PcapngWriter();
      const id = w.addInterface({ linkType: lt });
      w.addPacket({ interfaceId: id, ts: 5n, data: Buffer.concat([hdr, pkt]) });
      const d = firstTcp(records(w.toBuffer())[0]);
      expect(d.sport === 40000 || d.sport === 80).toBe(true);
    });
  }

  it('skips non-IP frames and reports unsupported link types', () => {
    const w = new PcapngWriter();
    const e = w.addInterface({ linkType: 1 });
    const odd = w.addInterface({ linkType: 147 });
    w.addPacket({ interfaceId: e, ts: 1n, data: eth(0x0806, false) }); // ARP
    w.addPacket({ interfaceId: odd, ts: 2_000_000_000n, data: syn });
    w.addPacket({ interfaceId: e, ts: 3n, data: Buffer.alloc(5) });
    const lines = records(w.toBuffer()).map(decodeItem);
    expect(lines).toEqual([null, { ts: 2, error: 'unsupported-linktype' }, { ts: 3e-9, error: 'truncated-link' }]);
  });
});

describe('pcapng reader', () => {
  it('handles several interfaces with their own link type and timestamp resolution, and comments', () => {
    const w = new PcapngWriter();
    const a = w.addInterface({ linkType: 101, tsResolution: 6 });
    const b = w.addInterface({ linkType: 276, tsResolution: 9 });
    w.addPacket({ interfaceId: a, ts: 1700000000.25, data: syn, comment: 'modify: seq+delta' });
    const sll2 = Buffer.alloc(20);
    sll2.writeUInt16BE(0x86dd, 0);
    w.addPacket({ interfaceId: b, ts: 1700000000_123456789n, data: Buffer.concat([sll2, ack6]) });
    const items = records(w.toBuffer()) as CaptureRecord[];
    expect(items.map((r) => [r.interfaceId, r.linkType, r.comments])).toEqual([
      [0, 101, ['modify: seq+delta']],
      [1, 276, []],
    ]);
    expect(items[0]!.ts).toBe(1700000000.25);
    expect(items[1]!.ts).toBeCloseTo(1700000000.123456789, 9);
    const d = firstTcp(items[0]);
    expect(d.comment).toBe('modify: seq+delta');
    expect(humanLine(d)).toContain('# modify: seq+delta');
    expect(JSON.parse(JSON.stringify(firstTcp(items[1])))).not.toHaveProperty('comment');
  });

  it('reads simple packet blocks (no timestamp) and binary if_tsresol', () => {
    const w = new PcapngWriter();
    // IDB with if_tsresol 2^-10 written by hand through addRaw
    const idb = Buffer.alloc(32);
    idb.writeUInt32LE(1, 0);
    idb.writeUInt32LE(32, 4);
    idb.writeUInt16LE(101, 8);
    idb.writeUInt32LE(0, 12);
    idb.writeUInt16LE(9, 16);
    idb.writeUInt16LE(1, 18);
    idb[20] = 0x80 | 10;
    idb.writeUInt32LE(32, 28);
    w.addRaw(idb);
    const epb = Buffer.alloc(32 + syn.length);
    epb.writeUInt32LE(6, 0);
    epb.writeUInt32LE(epb.length, 4);
    epb.writeUInt32LE(0, 8);
    epb.writeUInt32LE(0, 12);
    epb.writeUInt32LE(3 * 1024 + 512, 16); // 3.5 s
    epb.writeUInt32LE(syn.length, 20);
    epb.writeUInt32LE(syn.length, 24);
    syn.copy(epb, 28);
    epb.writeUInt32LE(epb.length, epb.length - 4);
    w.addRaw(epb);
    const spb = Buffer.alloc(16 + ((ack6.length + 3) & ~3));
    spb.writeUInt32LE(3, 0);
    spb.writeUInt32LE(spb.length, 4);
    spb.writeUInt32LE(ack6.length, 8);
    ack6.copy(spb, 12);
    spb.writeUInt32LE(spb.length, spb.length - 4);
    w.addRaw(spb);
    const items = records(w.toBuffer()) as CaptureRecord[];
    expect(items[0]!.ts).toBe(3.5);
    expect(items[1]!.ts).toBeNull();
    expect(firstTcp(items[1]).sack).toEqual([[10, 20]]);
  });

  it('reads a big-endian section', () => {
    const blk = (type: number, body: Buffer): Buffer => {
      const b = Buffer.alloc(12 + body.length);
      b.writeUInt32BE(type, 0);
      b.writeUInt32BE(b.length, 4);
      body.copy(b, 8);
      b.writeUInt32BE(b.length, b.length - 4);
      return b;
    };
    const shb = Buffer.alloc(16);
    shb.writeUInt32BE(0x1a2b3c4d, 0);
    shb.writeUInt16BE(1, 4);
    shb.writeBigInt64BE(-1n, 8);
    const idb = Buffer.alloc(8);
    idb.writeUInt16BE(228, 0);
    const epb = Buffer.alloc(20 + ((syn.length + 3) & ~3));
    epb.writeUInt32BE(0, 0);
    epb.writeUInt32BE(0, 4);
    epb.writeUInt32BE(2_500_000, 8);
    epb.writeUInt32BE(syn.length, 12);
    epb.writeUInt32BE(syn.length, 16);
    syn.copy(epb, 20);
    const file = Buffer.concat([blk(0x0a0d0d0a, shb), blk(1, idb), blk(6, epb)]);
    const d = firstTcp(records(file)[0]);
    expect(d.ts).toBe(2.5);
    expect(d.seq).toBe(0xfffffff0);
  });

  it('reports malformed blocks instead of throwing', () => {
    const w = new PcapngWriter();
    w.addInterface({ linkType: 101 });
    w.addPacket({ interfaceId: 0, ts: 1n, data: syn });
    const good = w.toBuffer();
    // Packet for an interface that was never described
    const w2 = new PcapngWriter();
    w2.addInterface({ linkType: 101 });
    w2.addPacket({ interfaceId: 0, ts: 1n, data: syn });
    const unknownIf = w2.toBuffer();
    const epbAt = unknownIf.length - (32 + ((syn.length + 3) & ~3));
    unknownIf.writeUInt32LE(7, epbAt + 8);
    expect(records(unknownIf)).toEqual([{ error: 'unknown-interface', ts: null }]);
    // Block length past the end of the file
    expect(records(good.subarray(0, good.length - 1)).at(-1)).toEqual({ error: 'truncated-block', ts: null });
    // Captured length larger than the block
    const bad = Buffer.from(good);
    bad.writeUInt32LE(4000, epbAt + 20);
    expect(records(bad)).toEqual([{ error: 'truncated-block', ts: 1e-9 }]);
    // No section header first
    expect(() => records(good.subarray(28))).toThrow(NotACaptureError);
  });

  it('prints an error object for malformed IP/TCP inside a good capture', () => {
    const w = new PcapngWriter();
    w.addInterface({ linkType: 101 });
    const badOff = Buffer.from(syn);
    badOff[20 + 12] = 0x40; // data offset 4 words
    const shortIp = syn.subarray(0, 30);
    const overrun = Buffer.from(syn);
    overrun[20 + 20 + 1] = 40; // MSS option claims 40 bytes
    w.addPacket({ interfaceId: 0, ts: 1, data: badOff });
    w.addPacket({ interfaceId: 0, ts: 2, data: shortIp, comment: 'dropped' });
    w.addPacket({ interfaceId: 0, ts: 3, data: overrun });
    const lines = records(w.toBuffer()).map(decodeItem);
    expect(lines).toEqual([
      { ts: 1, error: 'bad-tcp-offset' },
      { ts: 2, error: 'truncated-tcp', comment: 'dropped' },
      { ts: 3, error: 'option-overrun' },
    ]);
  });
});

describe('fixture decoded like tshark', () => {
  // lo-v4v6-snap200: real Linux loopback TCP (v4 and v6, snap length 200 so payloads are cut);
  // the .pcapng was made with editcap and carries a comment on packet 3. The .tsv is tshark's view.
  const expected = expectedFromTshark(readFileSync(fixture('lo-v4v6-snap200.tshark.tsv'), 'utf8'));
  for (const name of ['lo-v4v6-snap200.pcap', 'lo-v4v6-snap200.pcapng']) {
    it(name, () => {
      const lines = records(readFileSync(fixture(name))).map(decodeItem).filter((d) => d !== null) as DecodedTcp[];
      const exp = name.endsWith('.pcap') ? expected.map(({ comment: _c, ...rest }) => rest as DecodedTcp) : expected;
      compareWithTshark(lines, exp);
      expect(exp.some((e) => e.sackPermitted && e.mss && e.wscale !== undefined && e.tsval !== undefined)).toBe(true);
    });
  }
});
