// Opening a replicated store as the primary: follow the stream to its end (so a daemon restarted
// here or on another host reads every record stored before), then promote to the given epoch.
import type { Logger } from '../../util/logger.js';
import type { NatsSecurity } from './nats-security.js';
import type { LogStore } from '../store.js';
import { LogFollower } from './follower.js';
import type { Replica } from './replicated-backend.js';

export interface ReplicatedStoreOptions {
  servers: string[];
  /** Token, TLS or credentials for the NATS servers (log-credentials.ts). */
  security?: NatsSecurity;
  service: string;
  epoch: number;
  /** Stream replicas when the stream is created (default 3; 1 for a single node). */
  replicas?: number;
  /** Local copy in `fsync` mode here (rebuilt from the stream at every start); default in memory. */
  dataDir?: string;
  /** Local segment size (default 64 MiB): the stream is purged one local segment at a time. */
  segmentBytes?: number;
  log: Logger;
}

export async function openReplicatedStore(opts: ReplicatedStoreOptions): Promise<{ store: LogStore; replica: Replica }> {
  const follower = await LogFollower.start(opts);
  try {
    const replica = await follower.promote(opts.epoch);
    return { store: follower.store, replica };
  } catch (err) {
    await follower.stop().catch(() => undefined);
    throw err;
  }
}
