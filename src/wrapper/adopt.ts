// Connections a daemon finds open in the log when it starts: after its own crash (same host, same
// log) or when it takes over from a failed primary host (the replicated log). Each is rebuilt from
// its records — the handshake parameters, the client stream logged so far, the client's FIN — and
// then held like a connection whose app crashed, until the restarted app restores it.
//
// What the log does not say (how much of the server stream the client acknowledged, the last TSval
// it saw) the wrapper learns from the client itself (second-wrapper.ts, "learning"): its reply to
// an out-of-window probe carries both.
import type { CheckpointInfo, ConnectionOpened, Record as LogRecord } from '../log/gen/ftcp/v1/log.js';
import { tupleKeyOfConnId } from '../log/conn-key.js';

export interface AdoptedConn {
  id: string;
  /** The connection record (the newest, as re-logged after checkpoints). */
  opened: ConnectionOpened;
  /** Client-stream offset the logged stream starts at (the checkpoint's position, else 0). */
  clientStart: number;
  /** Server-stream offset of the checkpoint's position (0 without one). */
  serverStart: number;
  /** Logged client bytes at or above clientStart: [start, end) ranges, sorted and merged. */
  pieces: Array<[number, number]>;
  /** Offset of the client's logged FIN, -1 if none. */
  finOff: number;
}

const YIELD_EVERY_MS = 4;

interface Acc {
  opened: ConnectionOpened | undefined;
  /** Logged client bytes, merged as they come (mostly contiguous appends). */
  pieces: Array<[number, number]>;
  finOff: number;
}

/**
 * The fold of a service's records (in log order) into the connections still open: an opened
 * record and no closed record. Only the daemon's records count (ids end in `/<irs>`); the shim's
 * own records are its business. Fed a whole log at start (collectAdoptable), or record by record
 * by a hot standby as the log grows, so that a takeover does not start with a full read.
 * Applying a record twice changes nothing.
 */
export class AdoptionFold {
  private readonly accs = new Map<string, Acc>();

  get size(): number {
    return this.accs.size;
  }

  add(r: LogRecord): void {
    const k = r.kind;
    if (!k || r.connId === '' || !isDaemonConnId(r.connId)) return;
    if (k.$case === 'closed') {
      this.accs.delete(r.connId);
      return;
    }
    if (k.$case !== 'opened' && k.$case !== 'clientData' && k.$case !== 'clientFin') return;
    let a = this.accs.get(r.connId);
    if (!a) {
      a = { opened: undefined, pieces: [], finOff: -1 };
      this.accs.set(r.connId, a);
    }
    if (k.$case === 'opened') a.opened = k.value;
    else if (k.$case === 'clientFin') a.finOff = k.value.offset;
    else addPiece(a.pieces, k.value.offset, k.value.offset + k.value.data.length);
  }

  /** The open connections, with a checkpoint's positions applied. */
  result(ckpt?: CheckpointInfo): AdoptedConn[] {
    const positions = new Map<string, { clientOffset: number; serverOffset: number }>();
    for (const p of ckpt?.positions ?? []) positions.set(tupleKeyOfConnId(p.connId), p);
    const out: AdoptedConn[] = [];
    for (const [id, a] of this.accs) {
      if (!a.opened) continue;
      const pos = positions.get(tupleKeyOfConnId(id));
      const clientStart = pos?.clientOffset ?? 0;
      out.push({
        id,
        opened: a.opened,
        clientStart,
        serverStart: pos?.serverOffset ?? 0,
        pieces: mergePieces(a.pieces, clientStart),
        finOff: a.finOff,
      });
    }
    return out;
  }
}

/** Appends [s, e) to sorted, merged pieces; the common case (contiguous with the last) is O(1). */
function addPiece(pieces: Array<[number, number]>, s: number, e: number): void {
  if (e <= s) return;
  const last = pieces[pieces.length - 1];
  if (!last || s > last[1]) pieces.push([s, e]); // after the last (with or without a gap)
  else if (s >= last[0]) last[1] = Math.max(last[1], e); // overlaps or touches the last
  else {
    // Out of order (a resend of older bytes): merge everything again.
    const merged = mergePieces([...pieces, [s, e]], 0);
    pieces.length = 0;
    pieces.push(...merged);
  }
}

/** Folds a whole log (see AdoptionFold), yielding to the event loop every few milliseconds. */
export async function collectAdoptable(records: AsyncIterable<LogRecord> | Iterable<LogRecord>, ckpt?: CheckpointInfo): Promise<AdoptedConn[]> {
  const fold = new AdoptionFold();
  let lastYield = performance.now();
  for await (const r of records) {
    // A takeover reads thousands of records while the VIP claim (child processes) is under way:
    // let the event loop serve it every few milliseconds instead of after the whole read.
    if (performance.now() - lastYield > YIELD_EVERY_MS) {
      await new Promise((resolve) => setImmediate(resolve));
      lastYield = performance.now();
    }
    fold.add(r);
  }
  return fold.result(ckpt);
}

/** The daemon names a connection `<tuple>/<irs>` (conn-key.ts); the shim `<tuple>#<n>`. */
function isDaemonConnId(id: string): boolean {
  const slash = id.lastIndexOf('/');
  return slash > 0 && slash < id.length - 1 && /^\d+$/.test(id.slice(slash + 1));
}

/** Sorted, merged ranges, cut at `from` (bytes below a checkpoint's position are not needed). */
export function mergePieces(pieces: Array<[number, number]>, from: number): Array<[number, number]> {
  const sorted = pieces
    .map(([s, e]): [number, number] => [Math.max(s, from), e])
    .filter(([s, e]) => e > s)
    .sort((x, y) => x[0] - y[0]);
  const out: Array<[number, number]> = [];
  for (const [s, e] of sorted) {
    const last = out[out.length - 1];
    if (last && s <= last[1]) last[1] = Math.max(last[1], e);
    else out.push([s, e]);
  }
  return out;
}
