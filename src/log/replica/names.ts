// Names of one service's replicated log on JetStream: the stream, its three subjects, and the
// message ids that chain a primary's publishes (`<epoch>-<counter>`).
import { LogError } from '../errors.js';

const SERVICE_RE = /^[A-Za-z0-9_-]{1,64}$/;

/** Throws LogError(INVALID_ARGUMENT) when the service name cannot name a stream or a bucket. */
export function checkServiceName(service: string): void {
  if (!SERVICE_RE.test(service)) {
    throw new LogError('INVALID_ARGUMENT', `service "${service}": use 1-64 of A-Z a-z 0-9 _ - for a JetStream log`);
  }
}

/** Header of a checkpoint part: `<i>/<n>` (1-based), on every `.k` message. */
export const PART_HEADER = 'Ftcp-Part';

export type SubjectKind = 'r' | 'k' | 'e';

export function streamName(service: string): string {
  checkServiceName(service);
  return `FTCP_${service}`;
}

export function streamSubjects(service: string): string {
  checkServiceName(service);
  return `ftcp.${service}.>`;
}

/** `r` committed record batches, `k` checkpoint parts, `e` epoch markers. */
export function subjectOf(service: string, kind: SubjectKind): string {
  return `ftcp.${service}.${kind}`;
}

/** The kind of a subject of the service's stream; undefined for anything else. */
export function kindOfSubject(service: string, subject: string): SubjectKind | undefined {
  const prefix = `ftcp.${service}.`;
  if (!subject.startsWith(prefix)) return undefined;
  const k = subject.slice(prefix.length);
  return k === 'r' || k === 'k' || k === 'e' ? k : undefined;
}

export function msgId(epoch: number, counter: number): string {
  return `${epoch}-${counter}`;
}

export function parseMsgId(id: string): { epoch: number; counter: number } | undefined {
  const m = /^(\d{1,15})-(\d{1,15})$/.exec(id);
  if (!m) return undefined;
  return { epoch: Number(m[1]), counter: Number(m[2]) };
}

export function partHeader(i: number, n: number): string {
  return `${i}/${n}`;
}

export function parsePartHeader(v: string): { i: number; n: number } | undefined {
  const m = /^(\d{1,9})\/(\d{1,9})$/.exec(v);
  if (!m) return undefined;
  const i = Number(m[1]);
  const n = Number(m[2]);
  return i >= 1 && i <= n ? { i, n } : undefined;
}

/** Payload of an epoch marker. */
export function encodeEpochMarker(service: string, epoch: number): Buffer {
  return Buffer.from(JSON.stringify({ service, epoch }), 'utf8');
}

export function decodeEpochMarker(data: Uint8Array): { service: string; epoch: number } | undefined {
  try {
    const v = JSON.parse(Buffer.from(data).toString('utf8')) as { service?: unknown; epoch?: unknown };
    if (typeof v.service !== 'string' || typeof v.epoch !== 'number' || !Number.isSafeInteger(v.epoch) || v.epoch < 0) return undefined;
    return { service: v.service, epoch: v.epoch };
  } catch {
    return undefined;
  }
}
