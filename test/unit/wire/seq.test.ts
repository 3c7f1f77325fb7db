import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  offsetFromSeq,
  seqAdd,
  seqDiff,
  seqFromOffset,
  seqGe,
  seqGt,
  seqInWindow,
  seqLe,
  seqLt,
  seqMax,
  seqMin,
} from '../../../src/wire/seq.js';

const TOP = 0xffffffff;
const seqArb = fc.integer({ min: 0, max: TOP });

describe('sequence arithmetic at the 2^32 wrap', () => {
  it('orders across the wrap', () => {
    expect(seqLt(TOP, 0)).toBe(true);
    expect(seqGt(0, TOP)).toBe(true);
    expect(seqLe(TOP, TOP)).toBe(true);
    expect(seqGe(5, TOP - 5)).toBe(true);
    expect(seqDiff(0, TOP)).toBe(1);
    expect(seqDiff(TOP, 0)).toBe(-1);
    expect(seqDiff(10, TOP - 9)).toBe(20);
    expect(seqMax(TOP, 3)).toBe(3);
    expect(seqMin(TOP, 3)).toBe(TOP);
  });

  it('adds modulo 2^32, negative and large increments included', () => {
    expect(seqAdd(TOP, 1)).toBe(0);
    expect(seqAdd(TOP, 2)).toBe(1);
    expect(seqAdd(0, -1)).toBe(TOP);
    expect(seqAdd(5, 2 ** 32 + 3)).toBe(8);
    expect(seqAdd(5, -(2 ** 33) - 6)).toBe(TOP);
  });

  it('treats a difference of exactly 2^31 as negative (signed 32-bit)', () => {
    expect(seqDiff(0x80000000, 0)).toBe(-0x80000000);
    expect(seqDiff(0x7fffffff, 0)).toBe(0x7fffffff);
  });

  it('tests window membership across the wrap', () => {
    expect(seqInWindow(TOP, TOP - 1, 3)).toBe(true);
    expect(seqInWindow(0, TOP - 1, 3)).toBe(true);
    expect(seqInWindow(1, TOP - 1, 3)).toBe(false);
    expect(seqInWindow(TOP - 2, TOP - 1, 3)).toBe(false);
    expect(seqInWindow(7, 7, 0)).toBe(false);
  });

  it('seqDiff inverts seqAdd for |n| < 2^31', () => {
    fc.assert(
      fc.property(seqArb, fc.integer({ min: -(2 ** 31) + 1, max: 2 ** 31 - 1 }), (a, n) => {
        const b = seqAdd(a, n);
        expect(b).toBeGreaterThanOrEqual(0);
        expect(b).toBeLessThanOrEqual(TOP);
        expect(seqDiff(b, a)).toBe(n);
        expect(seqLt(a, b)).toBe(n > 0);
      }),
    );
  });

  it('maps stream offsets to sequence numbers and back across several wraps', () => {
    const base = TOP - 10;
    expect(seqFromOffset(base, 0)).toBe(base);
    expect(seqFromOffset(base, 11)).toBe(0);
    expect(seqFromOffset(base, 2 ** 32)).toBe(base);
    expect(offsetFromSeq(base, 0, 0)).toBe(11);
    expect(offsetFromSeq(base, base, 2 ** 32 + 5)).toBe(2 ** 32);
    expect(offsetFromSeq(base, seqAdd(base, -1), 0)).toBe(-1);
    fc.assert(
      fc.property(
        seqArb,
        fc.integer({ min: 0, max: 2 ** 50 }),
        fc.integer({ min: -(2 ** 31) + 1, max: 2 ** 31 - 1 }),
        (b, off, jitter) => {
          const ref = Math.max(0, off + jitter);
          expect(offsetFromSeq(b, seqFromOffset(b, off), ref)).toBe(off);
        },
      ),
    );
  });
});
