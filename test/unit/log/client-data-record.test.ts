import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { Record } from '../../../src/log/gen/ftcp/v1/log.js';
import { encodeClientDataRecord } from '../../../src/log/client-data-record.js';
import { recordMeta } from '../../../src/log/record-meta.js';

describe('encodeClientDataRecord', () => {
  it('is byte-identical to the generic encoder, and its meta equals recordMeta', () => {
    fc.assert(
      fc.property(fc.string({ minLength: 1, maxLength: 200 }), fc.integer({ min: 0, max: 2 ** 52 }), fc.uint8Array({ minLength: 1, maxLength: 3000 }), (connId, offset, data) => {
        const r: Record = { connId, kind: { $case: 'clientData', value: { offset, data } } };
        const want = Buffer.from(Record.encode(r).finish());
        const got = encodeClientDataRecord(connId, Buffer.from(connId, 'utf8'), offset, data);
        expect(got.bytes.equals(want)).toBe(true);
        expect(got.meta).toEqual(recordMeta(r));
      }),
      { numRuns: 300 },
    );
  });
  it('round-trips the edges: offset 0, empty data, offsets past 2^32 and 2^49', () => {
    for (const offset of [0, 127, 128, 2 ** 32 - 1, 2 ** 32 + 5, 2 ** 49 + 3]) {
      for (const data of [new Uint8Array(0), new Uint8Array([1, 2, 3])]) {
        const got = Record.decode(encodeClientDataRecord('c', Buffer.from('c'), offset, data).bytes);
        expect(got.kind?.$case).toBe('clientData');
        const v = (got.kind as { value: { offset: number; data: Uint8Array } }).value;
        expect(v.offset).toBe(offset);
        expect(Buffer.from(v.data).equals(Buffer.from(data))).toBe(true);
      }
    }
  });
});
