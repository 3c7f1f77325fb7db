// A regenerated server stream that starts at a checkpoint's server offset: blocks that begin below
// it cannot be compared (their first bytes are not regenerated); every later block is.
import { randomBytes } from 'node:crypto';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { HASH_BLOCK, ServerStreamHasher, StreamVerifier } from '../../../src/wrapper/server-stream-hash.js';

function original(n: number): { data: Buffer; h: ServerStreamHasher } {
  const data = randomBytes(n);
  const h = new ServerStreamHasher();
  h.update(0, data, 0, n);
  return { data, h };
}

describe('StreamVerifier from a start offset', () => {
  it('verifies the same bytes from any start, in any segmentation, even after dropBelow(start)', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 4 * HASH_BLOCK + 99 }), fc.nat(), fc.array(fc.nat(20000)), fc.boolean(), (n, s, cuts, drop) => {
        const start = s % (n + 1);
        const { data, h } = original(n);
        if (drop) h.dropBelow(start);
        const v = new StreamVerifier(h.snapshot(), start);
        let off = start;
        for (const c of [...cuts.filter((x) => x > start && x < n).sort((a, b) => a - b), n]) {
          expect(v.feed(off, data, off, c - off)).toBe('ok');
          off = c;
        }
        expect(v.verifiedEnd).toBe(n);
      }),
      { numRuns: 60 },
    );
  });

  it('a changed byte in the block holding the start is not seen; in any later block it is', () => {
    const { data, h } = original(3 * HASH_BLOCK + 10);
    const start = HASH_BLOCK + 100;
    const early = Buffer.from(data);
    early[HASH_BLOCK + 200]! ^= 1; // same block as start: not comparable
    expect(new StreamVerifier(h.snapshot(), start).feed(start, early, start, early.length - start)).toBe('ok');
    const late = Buffer.from(data);
    late[2 * HASH_BLOCK + 1]! ^= 1;
    const v = new StreamVerifier(h.snapshot(), start);
    expect(v.feed(start, late, start, late.length - start)).toBe('mismatch');
    expect(v.verifiedEnd).toBe(2 * HASH_BLOCK);
    // A start on a block boundary compares that block.
    const onEdge = Buffer.from(data);
    onEdge[HASH_BLOCK + 3]! ^= 1;
    expect(new StreamVerifier(h.snapshot(), HASH_BLOCK).feed(HASH_BLOCK, onEdge, HASH_BLOCK, onEdge.length - HASH_BLOCK)).toBe('mismatch');
  });

  it('a regenerated stream that begins below the start skips what precedes it', () => {
    const { data, h } = original(2 * HASH_BLOCK);
    const v = new StreamVerifier(h.snapshot(), 500);
    expect(v.feed(0, data, 0, data.length)).toBe('ok');
    expect(v.verifiedEnd).toBe(2 * HASH_BLOCK);
  });
});
