import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { ReplaySource } from '../../../src/wrapper/replay-source.js';

describe('ReplaySource', () => {
  it('merges overlapping pieces in any order into the original stream', () => {
    fc.assert(
      fc.property(fc.array(fc.tuple(fc.nat(300), fc.integer({ min: 1, max: 60 }))), (cuts) => {
        const stream = Buffer.alloc(400);
        for (let i = 0; i < stream.length; i++) stream[i] = (i * 7 + 3) & 0xff;
        const src = new ReplaySource();
        for (const [a, l] of [...cuts, [0, 400] as [number, number]]) src.add(a, stream.subarray(a, Math.min(400, a + l)));
        expect(src.contiguousEnd(0)).toBe(400);
        const out: Buffer[] = [];
        let at = 0;
        while (at < 400) {
          const b = src.read(at, 37);
          expect(b.length).toBeGreaterThan(0);
          out.push(Buffer.from(b));
          at += b.length;
        }
        expect(Buffer.concat(out).equals(stream)).toBe(true);
        src.dropBelow(123);
        const r = src.read(123, 10);
        expect(r.length).toBeGreaterThan(0);
        expect(r.equals(stream.subarray(123, 123 + r.length))).toBe(true);
        expect(src.bytes).toBe(400 - 123);
      }),
    );
  });

  it('reports holes', () => {
    const src = new ReplaySource();
    src.add(0, Buffer.from('abc'));
    src.add(5, Buffer.from('fg'));
    expect(src.contiguousEnd(0)).toBe(3);
    expect(src.read(3, 10).length).toBe(0);
    src.add(3, Buffer.from('de'));
    expect(src.contiguousEnd(0)).toBe(7);
  });
});
