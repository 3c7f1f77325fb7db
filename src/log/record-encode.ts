// Encoding on the writer's hot path: LogClient.append's records (client_data through the hand
// encoder of client-data-record.ts, payload copied once; other kinds through the generated
// encoder) and the varints of the hand-laid Append request (append-sink.ts).
import type { BinaryWriter } from '@bufbuild/protobuf/wire';
import { encodeClientDataRecord } from './client-data-record.js';
import { Record } from './gen/ftcp/v1/log.js';

/** Bytes of a protobuf varint for a non-negative integer up to 2^53. */
export function varintSize(v: number): number {
  let n = 1;
  while (v >= 128) {
    v = Math.floor(v / 128);
    n++;
  }
  return n;
}

/** Writes a varint at `at`; returns the position after it. */
export function putVarint(b: Uint8Array, at: number, v: number): number {
  while (v >= 128) {
    b[at++] = (v % 128) | 128;
    v = Math.floor(v / 128);
  }
  b[at++] = v;
  return at;
}

/** Encodes a record; `writer` (reused by the caller) serves the kinds not laid out by hand. */
export function encodeRecord(record: Record, writer: BinaryWriter): Buffer {
  if (record.kind?.$case === 'clientData') {
    const { offset, data } = record.kind.value;
    return encodeClientDataRecord(record.connId, Buffer.from(record.connId, 'utf8'), offset, data).bytes;
  }
  const u8 = Record.encode(record, writer).finish();
  return Buffer.from(u8.buffer, u8.byteOffset, u8.byteLength);
}
