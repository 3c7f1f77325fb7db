// Encoding on the writer's hot path: LogClient.append's records (client_data through the hand
// encoder of client-data-record.ts, payload copied once; other kinds through the generated
// encoder).
import type { BinaryWriter } from '@bufbuild/protobuf/wire';
import { encodeClientDataRecord } from './client-data-record.js';
import { Record } from './gen/ftcp/v1/log.js';

/** Encodes a record; `writer` (reused by the caller) serves the kinds not laid out by hand. */
export function encodeRecord(record: Record, writer: BinaryWriter): Buffer {
  if (record.kind?.$case === 'clientData') {
    const { offset, data } = record.kind.value;
    return encodeClientDataRecord(record.connId, Buffer.from(record.connId, 'utf8'), offset, data).bytes;
  }
  const u8 = Record.encode(record, writer).finish();
  return Buffer.from(u8.buffer, u8.byteOffset, u8.byteLength);
}
