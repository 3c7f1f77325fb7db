import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { AppendRequestDecoder } from '../../../src/log/append-request-decode.js';
import { appendSerializer } from '../../../src/log/append-sink.js';
import { AppendRequest } from '../../../src/log/gen/ftcp/v1/log.js';
import { readVarint, varintEnd } from '../../../src/log/varint.js';

type Outcome = { service: { name: string; epoch: number } | undefined; streamId: string; firstSeq: number; records: string[] } | 'error';

function outcome(f: () => { service?: { name: string; epoch: number } | undefined; streamId: string; firstSeq: number; records: Uint8Array[] }): Outcome {
  try {
    const r = f();
    return { service: r.service ? { name: r.service.name, epoch: r.service.epoch } : undefined, streamId: r.streamId, firstSeq: r.firstSeq, records: r.records.map((x) => Buffer.from(x).toString('hex')) };
  } catch {
    return 'error';
  }
}

const batch = fc.record({
  firstSeq: fc.integer({ min: 0, max: 2 ** 53 - 1 }),
  records: fc.array(fc.uint8Array({ maxLength: 300 }), { maxLength: 5 }),
});

describe('AppendRequestDecoder', () => {
  it('decodes a stream of requests as AppendRequest.decode does, from the second one on without it', () => {
    fc.assert(
      fc.property(fc.string({ minLength: 1, maxLength: 40 }), fc.nat(), fc.string({ minLength: 1, maxLength: 40 }), fc.array(batch, { minLength: 1, maxLength: 6 }), (name, epoch, streamId, batches) => {
        const serialize = appendSerializer({ service: name, epoch, streamId });
        const d = new AppendRequestDecoder();
        for (const b of batches) {
          const buf = serialize(b);
          expect(outcome(() => d.decode(buf))).toEqual(outcome(() => AppendRequest.decode(buf)));
        }
      }),
      { numRuns: 300 },
    );
  });
  it('agrees with the generated decoder on mutated and cut requests (accepts and rejects the same)', () => {
    const serialize = appendSerializer({ service: 'svc', epoch: 7, streamId: 'stream-1' });
    const good = serialize({ firstSeq: 300, records: [Buffer.from('abc'), Buffer.from('defgh')] });
    fc.assert(
      fc.property(fc.nat({ max: good.length - 1 }), fc.integer({ min: 0, max: 255 }), fc.nat({ max: good.length }), (at, byte, cut) => {
        const d = new AppendRequestDecoder();
        d.decode(good); // primes the header cache
        const bad = Buffer.from(good);
        bad[at] = byte;
        for (const b of [bad, bad.subarray(0, cut), good.subarray(0, cut)]) {
          expect(outcome(() => d.decode(b))).toEqual(outcome(() => AppendRequest.decode(b)));
        }
      }),
      { numRuns: 2000 },
    );
  });
  it('hands requests in another field order, with unknown fields or a new header, to the generated decoder', () => {
    const d = new AppendRequestDecoder();
    const a = Buffer.from(AppendRequest.encode({ service: { name: 's', epoch: 1 }, streamId: 'x', firstSeq: 5, records: [Buffer.from('r')] }).finish());
    d.decode(a);
    const unknown = Buffer.concat([a, Buffer.from([0x28, 0x01])]); // field 5, varint
    expect(outcome(() => d.decode(unknown))).toEqual(outcome(() => AppendRequest.decode(unknown)));
    const other = Buffer.from(AppendRequest.encode({ service: { name: 't', epoch: 2 }, streamId: 'y', firstSeq: 6, records: [] }).finish());
    expect(outcome(() => d.decode(other))).toEqual(outcome(() => AppendRequest.decode(other)));
  });
});

describe('readVarint', () => {
  it('reads every safe integer written as a varint, and refuses what is cut or too long', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 2 ** 53 - 1 }), (v) => {
        const b = Buffer.from(AppendRequest.encode({ service: undefined, streamId: '', firstSeq: v, records: [] }).finish());
        if (v === 0) return;
        expect(readVarint(b, 1)).toBe(v);
        expect(varintEnd(b, 1)).toBe(b.length);
        expect(readVarint(b.subarray(0, b.length - 1), 1)).toBe(-1);
      }),
    );
    expect(readVarint(Buffer.from([0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01]), 0)).toBe(-1);
  });
});
