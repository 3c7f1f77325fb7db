// Reading a service's log back from JetStream: an ordered consumer (ephemeral, flow-controlled,
// recreated by the client on a gap) over the stream or one connection's subject, from a stream
// sequence, up to the last record stored when the read started.
import { DeliverPolicy, type JetStreamClient, type JetStreamManager, type JsMsg } from '@nats-io/jetstream';
import type { ReadItem } from '../client.js';
import { LogError } from '../errors.js';
import { decodeRecord } from '../record-meta.js';
import { EPOCH_HEADER, parseMsgId, recordSubject, streamName, streamSubjects } from './subjects.js';

export interface JetStreamReadQuery {
  /** Only this connection's records (default: every record of the service). */
  connId?: string;
  /** First stream sequence (lsn) to read; default the start of the stream. */
  fromLsn?: number;
}

export type JetStreamRecordItem = ReadItem & { type: 'record' };

export async function* readJetStreamLog(
  js: JetStreamClient,
  jsm: JetStreamManager,
  service: string,
  q: JetStreamReadQuery,
): AsyncGenerator<JetStreamRecordItem> {
  const stream = streamName(service);
  const subject = q.connId === undefined ? streamSubjects(service) : recordSubject(service, q.connId);
  const end = await withRetry(() => lastLsn(jsm, stream, service, q.connId));
  const from = Math.max(1, q.fromLsn ?? 1);
  if (end < from) return;
  // Creating a consumer needs the cluster's meta leader, which may be re-electing after a node loss.
  const consumer = await withRetry(() =>
    js.consumers.get(stream, {
      filter_subjects: subject,
      ...(from > 1 ? { deliver_policy: DeliverPolicy.StartSequence, opt_start_seq: from } : {}),
    }),
  );
  const msgs = await consumer.consume();
  try {
    for await (const m of msgs) {
      yield toItem(m);
      if (m.seq >= end) break;
    }
  } finally {
    msgs.stop();
  }
}

/** Stream sequence of the last record the read must reach (0 when there is none). */
async function lastLsn(jsm: JetStreamManager, stream: string, service: string, connId: string | undefined): Promise<number> {
  if (connId === undefined) return (await jsm.streams.info(stream)).state.last_seq;
  const m = await jsm.streams.getMessage(stream, { last_by_subj: recordSubject(service, connId) }).catch((err: unknown) => {
    if (/no message found|not found/i.test(String((err as Error).message))) return null;
    throw err;
  });
  return m?.seq ?? 0;
}

/** Retries a JetStream API request that timed out or found JetStream unavailable (bounded). */
async function withRetry<T>(op: () => Promise<T>, attempts = 10): Promise<T> {
  for (let i = 1; ; i++) {
    try {
      return await op();
    } catch (err) {
      if (i >= attempts || !isTransient(err)) throw err;
      await new Promise((r) => setTimeout(r, Math.min(50 * 2 ** i, 1000)));
    }
  }
}

function isTransient(err: unknown): boolean {
  const e = err as { name?: string; code?: number | string; message?: string };
  if (e.name === 'TimeoutError' || e.name === 'NoRespondersError' || e.name === 'RequestError') return true;
  return /timeout|no responders|temporarily unavailable|no suitable peers/i.test(String(e.message));
}

function toItem(m: JsMsg): JetStreamRecordItem {
  const id = parseMsgId(m.headers?.get('Nats-Msg-Id') ?? '');
  const epoch = Number(m.headers?.get(EPOCH_HEADER) ?? '0');
  if (id === undefined || !Number.isSafeInteger(epoch)) {
    throw new LogError('DATA_LOSS', `JetStream message ${m.seq} on ${m.subject} lacks a valid Nats-Msg-Id or Ftcp-Epoch header`);
  }
  let record;
  try {
    record = decodeRecord(m.data).record;
  } catch (err) {
    throw new LogError('DATA_LOSS', `JetStream message ${m.seq}: ${(err as Error).message}`);
  }
  return { type: 'record', lsn: m.seq, epoch, streamId: id.streamId, seq: id.seq, record };
}
