// What the store needs to know about a record to index it and judge its retention, taken from the
// decoded Record once on append (and on recovery scan). Also the validation of writer input.
import { LogError } from './errors.js';
import { MAX_RECORD_BYTES } from './limits.js';
import { Record, IpVersion } from './gen/ftcp/v1/log.js';

/** Record kinds as small integers for the in-memory index. */
export const enum Kind {
  Opened = 1,
  ClientData = 2,
  ClientFin = 3,
  ServerProgress = 4,
  ShimChunks = 5,
  ShimAccept = 6,
  ShimOrder = 7,
  CloseIntent = 8,
  Nondeterministic = 9,
  Closed = 10,
}

/** The Kind of a Record.kind field number (10 = opened … 19 = closed); undefined if unknown. */
export function kindOfFieldNumber(field: number): Kind | undefined {
  return field >= 10 && field <= 19 ? ((field - 9) as Kind) : undefined;
}

export interface RecordMeta {
  kind: Kind;
  connId: string;
  /**
   * Client-stream records: offset just past the record (data end, FIN offset, chunk end).
   * Server progress: end of the highest hashed server-stream range. Others: 0.
   */
  end: number;
}

const CONN_SCOPED = new Set<Kind>([
  Kind.Opened,
  Kind.ClientData,
  Kind.ClientFin,
  Kind.ServerProgress,
  Kind.ShimChunks,
  Kind.ShimAccept,
  Kind.CloseIntent,
  Kind.Closed,
]);

export const MAX_CONN_ID = 256;

function bad(msg: string): never {
  throw new LogError('INVALID_ARGUMENT', msg);
}

/** Decodes and validates one encoded record; throws LogError(INVALID_ARGUMENT) when malformed. */
export function decodeRecord(raw: Uint8Array, index = 0): { record: Record; meta: RecordMeta } {
  checkRecordSize(raw.length, index);
  let record: Record;
  try {
    record = Record.decode(raw);
  } catch (err) {
    bad(`record ${index}: not a valid ftcp.v1.Record (${err instanceof Error ? err.message : String(err)})`);
  }
  return { record, meta: recordMeta(record, index) };
}

export function checkRecordSize(bytes: number, index = 0): void {
  if (bytes > MAX_RECORD_BYTES) bad(`record ${index}: ${bytes} bytes, more than the ${MAX_RECORD_BYTES} allowed`);
}

export function recordMeta(record: Record, index = 0): RecordMeta {
  const k = record.kind;
  if (k === undefined) bad(`record ${index}: no known record kind set`);
  if (record.connId.length > MAX_CONN_ID) bad(`record ${index}: conn_id longer than ${MAX_CONN_ID}`);
  let kind: Kind;
  let end = 0;
  switch (k.$case) {
    case 'opened': {
      kind = Kind.Opened;
      const o = k.value;
      const alen = o.ipVersion === IpVersion.IP_VERSION_4 ? 4 : o.ipVersion === IpVersion.IP_VERSION_6 ? 16 : 0;
      if (alen === 0) bad(`record ${index}: opened.ip_version must be 4 or 6`);
      if (!o.client || !o.server) bad(`record ${index}: opened needs client and server endpoints`);
      for (const e of [o.client, o.server]) {
        if (e.addr.length !== alen) bad(`record ${index}: opened endpoint address must be ${alen} bytes`);
        if (e.port < 1 || e.port > 65535) bad(`record ${index}: opened endpoint port out of range`);
      }
      break;
    }
    case 'clientData':
      kind = Kind.ClientData;
      if (k.value.data.length === 0) bad(`record ${index}: client_data.data is empty`);
      end = k.value.offset + k.value.data.length;
      break;
    case 'clientFin':
      kind = Kind.ClientFin;
      end = k.value.offset;
      break;
    case 'serverProgress': {
      kind = Kind.ServerProgress;
      const p = k.value;
      if (p.sndUna > p.sndMax) bad(`record ${index}: server_progress.snd_una above snd_max`);
      for (const h of p.hashes) end = Math.max(end, h.offset + h.length);
      break;
    }
    case 'shimChunks': {
      kind = Kind.ShimChunks;
      let n = k.value.offset;
      for (const l of k.value.lengths) n += l;
      end = n;
      break;
    }
    case 'shimAccept':
      kind = Kind.ShimAccept;
      break;
    case 'shimOrder':
      kind = Kind.ShimOrder;
      break;
    case 'closeIntent':
      kind = Kind.CloseIntent;
      break;
    case 'nondeterministic':
      kind = Kind.Nondeterministic;
      if (k.value.name === '') bad(`record ${index}: nondeterministic.name is empty`);
      break;
    case 'closed':
      kind = Kind.Closed;
      break;
  }
  if (!Number.isSafeInteger(end)) bad(`record ${index}: stream offset beyond 2^53`);
  if (CONN_SCOPED.has(kind) && record.connId === '') bad(`record ${index}: ${k.$case} needs a conn_id`);
  return { kind, connId: record.connId, end };
}
