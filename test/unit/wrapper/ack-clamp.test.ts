import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { clampAck, rescaleWindow } from '../../../src/wrapper/ack-clamp.js';

describe('clampAck', () => {
  it('passes the stack ack through when everything is durable', () => {
    const r = clampAck(1000, 65535, 1000, -1, 0);
    expect(r).toEqual({ ackOff: 1000, windowField: 65535, rightEdgeOff: 66535, clamped: false });
  });

  it('lowers the ack to the durable point and widens the window to keep the right edge', () => {
    const r = clampAck(5000, 1 << 20, 3000, -1, 7);
    expect(r.ackOff).toBe(3000);
    expect(r.clamped).toBe(true);
    expect(r.rightEdgeOff).toBeGreaterThanOrEqual(3000 + (1 << 20) - 128);
    expect(r.rightEdgeOff).toBeLessThanOrEqual(5000 + (1 << 20));
  });

  it('never moves the right edge back, even when the stack shrinks its window', () => {
    const first = clampAck(0, 100_000, 0, -1, 2);
    const second = clampAck(10_000, 50_000, 10_000, first.rightEdgeOff, 2);
    expect(second.rightEdgeOff).toBeGreaterThanOrEqual(first.rightEdgeOff);
  });

  it("never promises past the stack's edge while the durable point creeps up under a closed window", () => {
    // The stack's window is down to its last 1 KiB unit (the app stopped reading), while the log
    // makes the client's bytes durable a little at a time: the edge the client sees must stay
    // within the stack's, or the client sends beyond it and the stack drops even its ACKs.
    const shift = 10;
    const stackAck = 2_674_713;
    const stackEdge = stackAck + 1024;
    let promised = stackEdge;
    for (let durable = 2_640_000; durable <= stackAck; durable += 3_301) {
      const r = clampAck(stackAck, 1024, durable, promised, shift);
      expect(r.ackOff + r.windowField * 2 ** shift).toBeLessThanOrEqual(stackEdge);
      expect(r.rightEdgeOff).toBe(stackEdge);
      promised = Math.max(promised, r.rightEdgeOff);
    }
  });

  it('keeps an edge promised by an earlier stack (a restart) without reaching past it', () => {
    const r = clampAck(10_000, 2_000, 10_000, 50_000, 7);
    expect(r.rightEdgeOff).toBe(50_000);
    expect(10_000 + r.windowField * 128).toBeLessThanOrEqual(50_000);
    expect(10_000 + (r.windowField + 1) * 128).toBeGreaterThan(50_000);
  });

  it("property: ack <= durable and <= stack ack; right edge monotone; the edge seen never past the stack's or the last promise; field fits 16 bits", () => {
    fc.assert(
      fc.property(
        fc.array(fc.tuple(fc.nat(1 << 20), fc.nat(1 << 22), fc.nat(1 << 20)), { minLength: 1, maxLength: 30 }),
        fc.integer({ min: 0, max: 14 }),
        (steps, shift) => {
          let stackAck = 0;
          let durable = 0;
          let edge = -1;
          for (const [dAck, win, dDur] of steps) {
            stackAck += dAck;
            durable = Math.min(stackAck, durable + dDur);
            const r = clampAck(stackAck, win, durable, edge, shift);
            expect(r.ackOff).toBeLessThanOrEqual(durable);
            expect(r.ackOff).toBeLessThanOrEqual(stackAck);
            expect(r.windowField).toBeLessThanOrEqual(0xffff);
            if (r.windowField < 0xffff) expect(r.rightEdgeOff).toBeGreaterThanOrEqual(edge);
            expect(r.rightEdgeOff).toBe(Math.max(stackAck + win, edge));
            expect(r.ackOff + r.windowField * 2 ** shift).toBeLessThanOrEqual(r.rightEdgeOff);
            edge = Math.max(edge, r.rightEdgeOff);
          }
        },
      ),
    );
  });
});

describe('rescaleWindow', () => {
  it('translates between shifts and saturates', () => {
    expect(rescaleWindow(100, 7, 7)).toBe(100);
    expect(rescaleWindow(100, 7, 5)).toBe(400);
    expect(rescaleWindow(100, 5, 7)).toBe(25);
    expect(rescaleWindow(65535, 14, 0)).toBe(65535);
  });
});
