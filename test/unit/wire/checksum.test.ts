import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  checksumOf,
  csumReplace16,
  csumReplace16Odd,
  csumReplace32,
  foldSum,
  sumBytes,
} from '../../../src/wire/checksum.js';

const hex = (s: string): Buffer => Buffer.from(s.replace(/\s+/g, ''), 'hex');

describe('internet checksum', () => {
  it('matches the RFC 1071 §3 example', () => {
    // 0001 + f203 + f4f5 + f6f7 = 2ddf0 -> ddf2; checksum = ~ddf2 = 220d
    const b = hex('0001f203f4f5f6f7');
    expect(foldSum(sumBytes(b, 0, b.length))).toBe(0xddf2);
    expect(checksumOf(b, 0, b.length)).toBe(0x220d);
  });

  it('matches a known IPv4 header checksum', () => {
    const h = hex('45000073000040004011 0000 c0a80001c0a800c7');
    expect(checksumOf(h, 0, 20)).toBe(0xb861);
    h.writeUInt16BE(0xb861, 10);
    expect(checksumOf(h, 0, 20)).toBe(0);
  });

  it('pads an odd trailing byte with zero', () => {
    expect(sumBytes(hex('0102ab'), 0, 3)).toBe(0x0102 + 0xab00);
  });

  it('does not depend on the buffer offset of the data', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 300 }), fc.nat(7), (data, pad) => {
        const b = Buffer.alloc(pad + data.length);
        b.set(data, pad);
        expect(checksumOf(b, pad, data.length)).toBe(checksumOf(Buffer.from(data), 0, data.length));
      }),
    );
  });

  it('incremental update (RFC 1624 eqn. 3) equals full recomputation, any alignment', () => {
    fc.assert(
      fc.property(
        fc.uint8Array({ minLength: 8, maxLength: 200 }),
        fc.nat(),
        fc.integer({ min: 0, max: 0xffffffff }),
        fc.boolean(),
        (data, at, value, wide) => {
          const b = Buffer.from(data);
          // Checksum field lives in the first two bytes, as in TCP; it is zero while summing.
          b.writeUInt16BE(0, 0);
          const size = wide ? 4 : 2;
          const pos = 2 + (at % (b.length - 2 - size + 1));
          if (pos + size > b.length) return;
          const c0 = checksumOf(b, 0, b.length);
          const odd = (pos & 1) === 1;
          let c1: number;
          if (wide) {
            const old = b.readUInt32BE(pos);
            b.writeUInt32BE(value >>> 0, pos);
            c1 = csumReplace32(c0, old, value >>> 0, odd);
          } else {
            const old = b.readUInt16BE(pos);
            const nv = value & 0xffff;
            b.writeUInt16BE(nv, pos);
            c1 = odd ? csumReplace16Odd(c0, old, nv) : csumReplace16(c0, old, nv);
          }
          expect(c1).toBe(checksumOf(b, 0, b.length));
        },
      ),
      { numRuns: 2000 },
    );
  });
});
