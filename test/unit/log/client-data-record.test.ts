import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { Record } from '../../../src/log/gen/ftcp/v1/log.js';
import { clientDataMeta, encodeClientDataRecord, parseClientData } from '../../../src/log/client-data-record.js';
import { decodeRecord, recordMeta, type RecordMeta } from '../../../src/log/record-meta.js';

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

/** decodeRecord's meta, or 'error' if it rejects the bytes. */
function genericMeta(raw: Uint8Array): RecordMeta | 'error' {
  try {
    return decodeRecord(raw).meta;
  } catch {
    return 'error';
  }
}

describe('clientDataMeta (the log server fast path)', () => {
  it('reads what encodeClientDataRecord writes exactly as decodeRecord does', () => {
    const ascii = fc.string({ minLength: 1, maxLength: 80 }).filter((s) => /^[\x20-\x7e]+$/.test(s));
    fc.assert(
      fc.property(ascii, fc.integer({ min: 0, max: 2 ** 52 }), fc.uint8Array({ minLength: 1, maxLength: 2000 }), (connId, offset, data) => {
        const raw = encodeClientDataRecord(connId, Buffer.from(connId), offset, data).bytes;
        expect(clientDataMeta(raw)).toEqual(genericMeta(raw));
      }),
      { numRuns: 300 },
    );
  });
  it('never accepts bytes decodeRecord rejects, nor reads them differently (mutations)', () => {
    const base = encodeClientDataRecord('10.0.0.1:5000-10.0.0.2:80', Buffer.from('10.0.0.1:5000-10.0.0.2:80'), 2 ** 33, Buffer.from('hello world'));
    fc.assert(
      fc.property(fc.nat({ max: base.bytes.length - 1 }), fc.integer({ min: 0, max: 255 }), fc.nat({ max: base.bytes.length }), (at, byte, cut) => {
        const raw = Buffer.from(base.bytes);
        raw[at] = byte;
        for (const b of [raw, raw.subarray(0, cut)]) {
          const fast = clientDataMeta(b);
          if (fast !== undefined) expect(fast).toEqual(genericMeta(b));
        }
      }),
      { numRuns: 2000 },
    );
  });
  it('leaves other kinds, non-ASCII ids, empty data and missing ids to the generic decoder', () => {
    const other = Buffer.from(Record.encode({ connId: 'c', kind: { $case: 'clientFin', value: { offset: 5 } } }).finish());
    expect(clientDataMeta(other)).toBeUndefined();
    expect(clientDataMeta(encodeClientDataRecord('é', Buffer.from('é'), 1, Buffer.from('x')).bytes)).toBeUndefined();
    expect(clientDataMeta(encodeClientDataRecord('c', Buffer.from('c'), 1, new Uint8Array(0)).bytes)).toBeUndefined();
    expect(clientDataMeta(encodeClientDataRecord('', Buffer.alloc(0), 1, Buffer.from('x')).bytes)).toBeUndefined();
  });
});

describe('parseClientData (replay and adoption read the log this way)', () => {
  it('gives the fields the generated decoder gives, data as a view, for any accepted mutation', () => {
    const base = encodeClientDataRecord('10.0.0.1:5000-10.0.0.2:80/7', Buffer.from('10.0.0.1:5000-10.0.0.2:80/7'), 2 ** 40 + 3, Buffer.from('replayed bytes'));
    const v = parseClientData(base.bytes)!;
    expect(v.connId).toBe('10.0.0.1:5000-10.0.0.2:80/7');
    expect(v.offset).toBe(2 ** 40 + 3);
    expect(v.data.toString()).toBe('replayed bytes');
    expect(v.data.buffer).toBe(base.bytes.buffer); // no copy
    fc.assert(
      fc.property(fc.nat({ max: base.bytes.length - 1 }), fc.integer({ min: 0, max: 255 }), fc.nat({ max: base.bytes.length }), (at, byte, cut) => {
        const raw = Buffer.from(base.bytes);
        raw[at] = byte;
        for (const b of [raw, raw.subarray(0, cut)]) {
          const fast = parseClientData(b);
          if (fast === undefined) continue;
          const r = Record.decode(b);
          expect(r.kind?.$case).toBe('clientData');
          const want = (r.kind as { value: { offset: number; data: Uint8Array } }).value;
          expect({ connId: fast.connId, offset: fast.offset, data: Buffer.from(fast.data) }).toEqual({ connId: r.connId, offset: want.offset, data: Buffer.from(want.data) });
        }
      }),
      { numRuns: 2000 },
    );
  });
});
