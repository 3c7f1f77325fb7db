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

  it('property: ack <= durable and <= stack ack; right edge monotone; field fits 16 bits', () => {
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
