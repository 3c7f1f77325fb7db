import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { parseIpAddr } from '../../../src/wire/addr.js';
import { checksumOf, foldSum, pseudoSumV6, sumBytes } from '../../../src/wire/checksum.js';
import { buildTcpUnreachable, IP_PROTO_ICMP, IP_PROTO_ICMPV6 } from '../../../src/wire/icmp.js';
import { Ipv4Packet } from '../../../src/wire/ipv4.js';
import { Ipv6Packet } from '../../../src/wire/ipv6.js';

function v4(buf: Buffer, allowShort = false): Ipv4Packet {
  const p = new Ipv4Packet();
  expect(p.wrap(buf, 0, buf.length, allowShort)).toBe('ok');
  return p;
}
function v6(buf: Buffer, allowShort = false): Ipv6Packet {
  const p = new Ipv6Packet();
  expect(p.wrap(buf, 0, buf.length, allowShort)).toBe('ok');
  return p;
}

const q4 = { src: '10.1.0.2', dst: '10.9.0.1', srcPort: 40000, dstPort: 9000, seq: 0xfffffff0 };
const q6 = { src: 'fd00::2', dst: 'fd00:9::1', srcPort: 40000, dstPort: 9000, seq: 7 };

describe('TCP destination-unreachable errors', () => {
  it('IPv4: host unreachable to the segment sender, quoting its IP header and ports + seq', () => {
    const pkt = buildTcpUnreachable({ reporter: '10.9.0.1', quoted: q4 });
    const ip = v4(pkt);
    expect(ip.protocol).toBe(IP_PROTO_ICMP);
    expect(ip.srcText).toBe('10.9.0.1');
    expect(ip.dstText).toBe('10.1.0.2');
    expect(ip.totalLen).toBe(pkt.length);
    expect(pkt.length).toBe(20 + 8 + 20 + 8);
    expect(checksumOf(pkt, 0, 20)).toBe(0); // IP header checksum verifies
    expect(checksumOf(pkt, 20, pkt.length - 20)).toBe(0); // ICMP checksum verifies
    expect([pkt[20], pkt[21]]).toEqual([3, 1]);
    // The quoted header claims the whole segment; only its first 8 TCP bytes are there.
    const quoted = v4(pkt.subarray(28), true);
    expect(quoted.srcText).toBe(q4.src);
    expect(quoted.dstText).toBe(q4.dst);
    expect(quoted.protocol).toBe(6);
    expect(checksumOf(pkt, 28, 20)).toBe(0);
    expect(pkt.readUInt16BE(48)).toBe(40000);
    expect(pkt.readUInt16BE(50)).toBe(9000);
    expect(pkt.readUInt32BE(52)).toBe(0xfffffff0);
  });

  it('IPv6: no route to destination, checksum over the pseudo-header', () => {
    const pkt = buildTcpUnreachable({ reporter: 'fd00:9::1', quoted: q6 });
    const ip = v6(pkt);
    expect(ip.nextHeader).toBe(IP_PROTO_ICMPV6);
    expect(ip.srcText).toBe('fd00:9::1');
    expect(ip.dstText).toBe('fd00::2');
    expect(ip.payloadLen).toBe(8 + 40 + 8);
    expect([pkt[40], pkt[41]]).toEqual([1, 0]);
    const len = pkt.length - 40;
    expect(checksumOf(pkt, 40, len, pseudoSumV6(pkt, 0, IP_PROTO_ICMPV6, len))).toBe(0);
    const quoted = v6(pkt.subarray(48), true);
    expect(quoted.srcText).toBe('fd00::2');
    expect(quoted.dstText).toBe('fd00:9::1');
    expect(pkt.readUInt32BE(88 + 4)).toBe(7);
  });

  it('checksums verify for any ports and sequence number', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 0xffff }), fc.integer({ min: 0, max: 0xffff }), fc.integer({ min: 0, max: 0xffffffff }), (sp, dp, seq) => {
        const pkt = buildTcpUnreachable({ reporter: q4.dst, quoted: { ...q4, srcPort: sp, dstPort: dp, seq } });
        expect(foldSum(sumBytes(pkt, 20, pkt.length - 20))).toBe(0xffff);
        const pkt6 = buildTcpUnreachable({ reporter: q6.dst, quoted: { ...q6, srcPort: sp, dstPort: dp, seq } });
        const len = pkt6.length - 40;
        expect(checksumOf(pkt6, 40, len, pseudoSumV6(pkt6, 0, IP_PROTO_ICMPV6, len))).toBe(0);
      }),
    );
  });

  it('refuses addresses of mixed IP versions', () => {
    expect(() => buildTcpUnreachable({ reporter: 'fd00::1', quoted: q4 })).toThrow(RangeError);
    expect(() => buildTcpUnreachable({ reporter: parseIpAddr('10.0.0.1'), quoted: { ...q4, dst: 'fd00::1' } })).toThrow(RangeError);
  });
});
