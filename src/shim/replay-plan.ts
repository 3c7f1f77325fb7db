// What a restarted app must be given again, built from one service-wide read of the log: the
// connections that are still open (restored by the daemon), the chunks each was handed, in the
// service-wide delivery order, and the nondeterministic values the app drew between them.
import type { ReadItem } from '../log/client.js';
import { tupleKeyOfConnId } from '../log/conn-key.js';
import { decodeEnvelope, type CheckpointEnvelope } from './checkpoint-envelope.js';

export interface PlannedConn {
  shimId: string;
  tuple: string;
  acceptOrder: number;
  /** Global order of the accept; -1 when the accept is folded into a checkpoint. */
  acceptG: number;
  /** Client-stream offset the restored socket starts at (the checkpoint's, else 0). */
  clientBase: number;
  /** Server-stream offset the restored socket starts at. */
  serverBase: number;
  /** Server bytes to write again before anything else (unacknowledged at the checkpoint). */
  pending: Buffer;
  /** Chunks to hand over again, in stream order, all at or above clientBase. */
  chunks: PlannedChunk[];
}

export interface PlannedChunk {
  g: number;
  offset: number;
  length: number;
}

export type ReplayEvent = { g: number; kind: 'accept'; conn: PlannedConn } | { g: number; kind: 'chunk'; conn: PlannedConn; chunk: PlannedChunk };

export interface PlannedValue {
  g: number;
  name: string;
  value: Uint8Array;
}

export interface ReplayPlan {
  /** Restorable connections by tuple key. */
  conns: Map<string, PlannedConn>;
  /** Accepts and chunks after the checkpoint, by global order. */
  events: ReplayEvent[];
  /** Nondeterministic values after the checkpoint, by global order. */
  values: PlannedValue[];
  /** Shim connections in the log that will not come back (their daemon connection is gone). */
  stale: string[];
  nextGlobalOrder: number;
  nextAcceptOrder: number;
  checkpoint: CheckpointEnvelope | undefined;
}

interface Seen {
  shimId: string;
  tuple: string;
  acceptOrder: number;
  acceptG: number;
  lsn: number;
  chunks: PlannedChunk[];
  closedByApp: boolean;
  closedByShim: boolean;
}

/** Builds the plan; throws only if the checkpoint's state is not a shim checkpoint. */
export function buildReplayPlan(items: Iterable<ReadItem>): ReplayPlan {
  let envelope: CheckpointEnvelope | undefined;
  let ckptLsn = 0;
  const positions = new Map<string, { clientOffset: number; serverOffset: number }>();
  const shim = new Map<string, Seen>();
  const daemonOpen = new Set<string>(); // tuple keys with a live daemon connection
  const values: PlannedValue[] = [];
  let maxG = -1;
  let maxAccept = -1;

  const seen = (connId: string): Seen => {
    let s = shim.get(connId);
    if (!s) {
      s = { shimId: connId, tuple: tupleKeyOfConnId(connId), acceptOrder: -1, acceptG: -1, lsn: 0, chunks: [], closedByApp: false, closedByShim: false };
      shim.set(connId, s);
    }
    return s;
  };

  for (const it of items) {
    if (it.type === 'checkpoint') {
      envelope = decodeEnvelope(it.checkpoint.state);
      ckptLsn = it.checkpoint.lsn;
      for (const p of it.checkpoint.positions) positions.set(p.connId, { clientOffset: p.clientOffset, serverOffset: p.serverOffset });
      for (const c of envelope.conns) {
        const s = seen(c.id);
        s.acceptOrder = c.acceptOrder;
        s.lsn = ckptLsn;
      }
      maxG = Math.max(maxG, envelope.nextGlobalOrder - 1);
      maxAccept = Math.max(maxAccept, envelope.nextAcceptOrder - 1);
      continue;
    }
    const r = it.record;
    const k = r.kind;
    if (!k) continue;
    switch (k.$case) {
      case 'opened':
        daemonOpen.add(tupleKeyOfConnId(r.connId));
        break;
      case 'shimAccept': {
        const s = seen(r.connId);
        s.acceptOrder = k.value.acceptOrder;
        s.acceptG = k.value.globalOrder;
        s.lsn = it.lsn;
        maxG = Math.max(maxG, k.value.globalOrder);
        maxAccept = Math.max(maxAccept, k.value.acceptOrder);
        break;
      }
      case 'shimChunks': {
        const s = seen(r.connId);
        let off = k.value.offset;
        let g = k.value.globalOrder;
        for (const len of k.value.lengths) {
          s.chunks.push({ g, offset: off, length: len });
          off += len;
          g++;
        }
        maxG = Math.max(maxG, g - 1);
        break;
      }
      case 'closeIntent': {
        const s = seen(r.connId);
        if (k.value.how !== 1) s.closedByApp = true; // DESTROY or RESET: nothing more is delivered
        maxG = Math.max(maxG, k.value.globalOrder);
        break;
      }
      case 'closed':
        if (shim.has(r.connId)) shim.get(r.connId)!.closedByShim = true;
        break;
      case 'nondeterministic':
        values.push({ g: k.value.globalOrder, name: k.value.name, value: k.value.value });
        maxG = Math.max(maxG, k.value.globalOrder);
        break;
      default:
        break;
    }
  }

  // The newest shim connection of each tuple is the one a restored socket belongs to.
  const newest = new Map<string, Seen>();
  for (const s of shim.values()) {
    if (s.acceptOrder < 0) continue; // chunks without an accept: the accept was lost with a crash
    const cur = newest.get(s.tuple);
    if (!cur || s.acceptOrder > cur.acceptOrder) newest.set(s.tuple, s);
  }
  const ckptG = envelope ? envelope.nextGlobalOrder : 0;
  const pendingById = new Map(envelope?.conns.map((c) => [c.id, c.pending]) ?? []);
  const conns = new Map<string, PlannedConn>();
  const stale: string[] = [];
  for (const s of shim.values()) {
    const restorable = newest.get(s.tuple) === s && daemonOpen.has(s.tuple) && !s.closedByApp && !s.closedByShim;
    if (!restorable) {
      if (!s.closedByShim) stale.push(s.shimId);
      continue;
    }
    const pos = positions.get(s.shimId);
    const clientBase = pos?.clientOffset ?? 0;
    const chunks = s.chunks.filter((c) => c.g >= ckptG && c.offset >= clientBase).sort((a, b) => a.offset - b.offset);
    conns.set(s.tuple, {
      shimId: s.shimId,
      tuple: s.tuple,
      acceptOrder: s.acceptOrder,
      acceptG: s.acceptG >= ckptG ? s.acceptG : -1,
      clientBase,
      serverBase: pos?.serverOffset ?? 0,
      pending: pendingById.get(s.shimId) ?? Buffer.alloc(0),
      chunks: contiguous(chunks, clientBase),
    });
  }

  const events: ReplayEvent[] = [];
  for (const c of conns.values()) {
    if (c.acceptG >= 0) events.push({ g: c.acceptG, kind: 'accept', conn: c });
    for (const chunk of c.chunks) events.push({ g: chunk.g, kind: 'chunk', conn: c, chunk });
  }
  events.sort((a, b) => a.g - b.g);
  return {
    conns,
    events,
    values: values.filter((v) => v.g >= ckptG).sort((a, b) => a.g - b.g),
    stale,
    nextGlobalOrder: maxG + 1,
    nextAcceptOrder: maxAccept + 1,
    checkpoint: envelope,
  };
}

/**
 * Keeps the chunks that continue the stream from `from` without a gap: a chunk after a gap
 * (its predecessor's record was lost in the crash) cannot be handed over at the same offset.
 */
function contiguous(chunks: PlannedChunk[], from: number): PlannedChunk[] {
  const out: PlannedChunk[] = [];
  let next = from;
  for (const c of chunks) {
    if (c.offset < next) continue; // a duplicate (a record resent after a reconnect)
    if (c.offset > next) break;
    out.push(c);
    next = c.offset + c.length;
  }
  return out;
}
