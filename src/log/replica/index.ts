// The replicated log (issue 8): the embedded LogStore with every commit also stored on a NATS
// JetStream stream (R3 by default) before it is acknowledged. docs/FAILOVER.md, "Replicated log
// (JetStream)", has the design; this is the API the daemon uses.
//
//   parseNatsTarget(s: string): string[]
//     'nats://HOST:PORT[,HOST:PORT…]' → ['HOST:PORT', …]; throws Error whose message says what to fix.
//
//   openReplicatedStore(opts: { servers: string[]; service: string; epoch: number; replicas?: number;
//                              dataDir?: string; segmentBytes?: number; log: Logger })
//       : Promise<{ store: LogStore; replica: Replica }>
//     Connects (fails at once with LogError UNAVAILABLE if no server answers), creates or checks
//     the stream FTCP_<service>, reads it to the end into a fresh local store (memory, or fsync in
//     dataDir — emptied first: the stream is the truth), appends its epoch marker, then the store
//     takes appends of epoch >= opts.epoch. Serve it with startEmbeddedLogServer({ store, listen }).
//     Refuses (FAILED_PRECONDITION) an epoch below one already in the stream.
//
//   Replica (events): 'fenced' (err: LogError) a newer primary wrote — this commit and all later
//     ones fail FAILED_PRECONDITION; 'failed' (err: LogError) stream gone / misconfigured, also
//     permanent; 'stalled' ({ error }) publishes fail and are retried, appends wait;
//     'resumed' ({ stalledMs }). Properties streamSeq (last acked stream seq), epoch, mode.
//     close(): fails whatever waits for a publish, closes NATS. store.close() waits for commits in
//     flight (which wait for NATS): call replica.close() first for a shutdown that must not wait.
//
//   LogFollower.start(opts: { servers; service; replicas?; dataDir?; segmentBytes?; log }): Promise<LogFollower>
//     .store (read-only until promoted), .appliedSeq, lag(): number, catchUp(): Promise<void>,
//     promote(epoch): Promise<Replica>, stop(): Promise<void> (closes the store unless promoted);
//     events 'applied' (seq), 'failed' (Error).
export { parseNatsTarget } from './target.js';
export { openReplicatedStore, type ReplicatedStoreOptions } from './open.js';
export { LogFollower, type FollowerOptions } from './follower.js';
export { ReplicatedBackend, type Replica, type ReplicaMode } from './replicated-backend.js';
