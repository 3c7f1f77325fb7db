// Encoding of ftcp.v1.Record on the writer's hot path. client_data records (nearly all of the log's
// volume) are laid out by hand into one buffer of the exact size, so their payload is copied once;
// the generated encoder copies it three times (into the writer, again when the nested message's
// length prefix outgrows the byte it reserved, and out of the writer in finish()). Other kinds go
// through the generated encoder. Both produce the same bytes.
import type { BinaryWriter } from '@bufbuild/protobuf/wire';
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

const TAG_CONN_ID = 10; // Record.conn_id = 1, length-delimited
const TAG_CLIENT_DATA = 90; // Record.client_data = 11, length-delimited
const TAG_OFFSET = 8; // ClientData.offset = 1, varint
const TAG_DATA = 18; // ClientData.data = 2, length-delimited

/** Encodes a record; `writer` (reused by the caller) serves the kinds not laid out by hand. */
export function encodeRecord(record: Record, writer: BinaryWriter): Buffer {
  if (record.kind?.$case !== 'clientData') {
    const u8 = Record.encode(record, writer).finish();
    return Buffer.from(u8.buffer, u8.byteOffset, u8.byteLength);
  }
  const { offset, data } = record.kind.value;
  const idLen = record.connId === '' ? 0 : Buffer.byteLength(record.connId);
  const inner = (offset !== 0 ? 1 + varintSize(offset) : 0) + (data.length !== 0 ? 1 + varintSize(data.length) + data.length : 0);
  const size = (idLen !== 0 ? 1 + varintSize(idLen) + idLen : 0) + 1 + varintSize(inner) + inner;
  const b = Buffer.allocUnsafe(size);
  let at = 0;
  if (idLen !== 0) {
    b[at++] = TAG_CONN_ID;
    at = putVarint(b, at, idLen);
    at += b.write(record.connId, at, 'utf8');
  }
  b[at++] = TAG_CLIENT_DATA;
  at = putVarint(b, at, inner);
  if (offset !== 0) {
    b[at++] = TAG_OFFSET;
    at = putVarint(b, at, offset);
  }
  if (data.length !== 0) {
    b[at++] = TAG_DATA;
    at = putVarint(b, at, data.length);
    b.set(data, at);
  }
  return b;
}
