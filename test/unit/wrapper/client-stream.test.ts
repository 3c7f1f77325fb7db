import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { ClientStream } from '../../../src/wrapper/client-stream.js';

describe('ClientStream', () => {
  it('logs in-order data once and advances rcvLogged on durability', () => {
    const s = new ClientStream();
    expect(s.missing(0, 100)).toEqual([{ start: 0, end: 100 }]);
    s.appended(0, 100, 1);
    expect(s.rcvAppended).toBe(100);
    expect(s.missing(0, 100)).toEqual([]); // a retransmission is not logged twice
    expect(s.missing(50, 150)).toEqual([{ start: 100, end: 150 }]);
    s.appended(100, 150, 2);
    expect(s.rcvLogged).toBe(0);
    expect(s.durableUpTo(1)).toBe(true);
    expect(s.rcvLogged).toBe(100);
    s.durableUpTo(2);
    expect(s.rcvLogged).toBe(150);
  });

  it('handles holes: out-of-order pieces are durable but not acked until the hole fills', () => {
    const s = new ClientStream();
    s.appended(0, 10, 1);
    expect(s.missing(20, 30)).toEqual([{ start: 20, end: 30 }]);
    s.appended(20, 30, 2);
    expect(s.rcvAppended).toBe(10);
    s.durableUpTo(2);
    expect(s.rcvLogged).toBe(10);
    expect(s.isDurable(20, 30)).toBe(true);
    expect(s.isDurable(10, 30)).toBe(false);
    expect(s.missing(5, 35)).toEqual([{ start: 10, end: 20 }, { start: 30, end: 35 }]);
    s.appended(10, 20, 3);
    s.appended(30, 35, 4);
    expect(s.rcvAppended).toBe(35);
    s.durableUpTo(3);
    expect(s.rcvLogged).toBe(30);
    s.durableUpTo(4);
    expect(s.rcvLogged).toBe(35);
  });

  it('property: any arrival order logs every byte exactly once and ends fully durable', () => {
    fc.assert(
      fc.property(fc.array(fc.tuple(fc.nat(200), fc.integer({ min: 1, max: 40 })), { minLength: 1, maxLength: 40 }), (segs) => {
        const s = new ClientStream();
        const count = new Uint8Array(300);
        let seq = 0;
        const all = [...segs, [0, 240] as [number, number]];
        for (const [start, len] of all) {
          for (const r of s.missing(start, start + len)) {
            for (let i = r.start; i < r.end; i++) count[i]!++;
            s.appended(r.start, r.end, ++seq);
          }
        }
        s.durableUpTo(seq);
        const max = Math.max(...all.map(([a, l]) => a + l));
        for (let i = 0; i < max; i++) expect(count[i]).toBe(1);
        expect(s.rcvLogged).toBe(max);
      }),
    );
  });
});
