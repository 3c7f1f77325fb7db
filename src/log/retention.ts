// Which records are live, i.e. still needed for recovery (docs/LOG.md, "Retention").
// A record is dead once its connection is closed, or once the latest checkpoint covers it.
// Checkpoint positions name a connection by either wrapper's id; they apply to the records of
// both wrappers' ids with the same tuple key (conn-key.ts): the daemon's client data and the
// shim's chunk records below the position are dead alike.
import { tupleKeyOfConnId } from './conn-key.js';
import type { ConnPosition } from './gen/ftcp/v1/log.js';
import { Kind } from './record-meta.js';

export interface ConnRetention {
  closed: boolean;
  /** lsn of the connection's newest server-progress record (always kept while open). */
  lastProgressLsn: number;
  /**
   * lsn of the connection's newest opened record. The daemon logs it again after each checkpoint,
   * so the old one below the checkpoint can go and a long-lived connection does not pin the
   * segment where it was first logged.
   */
  lastOpenedLsn: number;
}

export interface CheckpointRetention {
  lsn: number;
  /** tuple key → positions the checkpointed state has consumed / produced. */
  positions: ReadonlyMap<string, { clientOffset: number; serverOffset: number }>;
}

export function checkpointRetention(lsn: number, positions: readonly ConnPosition[]): CheckpointRetention {
  return {
    lsn,
    positions: new Map(positions.map((p) => [tupleKeyOfConnId(p.connId), { clientOffset: p.clientOffset, serverOffset: p.serverOffset }])),
  };
}

/**
 * `connKey` is the tuple key of the record's connection (tupleKeyOfConnId of its id, computed
 * once per connection by the caller), undefined for service-wide records.
 */
export function isLive(
  kind: Kind,
  lsn: number,
  end: number,
  connKey: string | undefined,
  conn: ConnRetention | undefined,
  ckpt: CheckpointRetention | undefined,
): boolean {
  if (conn?.closed) return false;
  if (!ckpt || lsn > ckpt.lsn) return true;
  // Below the checkpoint from here on.
  if (connKey === undefined) return false; // service-wide: folded into the state
  const pos = ckpt.positions.get(connKey);
  if (pos === undefined) return true; // the state does not know this connection: keep all of it
  switch (kind) {
    case Kind.Opened:
      return conn === undefined || lsn === conn.lastOpenedLsn;
    case Kind.CloseIntent:
      return true;
    case Kind.ClientData:
    case Kind.ShimChunks:
      return end > pos.clientOffset;
    case Kind.ClientFin:
      return end >= pos.clientOffset;
    case Kind.ServerProgress:
      return lsn === conn?.lastProgressLsn || end > pos.serverOffset;
    default:
      return false; // accept order, global order, nondeterministic values: in the state
  }
}

/** Client-stream kinds are the ones a Read `from_offset` filters. */
export function isClientStream(kind: Kind): boolean {
  return kind === Kind.ClientData || kind === Kind.ClientFin || kind === Kind.ShimChunks;
}
