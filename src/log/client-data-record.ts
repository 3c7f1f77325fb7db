// The daemon's most frequent record, ClientData inside a Record, encoded by hand into one buffer of
// the exact size: the generic protobuf writer copied each payload three times (into its chunk
// list, again to widen the nested message's length prefix, again when finishing), which made
// logging CPU-bound on large uploads. Byte-identical to Record.encode (proto3: a zero offset and
// empty data are omitted).
import { Kind, type RecordMeta } from './record-meta.js';
import { putVarint, varintSize } from './varint.js';

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
