// Plain-number counters of the second wrapper (read by `ftcp status`, metrics and tests).

export interface WrapperCounters {
  passed: number;
  protectedIn: number;
  protectedOut: number;
  malformed: number;
  malformedByReason: { [reason: string]: number };
  loggedBytes: number;
  acksHeld: number;
  acksSynthesized: number;
  holdAcks: number;
  discarded: number;
  recoveries: number;
  recovered: number;
  divergences: number;
  unprotectedResets: number;
  /** Appends the log refused (closed or failed for good). */
  logErrors: number;
  /** Close intents of the shim matched to a connection. */
  closeIntents: number;
  /** Connections whose FIN/RST went to the client at once because a close intent explained it. */
  closeIntentsHonoured: number;
  /** Close intents naming no connection the daemon knows (ignored). */
  closeIntentsUnmatched: number;
  /** Crash signals from a dropped shim session (the app was found not alive). */
  shimSessionsLost: number;
  /** Restores that started from a checkpoint's positions instead of the stream's start. */
  restoredFromCheckpoint: number;
  /** Open connections found in the log at start (daemon restart, host takeover). */
  adopted: number;
  /** Adopted connections whose client answered (where it stands learned). */
  adoptedLearned: number;
  /** Adopted connections whose client never answered, or answered with a reset: dropped. */
  adoptedDropped: number;
  /** ICMP unreachable errors sent to adopted connections' clients (RFC 6069 nudges). */
  clientNudges: number;
  /** Packets dropped while fenced (lease lapsed or lost: a zombie primary sends nothing). */
  silencedDrops: number;
}

export function newWrapperCounters(): WrapperCounters {
  return {
    passed: 0,
    protectedIn: 0,
    protectedOut: 0,
    malformed: 0,
    malformedByReason: {},
    loggedBytes: 0,
    acksHeld: 0,
    acksSynthesized: 0,
    holdAcks: 0,
    discarded: 0,
    recoveries: 0,
    recovered: 0,
    divergences: 0,
    unprotectedResets: 0,
    logErrors: 0,
    closeIntents: 0,
    closeIntentsHonoured: 0,
    closeIntentsUnmatched: 0,
    shimSessionsLost: 0,
    restoredFromCheckpoint: 0,
    adopted: 0,
    adoptedLearned: 0,
    adoptedDropped: 0,
    clientNudges: 0,
    silencedDrops: 0,
  };
}
