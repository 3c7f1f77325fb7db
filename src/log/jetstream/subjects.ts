// Names on JetStream for one service's log: one stream per service, one subject per connection
// (so a recovery reads one connection with a subject filter) and one for service-wide records.
// Connection ids contain '.', '>' and ':' which are subject syntax, so they travel base64url-encoded.
import { LogError } from '../errors.js';

/** Header carrying the writer's epoch on every record message. */
export const EPOCH_HEADER = 'Ftcp-Epoch';

const SERVICE_RE = /^[A-Za-z0-9_-]{1,64}$/;

/** Throws LogError(INVALID_ARGUMENT) when the service name cannot name a stream. */
export function checkServiceName(service: string): void {
  if (!SERVICE_RE.test(service)) {
    throw new LogError('INVALID_ARGUMENT', `service "${service}": use 1-64 of A-Z a-z 0-9 _ - for a JetStream log`);
  }
}

export function streamName(service: string): string {
  checkServiceName(service);
  return `FTCP_${service}`;
}

/** Every subject of the service's stream. */
export function streamSubjects(service: string): string {
  checkServiceName(service);
  return `ftcp.${service}.>`;
}

/** Subject of a record: per connection (`c.<b64url conn id>`), or service-wide (`g`). */
export function recordSubject(service: string, connId: string): string {
  return connId === '' ? `ftcp.${service}.g` : `ftcp.${service}.c.${Buffer.from(connId, 'utf8').toString('base64url')}`;
}

/** The connection id carried by a record subject ('' for service-wide); undefined if not ours. */
export function connIdOfSubject(service: string, subject: string): string | undefined {
  const prefix = `ftcp.${service}.`;
  if (!subject.startsWith(prefix)) return undefined;
  const rest = subject.slice(prefix.length);
  if (rest === 'g') return '';
  if (!rest.startsWith('c.') || rest.length === 2) return undefined;
  return Buffer.from(rest.slice(2), 'base64url').toString('utf8');
}

/** Nats-Msg-Id of a record: JetStream drops a resend with the same id inside its duplicate window. */
export function msgId(streamId: string, seq: number): string {
  return `${streamId}:${seq}`;
}

export function parseMsgId(id: string): { streamId: string; seq: number } | undefined {
  const colon = id.lastIndexOf(':');
  if (colon <= 0) return undefined;
  const seq = Number(id.slice(colon + 1));
  if (!Number.isSafeInteger(seq) || seq < 1) return undefined;
  return { streamId: id.slice(0, colon), seq };
}
