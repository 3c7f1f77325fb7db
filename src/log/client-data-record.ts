// The daemon's most frequent record, ClientData inside a Record, encoded by hand into one buffer of
// the exact size: the generic protobuf writer copied each payload three times (into its chunk
// list, again to widen the nested message's length prefix, again when finishing), which made
// logging CPU-bound on large uploads. Byte-identical to Record.encode (proto3: a zero offset and
// empty data are omitted).
import { Kind, MAX_CONN_ID, type RecordMeta } from './record-meta.js';
import { putVarint, readVarint, varintEnd, varintSize } from './varint.js';

const TAG_CONN_ID = (1 << 3) | 2; // Record.conn_id
const TAG_CLIENT_DATA = (11 << 3) | 2; // Record.client_data
const TAG_OFFSET = 1 << 3; // ClientData.offset (varint)
const TAG_DATA = (2 << 3) | 2; // ClientData.data

export interface EncodedRecord {
  bytes: Buffer;
  meta: RecordMeta;
}

/** Record{conn_id, client_data{offset, data}} with `data` copied once; `connIdBytes` is utf-8. */
export function encodeClientDataRecord(connId: string, connIdBytes: Buffer, offset: number, data: Uint8Array): EncodedRecord {
  const inner = (offset > 0 ? 1 + varintSize(offset) : 0) + (data.length > 0 ? 1 + varintSize(data.length) + data.length : 0);
  const idPart = connIdBytes.length > 0 ? 1 + varintSize(connIdBytes.length) + connIdBytes.length : 0;
  const total = idPart + 1 + varintSize(inner) + inner;
  const buf = Buffer.allocUnsafe(total);
  let p = 0;
  if (connIdBytes.length > 0) {
    buf[p++] = TAG_CONN_ID;
    p = putVarint(buf, p, connIdBytes.length);
    p += connIdBytes.copy(buf, p);
  }
  buf[p++] = TAG_CLIENT_DATA;
  p = putVarint(buf, p, inner);
  if (offset > 0) {
    buf[p++] = TAG_OFFSET;
    p = putVarint(buf, p, offset);
  }
  if (data.length > 0) {
    buf[p++] = TAG_DATA;
    p = putVarint(buf, p, data.length);
    buf.set(data, p);
  }
  return { bytes: buf, meta: { kind: Kind.ClientData, connId, end: offset + data.length } };
}

/**
 * The index metadata of a record laid out exactly as encodeClientDataRecord lays it out, with an
 * ASCII conn_id and non-empty data; undefined for anything else (the caller then decodes it with
 * the generated decoder, which validates every kind: decodeRecord). The log server reads the
 * daemon's records this way without building a Record, a BigInt and a string per field.
 */
export function clientDataMeta(raw: Uint8Array): RecordMeta | undefined {
  const v = parseClientData(raw);
  return v && { kind: Kind.ClientData, connId: v.connId, end: v.offset + v.data.length };
}

/** A ClientData record's fields, `data` a view into the encoded record. */
export interface ClientDataView {
  connId: string;
  offset: number;
  data: Buffer;
}

/**
 * The fields of a record laid out as encodeClientDataRecord lays it out (see clientDataMeta);
 * undefined for anything else — the caller decodes that with the generated decoder. Replay and
 * adoption read thousands of these at once.
 */
export function parseClientData(raw: Uint8Array): ClientDataView | undefined {
  const b = Buffer.isBuffer(raw) ? raw : Buffer.from(raw.buffer, raw.byteOffset, raw.byteLength);
  let at = 0;
  let connId = '';
  if (b[at] === TAG_CONN_ID) {
    const len = readVarint(b, at + 1);
    if (len <= 0 || len > MAX_CONN_ID) return undefined;
    const start = varintEnd(b, at + 1);
    if (start + len > b.length) return undefined;
    for (let i = start; i < start + len; i++) if (b[i]! >= 128) return undefined;
    connId = b.toString('latin1', start, start + len);
    at = start + len;
  }
  if (connId === '' || b[at] !== TAG_CLIENT_DATA) return undefined;
  const inner = readVarint(b, at + 1);
  if (inner < 0) return undefined;
  at = varintEnd(b, at + 1);
  if (at + inner !== b.length) return undefined;
  let offset = 0;
  if (b[at] === TAG_OFFSET) {
    offset = readVarint(b, at + 1);
    if (offset < 0) return undefined;
    at = varintEnd(b, at + 1);
  }
  if (at >= b.length || b[at] !== TAG_DATA) return undefined;
  const dataLen = readVarint(b, at + 1);
  if (dataLen <= 0) return undefined;
  const dataStart = varintEnd(b, at + 1);
  if (dataStart + dataLen !== b.length) return undefined;
  if (!Number.isSafeInteger(offset + dataLen)) return undefined;
  return { connId, offset, data: b.subarray(dataStart) };
}
