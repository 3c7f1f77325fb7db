// The hand-written Append request and client_data encoders must produce what the generated encoders do.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { appendSerializer } from '../../../src/log/append-sink.js';
import { BinaryWriter } from '@bufbuild/protobuf/wire';
import { AppendRequest, Record } from '../../../src/log/gen/ftcp/v1/log.js';
import { encodeRecord } from '../../../src/log/record-encode.js';

describe('appendSerializer', () => {
  it('encodes byte for byte as AppendRequest.encode', () => {
    fc.assert(
      fc.property(
        fc.string({ minLength: 1, maxLength: 40 }),
        fc.nat({ max: 2 ** 40 }),
        fc.string({ minLength: 1, maxLength: 40 }),
        fc.oneof(fc.constant(0), fc.nat({ max: 2 ** 53 - 1 })),
        fc.array(fc.uint8Array({ maxLength: 300 }), { maxLength: 5 }),
        (service, epoch, streamId, firstSeq, records) => {
          const mine = appendSerializer({ service, epoch, streamId })({ firstSeq, records });
          const generated = Buffer.from(AppendRequest.encode({ service: { name: service, epoch }, streamId, firstSeq, records }).finish());
          expect(mine.equals(generated)).toBe(true);
          expect(AppendRequest.decode(mine).firstSeq).toBe(firstSeq);
        },
      ),
    );
  });
});

describe('encodeRecord', () => {
  it('lays out client_data byte for byte as Record.encode, and other kinds through it', () => {
    const writer = new BinaryWriter();
    fc.assert(
      fc.property(
        fc.string({ maxLength: 60 }),
        fc.oneof(fc.constant(0), fc.nat({ max: 2 ** 53 - 1 })),
        fc.uint8Array({ maxLength: 400 }),
        fc.boolean(),
        (connId, offset, data, asFin) => {
          const rec: Record = asFin
            ? { connId, kind: { $case: 'clientFin', value: { offset } } }
            : { connId, kind: { $case: 'clientData', value: { offset, data: Buffer.from(data) } } };
          const mine = encodeRecord(rec, writer);
          expect(mine.equals(Buffer.from(Record.encode(rec).finish()))).toBe(true);
        },
      ),
    );
  });
});
