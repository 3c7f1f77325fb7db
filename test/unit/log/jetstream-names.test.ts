// Pure parts of the JetStream log backend: subject and message-id naming, the durable watermark.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { DurableWindow } from '../../../src/log/jetstream/durable-window.js';
import { LogError } from '../../../src/log/errors.js';
import {
  connIdOfSubject,
  msgId,
  parseMsgId,
  recordSubject,
  streamName,
  streamSubjects,
} from '../../../src/log/jetstream/subjects.js';

describe('JetStream subjects', () => {
  it('names one stream per service and covers its record subjects', () => {
    expect(streamName('web')).toBe('FTCP_web');
    expect(streamSubjects('web')).toBe('ftcp.web.>');
    expect(recordSubject('web', '')).toBe('ftcp.web.g');
    expect(recordSubject('web', '10.0.0.1:4000>80/123').startsWith('ftcp.web.c.')).toBe(true);
  });

  it('rejects service names that cannot be a stream name or subject token', () => {
    for (const bad of ['', 'a.b', 'a b', 'x>', 'a*', 'é', 'x'.repeat(65)]) {
      expect(() => streamName(bad)).toThrow(LogError);
    }
  });

  it('round-trips any connection id through a single-token subject', () => {
    fc.assert(
      fc.property(fc.string({ minLength: 0, maxLength: 256 }), (connId) => {
        const s = recordSubject('svc', connId);
        const token = s.slice('ftcp.svc.'.length);
        expect(/^(g|c\.[A-Za-z0-9_-]+)$/.test(token)).toBe(true);
        expect(connIdOfSubject('svc', s)).toBe(connId);
      }),
    );
    expect(connIdOfSubject('svc', 'ftcp.other.g')).toBeUndefined();
    expect(connIdOfSubject('svc', 'ftcp.svc.c.')).toBeUndefined();
  });

  it('round-trips message ids, rejecting malformed ones', () => {
    fc.assert(
      fc.property(fc.string({ minLength: 1, maxLength: 40 }), fc.integer({ min: 1, max: Number.MAX_SAFE_INTEGER }), (id, seq) => {
        expect(parseMsgId(msgId(id, seq))).toEqual({ streamId: id, seq });
      }),
    );
    for (const bad of ['', 'abc', ':5', 'a:0', 'a:-1', 'a:1.5', 'a:x', 'a:99999999999999999']) {
      expect(parseMsgId(bad)).toBeUndefined();
    }
  });
});

describe('DurableWindow', () => {
  it('advances only over a contiguous prefix of acknowledged seqs, whatever the ack order', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 200 }).chain((n) => fc.tuple(fc.constant(n), fc.shuffledSubarray([...Array(n).keys()].map((i) => i + 1), { minLength: n }))), ([n, order]) => {
        const w = new DurableWindow();
        const acked = new Set<number>();
        for (const seq of order) {
          const before = w.durableSeq;
          const moved = w.ack(seq);
          acked.add(seq);
          let expected = 0;
          while (acked.has(expected + 1)) expected++;
          expect(w.durableSeq).toBe(expected);
          expect(moved).toBe(expected > before);
          expect(w.ack(seq)).toBe(false); // a duplicate ack changes nothing
        }
        expect(w.durableSeq).toBe(n);
        expect(w.isAcked(n)).toBe(true);
        expect(w.isAcked(n + 1)).toBe(false);
      }),
    );
  });
});
