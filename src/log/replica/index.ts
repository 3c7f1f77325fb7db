// The replicated log (issue 8): the embedded LogStore with every commit also stored on a NATS
// JetStream stream (R3 by default) before it is acknowledged. See docs/FAILOVER.md,
// "Replicated log (JetStream)".
//
//   parseNatsTarget(s: string): string[]
//     'nats://HOST:PORT[,HOST:PORT…]' → ['HOST:PORT', …]; throws Error (message says what to fix).
//   openReplicatedStore(opts: { servers; service; epoch; replicas?; dataDir?; segmentBytes?; log })
//       : Promise<{ store: LogStore; replica: Replica }>
//     Catches up from the stream, publishes the epoch marker, then the store takes appends
//     (of epoch >= opts.epoch). Serve it with startEmbeddedLogServer({ store, ... }).
//   Replica: events 'fenced' (LogError), 'failed' (LogError), 'stalled' ({ error }),
//     'resumed' ({ stalledMs }); streamSeq, epoch, mode; close().
//   LogFollower.start(opts: { servers; service; replicas?; dataDir?; segmentBytes?; log }): Promise<LogFollower>
//     .store, .appliedSeq, lag(), catchUp(), promote(epoch): Promise<Replica>, stop(); events 'applied' (seq), 'failed' (Error).
export { parseNatsTarget } from './target.js';
export { openReplicatedStore, type ReplicatedStoreOptions } from './open.js';
export { LogFollower, type FollowerOptions } from './follower.js';
export { ReplicatedBackend, type Replica, type ReplicaMode } from './replicated-backend.js';
