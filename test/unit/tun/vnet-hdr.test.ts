import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import {
  VNET_HDR_LEN,
  VnetFlags,
  VnetGsoType,
  VnetHdrTruncated,
  VnetHdrView,
  emitVnetHdr,
  parseVnetHdr,
  type VnetHdrRepr,
} from '../../../src/tun/vnet-hdr.js';

describe('vnet header', () => {
  it('parses a header the kernel handed over for a TSO segment', () => {
    // NEEDS_CSUM, TCPV4, hdr_len 66, gso_size 1448, csum_start 20, csum_offset 16
    const bytes = Buffer.from('01014200a8051400100000004500', 'hex');
    const repr = parseVnetHdr(bytes);
    expect(repr).toEqual({ flags: 1, gsoType: 1, hdrLen: 66, gsoSize: 1448, csumStart: 20, csumOffset: 16 });
    const view = new VnetHdrView().at(bytes, 0);
    expect(view.needsCsum).toBe(true);
    expect(view.isGso).toBe(true);
  });

  it('treats the ECN bit alone as not GSO', () => {
    const bytes = Buffer.alloc(VNET_HDR_LEN);
    bytes[1] = VnetGsoType.ECN;
    expect(new VnetHdrView().at(bytes, 0).isGso).toBe(false);
  });

  it('round-trips any field values at any offset', () => {
    const u16 = fc.integer({ min: 0, max: 0xffff });
    const u8 = fc.integer({ min: 0, max: 0xff });
    fc.assert(
      fc.property(u8, u8, u16, u16, u16, u16, fc.integer({ min: 0, max: 40 }), (flags, gsoType, hdrLen, gsoSize, csumStart, csumOffset, at) => {
        const repr: VnetHdrRepr = { flags, gsoType, hdrLen, gsoSize, csumStart, csumOffset };
        const buf = Buffer.alloc(at + VNET_HDR_LEN + 3, 0xee);
        emitVnetHdr(repr, buf, at);
        expect(parseVnetHdr(buf, at)).toEqual(repr);
        expect(buf[at - 1] ?? 0xee).toBe(0xee);
        expect(buf[at + VNET_HDR_LEN]).toBe(0xee);
      }),
    );
  });

  it('rejects a packet shorter than the header with a typed error', () => {
    expect(() => parseVnetHdr(Buffer.alloc(11))).toThrow(VnetHdrTruncated);
    expect(() => new VnetHdrView().at(Buffer.alloc(20), 10)).toThrow(VnetHdrTruncated);
    expect(() => new VnetHdrView().at(Buffer.alloc(40), 0, 8)).toThrow(VnetHdrTruncated);
  });

  it('edits fields in place through a reused view', () => {
    const buf = Buffer.alloc(2 * VNET_HDR_LEN);
    const view = new VnetHdrView();
    view.at(buf, VNET_HDR_LEN).flags = VnetFlags.DATA_VALID;
    view.gsoSize = 1400;
    expect(buf[VNET_HDR_LEN]).toBe(2);
    expect(buf.readUInt16LE(VNET_HDR_LEN + 4)).toBe(1400);
    expect(buf.subarray(0, VNET_HDR_LEN).every((b) => b === 0)).toBe(true);
  });
});
