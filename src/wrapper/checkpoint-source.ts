// Where a restore finds the service's latest checkpoint: straight from the embedded store when the
// log server runs in this process, else from the log server (a Read that names no connection
// returns the checkpoint alone).
import { localStore } from '../log/append-sink.js';
import type { LogClient } from '../log/client.js';
import type { CheckpointInfo } from '../log/gen/ftcp/v1/log.js';
import type { CheckpointSource } from './second-wrapper.js';

/** A conn id no connection has (ids are tuple keys plus a suffix): the Read yields no record. */
const NO_CONN = '-';

export function checkpointSource(client: LogClient, target: string | undefined): CheckpointSource {
  const store = target !== undefined ? localStore(target) : undefined;
  if (store) return { latest: () => store.latestCheckpoint(client.service) };
  return {
    latest: async (): Promise<CheckpointInfo | undefined> => {
      for await (const item of client.read({ connId: NO_CONN })) {
        return item.type === 'checkpoint' ? item.checkpoint : undefined;
      }
      return undefined;
    },
  };
}
