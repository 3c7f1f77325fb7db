// The log server's decoding of AppendRequests on its hot path. A writer sends the same service and
// stream_id in every request of a stream (append-sink.ts encodes them once), then first_seq and the
// records. The generated decoder turns each uint64 into a BigInt and a string, decodes both names
// again and builds objects per request: tens of µs per small request on an idle machine, where the
// append-to-durable latency target is counted against one fdatasync (docs/PERFORMANCE.md, issue 3).
//
// Fast path: when the request's leading fields 1 and 2 are byte-identical to the previous request's,
// their decoded values are reused, and first_seq and the records are read here (records as views
// into the request, no copy). Anything else — a new header, fields out of the canonical order,
// unknown fields, a varint past 2^53 — goes to the generated decoder, so both paths accept and reject
// exactly the same requests with the same values.
import { AppendRequest, type ServiceRef } from './gen/ftcp/v1/log.js';
import { readVarint, varintEnd } from './varint.js';

const TAG_SERVICE = (1 << 3) | 2;
const TAG_STREAM_ID = (2 << 3) | 2;
const TAG_FIRST_SEQ = 3 << 3;
const TAG_RECORDS = (4 << 3) | 2;
const HEAD_TAGS = [TAG_SERVICE, TAG_STREAM_ID]; // the leading fields, in the encoders' order
const TAG_SERVICE_NAME = (1 << 3) | 2; // ServiceRef.name
const TAG_SERVICE_EPOCH = 2 << 3; // ServiceRef.epoch

export interface DecodedAppendRequest {
  service: ServiceRef | undefined;
  streamId: string;
  firstSeq: number;
  records: Uint8Array[];
}

export class AppendRequestDecoder {
  private head: Buffer | undefined;
  private service: ServiceRef | undefined;
  private streamId = '';

  decode(buf: Uint8Array): DecodedAppendRequest {
    const b = Buffer.isBuffer(buf) ? buf : Buffer.from(buf.buffer, buf.byteOffset, buf.byteLength);
    const headLen = headLength(b);
    if (headLen > 0 && this.head !== undefined && this.head.length === headLen && this.head.equals(b.subarray(0, headLen))) {
      const rest = decodeTail(b, headLen);
      if (rest) return { service: this.service, streamId: this.streamId, firstSeq: rest.firstSeq, records: rest.records };
    }
    const req = AppendRequest.decode(b);
    // Remember the header only when the fast path would have read this request the same way.
    if (headLen > 0 && canonicalService(b) && decodeTail(b, headLen)) {
      this.head = Buffer.from(b.subarray(0, headLen));
      this.service = req.service;
      this.streamId = req.streamId;
    }
    return req;
  }
}

/** Length of the leading fields 1 and 2 (each at most once, in order); 0 if the layout is other. */
function headLength(b: Buffer): number {
  let at = 0;
  for (const tag of HEAD_TAGS) {
    if (at >= b.length || b[at] !== tag) continue;
    const len = readVarint(b, at + 1);
    if (len < 0) return 0;
    const end = varintEnd(b, at + 1) + len;
    if (end > b.length) return 0;
    at = end;
  }
  return at;
}

/**
 * The ServiceRef at the start is laid out as the encoders write it (name, then epoch, each at most
 * once, filling the field exactly). The generated decoder does not check that a nested message
 * ends where its length says, so a malformed one can shift how it reads the rest: such headers are
 * never cached.
 */
function canonicalService(b: Buffer): boolean {
  if (b[0] !== TAG_SERVICE) return true; // no service field: nothing nested
  const len = readVarint(b, 1);
  if (len < 0) return false;
  let at = varintEnd(b, 1);
  const end = at + len;
  if (end > b.length) return false;
  if (at < end && b[at] === TAG_SERVICE_NAME) {
    const n = readVarint(b, at + 1);
    if (n < 0) return false;
    at = varintEnd(b, at + 1) + n;
  }
  if (at < end && b[at] === TAG_SERVICE_EPOCH) {
    if (readVarint(b, at + 1) < 0) return false;
    at = varintEnd(b, at + 1);
  }
  return at === end;
}

/** first_seq (optional) then records, to the end of the buffer; undefined if anything else is there. */
function decodeTail(b: Buffer, from: number): { firstSeq: number; records: Uint8Array[] } | undefined {
  let at = from;
  let firstSeq = 0;
  if (at < b.length && b[at] === TAG_FIRST_SEQ) {
    firstSeq = readVarint(b, at + 1);
    if (firstSeq < 0) return undefined;
    at = varintEnd(b, at + 1);
  }
  const records: Uint8Array[] = [];
  while (at < b.length) {
    if (b[at] !== TAG_RECORDS) return undefined;
    const len = readVarint(b, at + 1);
    if (len < 0) return undefined;
    const start = varintEnd(b, at + 1);
    if (start + len > b.length) return undefined;
    records.push(b.subarray(start, start + len));
    at = start + len;
  }
  return { firstSeq, records };
}
