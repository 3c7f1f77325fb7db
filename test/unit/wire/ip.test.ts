import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { formatIpv6, parseIpAddr } from '../../../src/wire/addr.js';
import { emitIpv4, type Ipv4Repr, Ipv4Packet, parseIpv4Repr } from '../../../src/wire/ipv4.js';
import { emitIpv6, Ipv6Packet, parseIpv6Repr } from '../../../src/wire/ipv6.js';
import { ipv4Arb, ipv6Arb } from './arbitraries.js';

const hex = (s: string): Buffer => Buffer.from(s.replace(/\s+/g, ''), 'hex');

describe('addresses', () => {
  it('formats IPv6 like RFC 5952 / tshark', () => {
    const cases: Array<[string, string]> = [
      ['::1', '::1'],
      ['fd00:0:0:0:0:0:0:2', 'fd00::2'],
      ['2001:db8:0:0:1:0:0:1', '2001:db8::1:0:0:1'],
      ['2001:db8:0:1:1:1:1:1', '2001:db8:0:1:1:1:1:1'],
      ['::', '::'],
      ['::ffff:10.0.0.1', '::ffff:10.0.0.1'],
      ['FE80::A:b', 'fe80::a:b'],
    ];
    for (const [input, want] of cases) expect(formatIpv6(parseIpAddr(input), 0)).toBe(want);
  });
  it('parses text to bytes and back for any address', () => {
    fc.assert(
      fc.property(ipv6Arb, (a) => {
        const b = parseIpAddr(a);
        expect(parseIpAddr(formatIpv6(b, 0))).toEqual(b);
      }),
    );
    expect(() => parseIpAddr('10.0.0.256')).toThrow();
  });
});

describe('IPv4', () => {
  it('reads a known header and verifies its checksum', () => {
    const b = hex('45000073000040004011b861c0a80001c0a800c7');
    const p = new Ipv4Packet();
    expect(p.wrap(b, 0, b.length, true)).toBe('ok');
    expect(p.wrap(b, 0, b.length)).toBe('truncated-ip'); // total length 115 > 20 bytes given
    expect([p.headerLen, p.totalLen, p.dontFrag, p.isFragment, p.ttl, p.protocol, p.srcText, p.dstText]).toEqual([
      20, 0x73, true, false, 64, 17, '192.168.0.1', '192.168.0.199',
    ]);
    expect(p.verifyChecksum()).toBe(true);
    p.setTtl(63);
    expect(p.verifyChecksum()).toBe(true);
    p.setTotalLen(20);
    expect(p.verifyChecksum()).toBe(true);
    expect(p.wrap(b, 0, b.length)).toBe('ok');
  });

  it('types malformed headers', () => {
    const p = new Ipv4Packet();
    const b = hex('45000014000040004006 0000 0a000001 0a000002');
    expect(p.wrap(b, 0, 19)).toBe('truncated-ip');
    b[0] = 0x44;
    expect(p.wrap(b, 0, 20)).toBe('bad-ip-header');
    b[0] = 0x46;
    expect(p.wrap(b, 0, 20)).toBe('bad-ip-length'); // total 20 < IHL 24
    b[0] = 0x55;
    expect(p.wrap(b, 0, 20)).toBe('bad-ip-version');
  });

  it('recognises first, middle and last fragments', () => {
    const p = new Ipv4Packet();
    const b = hex('45000014000020004006 0000 0a000001 0a000002');
    expect(p.wrap(b, 0, 20)).toBe('ok');
    expect([p.isFragment, p.moreFrags, p.fragOffset]).toEqual([true, true, 0]);
    b[6] = 0x20;
    b[7] = 0x10;
    expect([p.isFragment, p.fragOffset]).toEqual([true, 128]);
    b[6] = 0x00;
    expect([p.isFragment, p.moreFrags]).toEqual([true, false]);
    b[7] = 0;
    b[6] = 0x40;
    expect(p.isFragment).toBe(false);
  });

  it('round-trips Ipv4Repr parse∘emit', () => {
    const reprArb = fc.record({
      src: ipv4Arb,
      dst: ipv4Arb,
      protocol: fc.nat(255),
      ttl: fc.nat(255),
      tos: fc.nat(255),
      ident: fc.nat(0xffff),
      dontFrag: fc.boolean(),
      payloadLen: fc.nat(200),
      options: fc.nat(10).map((n) => Buffer.alloc(n * 4, 1)),
    });
    fc.assert(
      fc.property(reprArb, (r: Ipv4Repr) => {
        const b = Buffer.alloc(60 + r.payloadLen);
        const hl = emitIpv4(r, b, 0);
        const p = new Ipv4Packet();
        expect(p.wrap(b, 0, hl + r.payloadLen)).toBe('ok');
        expect(p.verifyChecksum()).toBe(true);
        expect(parseIpv4Repr(p)).toEqual(r);
      }),
    );
  });
});

describe('IPv6', () => {
  const base = (nh: number, payload: Buffer): Buffer => {
    const b = Buffer.alloc(40 + payload.length);
    emitIpv6({ src: 'fd00::1', dst: 'fd00::2', nextHeader: nh, hopLimit: 64, trafficClass: 0, flowLabel: 0, payloadLen: payload.length }, b, 0);
    payload.copy(b, 40);
    return b;
  };
  const tcp20 = Buffer.alloc(20);

  it('walks hop-by-hop, destination options, routing, AH and an atomic fragment to TCP', () => {
    const hbh = hex('3c00 0000 0000 0000'); // -> dest opts
    const dst = hex('2b01 0000 0000 0000 0000 0000 0000 0000'); // 16 bytes -> routing
    const rt = hex('3300 0000 0000 0000'); // -> AH
    const ah = hex('2c01 0000 0000 0000 0000 0000'); // (1+2)*4 = 12 bytes -> fragment
    const frag = hex('0600 0000 0000 0001'); // atomic fragment -> TCP
    const b = base(0, Buffer.concat([hbh, dst, rt, ah, frag, tcp20]));
    const p = new Ipv6Packet();
    expect(p.wrap(b, 0, b.length)).toBe('ok');
    expect(p.walk()).toBe('ok');
    expect([p.upperProtocol, p.upperOffset]).toEqual([6, b.length - 20]);
  });

  it('types fragments, jumbograms, misplaced hop-by-hop and truncated extension headers', () => {
    const p = new Ipv6Packet();
    let b = base(44, Buffer.concat([hex('0600 0001 0000 0001'), tcp20])); // M set
    expect(p.wrap(b, 0, b.length)).toBe('ok');
    expect(p.walk()).toBe('fragment');
    b = base(44, Buffer.concat([hex('0600 0100 0000 0001'), tcp20])); // offset 32
    p.wrap(b, 0, b.length);
    expect(p.walk()).toBe('fragment');
    b = base(0, Buffer.concat([hex('c200 0000 0000 0000'), tcp20]));
    b.writeUInt16BE(0, 4);
    expect(p.wrap(b, 0, b.length)).toBe('unsupported-jumbogram');
    b = base(60, Buffer.concat([hex('0000 0000 0000 0000'), hex('0600 0000 0000 0000'), tcp20]));
    p.wrap(b, 0, b.length);
    expect(p.walk()).toBe('bad-ext-header');
    b = base(60, hex('0605 0000 0000 0000'));
    p.wrap(b, 0, b.length);
    expect(p.walk()).toBe('truncated-ip');
    b = base(6, tcp20);
    expect(p.wrap(b, 0, b.length - 1)).toBe('truncated-ip');
  });

  it('round-trips Ipv6Repr parse∘emit', () => {
    fc.assert(
      fc.property(ipv6Arb, ipv6Arb, fc.nat(255), fc.nat(0xfffff), fc.nat(255), (s, d, tc, fl, nh) => {
        const r = { src: s, dst: d, nextHeader: nh, hopLimit: 9, trafficClass: tc, flowLabel: fl, payloadLen: 0 };
        const b = Buffer.alloc(40);
        emitIpv6(r, b, 0);
        const p = new Ipv6Packet();
        if (nh === 0) return; // payload length 0 with hop-by-hop reads as a jumbogram
        expect(p.wrap(b, 0, 40)).toBe('ok');
        expect(parseIpv6Repr(p)).toEqual({ ...r, src: formatIpv6(parseIpAddr(s), 0), dst: formatIpv6(parseIpAddr(d), 0) });
      }),
    );
  });
});
