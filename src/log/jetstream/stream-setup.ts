// The service's JetStream stream: created on first use with the replica count asked for; an
// existing stream is taken as it is (changing replicas is an operator's decision, not a writer's).
import { DiscardPolicy, JetStreamApiError, RetentionPolicy, StorageType, type JetStreamManager, type StreamInfo } from '@nats-io/jetstream';
import { streamName, streamSubjects } from './subjects.js';

/** JetStream's "stream not found" API error code. */
const STREAM_NOT_FOUND = 10059;

export async function ensureLogStream(jsm: JetStreamManager, service: string, replicas: number): Promise<StreamInfo> {
  const name = streamName(service);
  try {
    return await jsm.streams.info(name);
  } catch (err) {
    if (!(err instanceof JetStreamApiError) || err.code !== STREAM_NOT_FOUND) throw err;
  }
  return jsm.streams.add({
    name,
    subjects: [streamSubjects(service)],
    num_replicas: replicas,
    storage: StorageType.File,
    // Records leave only by explicit truncation below a checkpoint, never by a limit: when the
    // stream is full, appends fail rather than old records disappearing.
    retention: RetentionPolicy.Limits,
    discard: DiscardPolicy.New,
  });
}
