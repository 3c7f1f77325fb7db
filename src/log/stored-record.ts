// On-disk body of a framed record: a small fixed header, the writer's ids, then the encoded
// ftcp.v1.Record exactly as the writer sent it. Binary rather than a protobuf StoredRecord so a
// group commit lays out thousands of records with a few buffer writes each (measured: protobuf
// encoding per record was the server's largest cost). Read converts to StoredRecord for the wire.
//
//   u8  format (1)   u8 reserved   u16 idsLen
//   u32 lsn lo  u32 lsn hi   u32 epoch lo  u32 epoch hi   u32 seq lo  u32 seq hi
//   ids: u16 serviceLen, service (utf8), u16 streamLen, streamId (utf8)     (idsLen bytes)
//   record bytes (the rest)
import { FRAME_HEADER } from './frame.js';
import { StoredRecord } from './gen/ftcp/v1/log.js';
import { crc32c } from './crc32c.js';

export const STORED_FORMAT = 1;
const FIXED = 28;
const TWO32 = 2 ** 32;

/** The ids part for a (service, stream), built once per writer stream. */
export function encodeIds(service: string, streamId: string): Buffer {
  const s = Buffer.from(service, 'utf8');
  const t = Buffer.from(streamId, 'utf8');
  const b = Buffer.allocUnsafe(4 + s.length + t.length);
  b.writeUInt16LE(s.length, 0);
  s.copy(b, 2);
  b.writeUInt16LE(t.length, 2 + s.length);
  t.copy(b, 4 + s.length);
  return b;
}

export interface StoredItem {
  lsn: number;
  epoch: number;
  seq: number;
  ids: Buffer;
  record: Uint8Array;
}

function put64(b: Buffer, v: number, at: number): void {
  b.writeUInt32LE(v % TWO32, at);
  b.writeUInt32LE(Math.floor(v / TWO32), at + 4);
}

function get64(b: Buffer, at: number): number {
  return b.readUInt32LE(at) + b.readUInt32LE(at + 4) * TWO32;
}

/**
 * Frames a batch into one buffer ([len][crc][body] each, CRCs sealed in one native call).
 * Returns the buffer and the byte offset of each body.
 */
export function encodeStoredBatch(items: readonly StoredItem[]): { buf: Buffer; bodies: number[]; lens: number[] } {
  let total = 0;
  for (const it of items) total += FRAME_HEADER + FIXED + it.ids.length + it.record.length;
  const buf = Buffer.allocUnsafe(total);
  const bodies: number[] = new Array(items.length);
  const lens: number[] = new Array(items.length);
  let pos = 0;
  for (let i = 0; i < items.length; i++) {
    const it = items[i]!;
    const len = FIXED + it.ids.length + it.record.length;
    buf.writeUInt32LE(len, pos);
    const b = pos + FRAME_HEADER;
    buf[b] = STORED_FORMAT;
    buf[b + 1] = 0;
    buf.writeUInt16LE(it.ids.length, b + 2);
    put64(buf, it.lsn, b + 4);
    put64(buf, it.epoch, b + 12);
    put64(buf, it.seq, b + 20);
    it.ids.copy(buf, b + FIXED);
    buf.set(it.record, b + FIXED + it.ids.length);
    bodies[i] = b;
    lens[i] = len;
    pos = b + len;
  }
  if (crc32c.sealFrames(buf, 0, total) !== items.length) throw new Error('frame layout mismatch');
  return { buf, bodies, lens };
}

export interface DecodedStored {
  lsn: number;
  epoch: number;
  seq: number;
  service: string;
  streamId: string;
  record: Buffer;
}

/** Parses a stored body; throws on a format this version does not know. */
export function decodeStored(body: Buffer): DecodedStored {
  if (body.length < FIXED || body[0] !== STORED_FORMAT) throw new Error(`unknown stored record format ${body[0]}`);
  const idsLen = body.readUInt16LE(2);
  const ids = FIXED;
  if (ids + idsLen > body.length) throw new Error('stored record ids overrun');
  const sLen = body.readUInt16LE(ids);
  const service = body.toString('utf8', ids + 2, ids + 2 + sLen);
  const tLen = body.readUInt16LE(ids + 2 + sLen);
  const streamId = body.toString('utf8', ids + 4 + sLen, ids + 4 + sLen + tLen);
  return {
    lsn: get64(body, 4),
    epoch: get64(body, 12),
    seq: get64(body, 20),
    service,
    streamId,
    record: body.subarray(FIXED + idsLen),
  };
}

/** The encoded ftcp.v1.Record inside a stored body (a view); throws on an unknown format. */
export function storedRecordBytes(body: Buffer): Buffer {
  if (body.length < FIXED || body[0] !== STORED_FORMAT) throw new Error(`unknown stored record format ${body[0]}`);
  const at = FIXED + body.readUInt16LE(2);
  if (at > body.length) throw new Error('stored record ids overrun');
  return body.subarray(at);
}

/** The wire form (encoded ftcp.v1.StoredRecord) of a stored body, for Read. */
export function storedToWire(body: Buffer): Buffer {
  const d = decodeStored(body);
  const u8 = StoredRecord.encode({ lsn: d.lsn, service: d.service, epoch: d.epoch, streamId: d.streamId, seq: d.seq, record: d.record }).finish();
  return Buffer.from(u8.buffer, u8.byteOffset, u8.byteLength);
}
