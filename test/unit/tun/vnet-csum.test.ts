import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { VNET_HDR_LEN, VnetFlags, VnetGsoType, emitVnetHdr, parseVnetHdr } from '../../../src/tun/vnet-hdr.js';
import { VnetChecksumError, completePartialChecksum, onesComplementSum } from '../../../src/tun/vnet-csum.js';

/** An IPv4 packet with a TCP (6) or UDP (17) header + payload and a complete L4 checksum. */
function ipv4(proto: 6 | 17, payload: Buffer): Buffer {
  const l4len = (proto === 6 ? 20 : 8) + payload.length;
  const p = Buffer.alloc(20 + l4len);
  p[0] = 0x45;
  p.writeUInt16BE(p.length, 2);
  p[8] = 64;
  p[9] = proto;
  Buffer.from([10, 0, 0, 1]).copy(p, 12);
  Buffer.from([10, 0, 0, 2]).copy(p, 16);
  p.writeUInt16BE(~onesComplementSum(p, 0, 20) & 0xffff, 10);
  p.writeUInt16BE(1234, 20);
  p.writeUInt16BE(80, 22);
  if (proto === 6) {
    p.writeUInt32BE(0xdeadbeef, 24);
    p[32] = 0x50;
    p[33] = 0x18;
    p.writeUInt16BE(512, 34);
  } else {
    p.writeUInt16BE(l4len, 24);
  }
  payload.copy(p, 20 + l4len - payload.length);
  const csumAt = 20 + (proto === 6 ? 16 : 6);
  p.writeUInt16BE(pseudoSum(p, proto, l4len), csumAt);
  const full = ~onesComplementSum(p, 20, p.length) & 0xffff;
  p.writeUInt16BE(full === 0 ? 0xffff : full, csumAt);
  return p;
}

function pseudoSum(p: Buffer, proto: number, l4len: number): number {
  const ph = Buffer.alloc(12);
  p.copy(ph, 0, 12, 20);
  ph[9] = proto;
  ph.writeUInt16BE(l4len, 10);
  return onesComplementSum(ph, 0, 12);
}

/** The same packet as the kernel hands it over with checksum offload: partial sum + header. */
function partial(full: Buffer, proto: 6 | 17): Buffer {
  const out = Buffer.alloc(VNET_HDR_LEN + full.length);
  full.copy(out, VNET_HDR_LEN);
  const csumOffset = proto === 6 ? 16 : 6;
  out.writeUInt16BE(pseudoSum(full, proto, full.length - 20), VNET_HDR_LEN + 20 + csumOffset);
  emitVnetHdr({ flags: VnetFlags.NEEDS_CSUM, gsoType: 0, hdrLen: 0, gsoSize: 0, csumStart: 20, csumOffset }, out, 0);
  return out;
}

describe('completePartialChecksum', () => {
  it('produces the same bytes as a full checksum, for TCP and UDP of any payload', () => {
    fc.assert(
      fc.property(fc.constantFrom<6 | 17>(6, 17), fc.uint8Array({ maxLength: 300 }), (proto, payload) => {
        const full = ipv4(proto, Buffer.from(payload));
        const pkt = partial(full, proto);
        expect(completePartialChecksum(pkt, 0, pkt.length)).toBe(true);
        expect(pkt.subarray(VNET_HDR_LEN)).toEqual(full);
        expect(parseVnetHdr(pkt).flags).toBe(VnetFlags.DATA_VALID);
      }),
    );
  });

  it('works on a packet inside a larger batch buffer', () => {
    const full = ipv4(6, Buffer.from('hello world'));
    const pkt = partial(full, 6);
    const batch = Buffer.alloc(pkt.length + 64, 0xaa);
    pkt.copy(batch, 32);
    expect(completePartialChecksum(batch, 32, pkt.length)).toBe(true);
    expect(batch.subarray(32 + VNET_HDR_LEN, 32 + pkt.length)).toEqual(full);
    expect(batch[31]).toBe(0xaa);
    expect(batch[32 + pkt.length]).toBe(0xaa);
  });

  it('leaves complete and GSO packets alone', () => {
    const full = ipv4(6, Buffer.alloc(100, 1));
    const plain = Buffer.concat([Buffer.alloc(VNET_HDR_LEN), full]);
    expect(completePartialChecksum(plain, 0, plain.length)).toBe(false);
    const gso = partial(full, 6);
    gso[1] = VnetGsoType.TCPV4;
    const before = Buffer.from(gso);
    expect(completePartialChecksum(gso, 0, gso.length)).toBe(false);
    expect(gso).toEqual(before);
  });

  it('rejects checksum positions outside the packet with a typed error', () => {
    const pkt = partial(ipv4(17, Buffer.alloc(4)), 17);
    pkt.writeUInt16BE(60, 6); // csum_start past the end
    expect(() => completePartialChecksum(pkt, 0, pkt.length)).toThrow(VnetChecksumError);
  });
});
