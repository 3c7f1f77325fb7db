// Pure parts of the replicated log: the nats:// target, chunking at frame boundaries, checkpoint
// parts, message names and the sorting of publish errors.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { framesOf, validPrefix } from '../../../src/log/frame.js';
import { encodeIds, encodeStoredBatch } from '../../../src/log/stored-record.js';
import { PartAssembler, chunkBytes, chunkFrames } from '../../../src/log/replica/chunk.js';
import {
  decodeEpochMarker,
  encodeEpochMarker,
  kindOfSubject,
  msgId,
  parseMsgId,
  parsePartHeader,
  partHeader,
  streamName,
  streamSubjects,
  subjectOf,
} from '../../../src/log/replica/names.js';
import { parseNatsTarget } from '../../../src/log/replica/target.js';
import { classify } from '../../../src/log/replica/stream-link.js';

function batch(sizes: number[]): Buffer {
  const ids = encodeIds('svc', 'w1');
  return encodeStoredBatch(sizes.map((n, i) => ({ lsn: i + 1, epoch: 1, seq: i + 1, ids, record: Buffer.alloc(n, i) }))).buf;
}

describe('parseNatsTarget', () => {
  it('splits servers', () => {
    expect(parseNatsTarget('nats://10.0.0.5:4222')).toEqual(['10.0.0.5:4222']);
    expect(parseNatsTarget('nats://a.example:4222,10.0.0.6:4223, [::1]:4224')).toEqual(['a.example:4222', '10.0.0.6:4223', '[::1]:4224']);
  });
  it.each([
    ['10.0.0.5:4222', /nats:\/\/HOST:PORT/],
    ['nats://', /no server given/],
    ['nats://host', /lacks a :PORT/],
    ['nats://host:0', /must be 1-65535/],
    ['nats://host:99999', /must be 1-65535/],
    ['nats://host:42a', /must be 1-65535/],
    ['nats://ho st:4222', /not a host name/],
    ['nats://::1:4222', /IPv6 goes in brackets/],
    ['nats://a:1,a:1', /listed twice/],
  ])('rejects %s with a message saying what to fix', (s, re) => {
    expect(() => parseNatsTarget(s)).toThrow(re);
  });
});

describe('chunkFrames', () => {
  it('cuts only at frame boundaries, each chunk within the limit, nothing lost', () => {
    fc.assert(
      fc.property(fc.array(fc.integer({ min: 0, max: 3000 }), { minLength: 1, maxLength: 40 }), fc.integer({ min: 3100, max: 20000 }), (sizes, max) => {
        const buf = batch(sizes);
        const chunks = chunkFrames(buf, max);
        expect(Buffer.concat(chunks).equals(buf)).toBe(true);
        let frames = 0;
        for (const c of chunks) {
          expect(c.length).toBeLessThanOrEqual(Math.max(max, 0));
          expect(c.length).toBeGreaterThan(0);
          expect(validPrefix(c, 0)).toBe(c.length); // whole frames with valid CRCs
          frames += [...framesOf(c, 0, c.length)].length;
        }
        expect(frames).toBe(sizes.length);
      }),
    );
  });
  it('refuses a frame larger than the limit', () => {
    expect(() => chunkFrames(batch([10, 5000, 10]), 2000)).toThrow(/max_payload/);
  });
});

describe('checkpoint parts', () => {
  it('chunkBytes + PartAssembler round-trip', () => {
    const data = Buffer.from(Array.from({ length: 10_000 }, (_, i) => i & 0xff));
    const parts = chunkBytes(data, 3000);
    expect(parts.length).toBe(4);
    const a = new PartAssembler();
    let whole: Buffer | undefined;
    parts.forEach((p, i) => (whole = a.add(i + 1, parts.length, p) ?? whole));
    expect(whole!.equals(data)).toBe(true);
    expect(chunkBytes(Buffer.alloc(0), 10)).toHaveLength(1);
  });
  it('drops a partial checkpoint interrupted by another message or out of order', () => {
    const a = new PartAssembler();
    expect(a.add(1, 3, Buffer.from('a'))).toBeUndefined();
    a.reset(); // e.g. a new primary's epoch marker
    expect(a.add(2, 3, Buffer.from('b'))).toBeUndefined();
    expect(a.add(3, 3, Buffer.from('c'))).toBeUndefined();
    expect(a.add(1, 2, Buffer.from('x'))).toBeUndefined();
    expect(a.add(2, 2, Buffer.from('y'))!.toString()).toBe('xy');
  });
  it('part headers', () => {
    expect(partHeader(2, 5)).toBe('2/5');
    expect(parsePartHeader('2/5')).toEqual({ i: 2, n: 5 });
    expect(parsePartHeader('0/5')).toBeUndefined();
    expect(parsePartHeader('6/5')).toBeUndefined();
    expect(parsePartHeader('x')).toBeUndefined();
  });
});

describe('names', () => {
  it('stream, subjects, message ids, markers', () => {
    expect(streamName('web-1')).toBe('FTCP_web-1');
    expect(streamSubjects('web-1')).toBe('ftcp.web-1.>');
    expect(subjectOf('web', 'r')).toBe('ftcp.web.r');
    expect(kindOfSubject('web', 'ftcp.web.k')).toBe('k');
    expect(kindOfSubject('web', 'ftcp.web.x')).toBeUndefined();
    expect(kindOfSubject('web', 'ftcp.other.r')).toBeUndefined();
    expect(() => streamName('a.b')).toThrow(/A-Z a-z 0-9/);
    expect(msgId(3, 17)).toBe('3-17');
    expect(parseMsgId('3-17')).toEqual({ epoch: 3, counter: 17 });
    expect(parseMsgId('w1:5')).toBeUndefined();
    expect(decodeEpochMarker(encodeEpochMarker('web', 4))).toEqual({ service: 'web', epoch: 4 });
    expect(decodeEpochMarker(Buffer.from('{"epoch":-1,"service":"x"}'))).toBeUndefined();
    expect(decodeEpochMarker(Buffer.from('nope'))).toBeUndefined();
  });
});

describe('classify', () => {
  it('sorts publish errors', () => {
    expect(classify(new Error('wrong last sequence: 41')).kind).toBe('wrong-last-seq');
    expect(classify(new Error('stream not found')).kind).toBe('fatal');
    expect(classify(new Error('expected stream does not match')).kind).toBe('fatal');
    expect(classify(Object.assign(new Error('timeout'), { name: 'TimeoutError' })).kind).toBe('transient');
    expect(classify(Object.assign(new Error('jetstream is not enabled'), { name: 'JetStreamNotEnabled' })).kind).toBe('transient');
  });
});
