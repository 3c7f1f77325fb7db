import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { HASH_BLOCK, ServerStreamHasher, StreamVerifier } from '../../../src/wrapper/server-stream-hash.js';

function feedInChunks(h: ServerStreamHasher, data: Buffer, cuts: number[]): void {
  let off = 0;
  for (const c of [...cuts.filter((x) => x > 0 && x < data.length).sort((a, b) => a - b), data.length]) {
    h.update(off, data, off, c - off);
    off = c;
  }
}

describe('ServerStreamHasher + StreamVerifier', () => {
  it('verifies identical output regardless of segmentation', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 5 * HASH_BLOCK + 77 }), fc.array(fc.nat(30000)), fc.array(fc.nat(30000)), (n, cutsA, cutsB) => {
        const data = randomBytes(n);
        const h = new ServerStreamHasher();
        feedInChunks(h, data, cutsA);
        expect(h.end).toBe(n);
        const v = new StreamVerifier(h.snapshot());
        let off = 0;
        for (const c of [...cutsB.filter((x) => x > 0 && x < n).sort((a, b) => a - b), n]) {
          expect(v.feed(off, data, off, c - off)).toBe('ok');
          off = c;
        }
        expect(v.verifiedEnd).toBe(n);
      }),
      { numRuns: 50 },
    );
  });

  it('detects a changed byte and reports bytes past the end as beyond', () => {
    const data = randomBytes(3 * HASH_BLOCK + 10);
    const h = new ServerStreamHasher();
    h.update(0, data, 0, data.length);
    const bad = Buffer.from(data);
    bad[2 * HASH_BLOCK + 5]! ^= 1;
    const v = new StreamVerifier(h.snapshot());
    expect(v.feed(0, bad, 0, bad.length)).toBe('mismatch');
    expect(v.verifiedEnd).toBe(2 * HASH_BLOCK);
    const longer = Buffer.concat([data, randomBytes(100)]);
    expect(new StreamVerifier(h.snapshot()).feed(0, longer, 0, longer.length)).toBe('beyond');
  });

  it('hashes retransmissions once and waits for gaps to fill', () => {
    const data = randomBytes(2 * HASH_BLOCK);
    const h = new ServerStreamHasher();
    h.update(0, data, 0, 1000);
    h.update(2000, data, 2000, 3000); // the daemon missed [1000, 2000)
    expect(h.end).toBe(1000);
    h.update(0, data, 0, 1000); // retransmission
    h.update(1000, data, 1000, 1000);
    expect(h.end).toBe(5000);
    h.update(5000, data, 5000, data.length - 5000);
    const ref = new ServerStreamHasher();
    ref.update(0, data, 0, data.length);
    expect(h.snapshot()).toEqual(ref.snapshot());
  });

  it('drops blocks below a checkpoint and still verifies from there', () => {
    const data = randomBytes(4 * HASH_BLOCK);
    const h = new ServerStreamHasher();
    h.update(0, data, 0, data.length);
    h.dropBelow(2 * HASH_BLOCK + 100);
    const snap = h.snapshot();
    expect(snap.base).toBe(2 * HASH_BLOCK);
    const v = new StreamVerifier(snap);
    expect(v.feed(2 * HASH_BLOCK, data, 2 * HASH_BLOCK, 2 * HASH_BLOCK)).toBe('ok');
  });

  it('a hasher started mid-stream (adopted connection): bytes before take as they come, fed in order, the rest is compared', () => {
    const data = randomBytes(3 * HASH_BLOCK);
    const L = HASH_BLOCK + 1000; // where the client stood when the connection was adopted
    const h = new ServerStreamHasher(L);
    h.update(L, data, L, data.length - L);
    const v = new StreamVerifier(h.snapshot(), 0);
    expect(v.fedEnd).toBe(0);
    expect(v.feed(0, data, 0, 500)).toBe('ok');
    expect(v.fedEnd).toBe(500); // not past what was fed: the daemon acks the stack only that far
    expect(v.feed(500, data, 500, L - 500)).toBe('ok');
    expect(v.verifiedEnd).toBe(L);
    expect(v.feed(L, data, L, data.length - L)).toBe('ok');
    expect(v.verifiedEnd).toBe(data.length);
    const other = Buffer.from(data);
    other[2 * HASH_BLOCK + 5]! ^= 1;
    const v2 = new StreamVerifier(h.snapshot(), 0);
    expect(v2.feed(0, other, 0, other.length)).toBe('mismatch');
  });
});
