// Pure parts of the lease: the holder's deadline (injected clock), the stored value, the options.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  LeaseDeadline,
  LeaseError,
  decodeLeaseValue,
  effectiveEpoch,
  encodeLeaseValue,
  leaseBucketName,
  type LeaseValue,
} from '../../../src/failover/lease.js';
import { defaultMarginMs, resolveLeaseOptions, type LeaseOptions } from '../../../src/failover/lease-options.js';
import { silentLogger } from '../../../src/util/logger.js';

function clock(start = 1000): { now: () => number; advance: (ms: number) => void } {
  let t = start;
  return { now: () => t, advance: (ms) => (t += ms) };
}

describe('LeaseDeadline', () => {
  it('is invalid until the take is confirmed, then until sentAt + ttl − margin', () => {
    const c = clock();
    const d = new LeaseDeadline(1000, 100, c.now);
    expect(d.valid()).toBe(false);
    expect(d.passed()).toBeUndefined(); // nothing held: no suspension to report
    const sentAt = c.now();
    c.advance(30); // the create's round trip
    expect(d.confirmed(sentAt)).toBe(false);
    expect(d.at).toBe(sentAt + 900);
    c.advance(869);
    expect(d.valid()).toBe(true);
    c.advance(1); // exactly at the deadline: invalid
    expect(d.valid()).toBe(false);
  });

  it('counts from when the renewal was sent, not when its reply came', () => {
    const c = clock();
    const d = new LeaseDeadline(1000, 100, c.now);
    d.confirmed(c.now());
    c.advance(300);
    const sentAt = c.now();
    c.advance(500); // slow reply
    d.confirmed(sentAt);
    expect(d.at).toBe(sentAt + 900);
  });

  it('reports the passed deadline once, resumes on a renewal that ends in the future, never moves backwards', () => {
    const c = clock();
    const d = new LeaseDeadline(1000, 100, c.now);
    const t0 = c.now();
    d.confirmed(t0);
    c.advance(950);
    expect(d.passed()).toBe(t0 + 900);
    expect(d.passed()).toBeUndefined();
    expect(d.suspended).toBe(true);
    // An old request confirmed late does not move the deadline back and does not resume.
    expect(d.confirmed(t0 - 500)).toBe(false);
    expect(d.at).toBe(t0 + 900);
    // A renewal sent long ago whose deadline is still past: still suspended.
    expect(d.confirmed(t0 + 20)).toBe(false);
    expect(d.suspended).toBe(true);
    // A fresh one: resumed.
    const sentAt = c.now();
    c.advance(10);
    expect(d.confirmed(sentAt)).toBe(true);
    expect(d.valid()).toBe(true);
    expect(d.suspended).toBe(false);
  });

  it('end() makes it invalid for good and reports no suspension', () => {
    const c = clock();
    const d = new LeaseDeadline(1000, 100, c.now);
    d.confirmed(c.now());
    d.end();
    expect(d.valid()).toBe(false);
    c.advance(5000);
    expect(d.passed()).toBeUndefined();
  });

  it('valid() ⇔ now < last successful send + ttl − margin, for any schedule of renewals', () => {
    fc.assert(
      fc.property(fc.array(fc.record({ gap: fc.integer({ min: 0, max: 2000 }), rtt: fc.integer({ min: 0, max: 1500 }), ok: fc.boolean() }), { maxLength: 40 }), (steps) => {
        const c = clock(0);
        const d = new LeaseDeadline(1000, 100, c.now);
        d.confirmed(0);
        let lastSent = 0;
        for (const s of steps) {
          c.advance(s.gap);
          const sentAt = c.now();
          c.advance(s.rtt);
          const wasSuspended = d.passed() !== undefined || d.suspended;
          if (s.ok) {
            const resumed = d.confirmed(sentAt);
            lastSent = Math.max(lastSent, sentAt);
            expect(resumed).toBe(wasSuspended && c.now() < lastSent + 900);
          }
          expect(d.valid()).toBe(c.now() < lastSent + 900);
        }
      }),
    );
  });
});

describe('lease value', () => {
  const v: LeaseValue = { holder: 'web-a', host: 'host-a', pid: 4242, epoch: 17, renewedUnixMs: 1_795_000_000_000 };

  it('round-trips', () => {
    expect(decodeLeaseValue(encodeLeaseValue(v))).toEqual(v);
    fc.assert(
      fc.property(
        fc.record({
          holder: fc.string({ minLength: 1, maxLength: 256 }),
          host: fc.string({ minLength: 1, maxLength: 256 }),
          pid: fc.nat(),
          epoch: fc.nat(),
          renewedUnixMs: fc.nat(),
        }),
        (x) => {
          expect(decodeLeaseValue(encodeLeaseValue(x))).toEqual(x);
        },
      ),
    );
  });

  it('takes the epoch from the revision for the create’s own write', () => {
    expect(effectiveEpoch({ ...v, epoch: 0 }, 5)).toBe(5);
    expect(effectiveEpoch(v, 30)).toBe(17);
  });

  it('refuses anything ftcp did not write with a typed error', () => {
    const enc = (x: unknown): Uint8Array => new TextEncoder().encode(typeof x === 'string' ? x : JSON.stringify(x));
    const bad: Uint8Array[] = [
      enc('not json'),
      enc('[1,2]'),
      enc('null'),
      enc({ ...v, holder: '' }),
      enc({ ...v, host: 7 }),
      enc({ ...v, pid: -1 }),
      enc({ ...v, epoch: 1.5 }),
      enc({ ...v, renewedUnixMs: '1' }),
      enc({ holder: 'a' }),
      new Uint8Array([0xff, 0xfe, 0x7b]),
      new Uint8Array(5000).fill(0x20),
    ];
    for (const b of bad) {
      let err: unknown;
      try {
        decodeLeaseValue(b);
      } catch (e) {
        err = e;
      }
      expect(err).toBeInstanceOf(LeaseError);
      expect((err as LeaseError).code).toBe('MALFORMED_VALUE');
    }
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 300 }), (bytes) => {
        try {
          decodeLeaseValue(bytes);
        } catch (e) {
          expect(e).toBeInstanceOf(LeaseError);
        }
      }),
    );
  });
});

describe('lease options', () => {
  const base: LeaseOptions = { servers: ['127.0.0.1:4222'], service: 'web', holder: { id: 'a', host: 'h' }, log: silentLogger() };

  it('fills the defaults', () => {
    const o = resolveLeaseOptions(base);
    expect(o).toMatchObject({ bucket: 'ftcp_lease_web', ttlMs: 1000, replicas: 3, pollMs: 25, marginMs: 100, renewEveryMs: 333 });
    expect(leaseBucketName('web')).toBe('ftcp_lease_web');
    expect(defaultMarginMs(1000)).toBe(100);
    expect(defaultMarginMs(200)).toBe(50); // at least 50 ms
    expect(resolveLeaseOptions({ ...base, ttlMs: 300, replicas: 1 })).toMatchObject({ marginMs: 50, renewEveryMs: 100, replicas: 1 });
  });

  it('refuses bad values with a message naming the option', () => {
    const cases: [Partial<LeaseOptions>, RegExp][] = [
      [{ service: 'a.b' }, /service/],
      [{ servers: [] }, /servers/],
      [{ ttlMs: 50 }, /ttlMs/],
      [{ ttlMs: 1000.5 }, /ttlMs/],
      [{ replicas: 0 }, /replicas/],
      [{ replicas: 7 }, /replicas/],
      [{ pollMs: 5 }, /pollMs/],
      [{ pollMs: 2000 }, /pollMs/],
      [{ marginMs: 10 }, /marginMs/],
      [{ marginMs: 600 }, /marginMs/],
      [{ holder: { id: '', host: 'h' } }, /holder\.id/],
      [{ holder: { id: 'a', host: 'x\ny' } }, /holder\.host/],
    ];
    for (const [patch, re] of cases) {
      expect(() => resolveLeaseOptions({ ...base, ...patch })).toThrow(re);
      try {
        resolveLeaseOptions({ ...base, ...patch });
      } catch (e) {
        expect((e as LeaseError).code).toBe('INVALID_ARGUMENT');
      }
    }
  });
});
