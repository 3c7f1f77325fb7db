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
  pieces: Array<[number, number]>;
  finOff: number;
  closed: boolean;
}

/**
 * Folds the service's live records (in log order) into the connections still open: an opened
 * record and no closed record. Only the daemon's records count (ids end in `/<irs>`); the shim's
 * own records are its business.
 */
export async function collectAdoptable(records: AsyncIterable<LogRecord> | Iterable<LogRecord>, ckpt?: CheckpointInfo): Promise<AdoptedConn[]> {
  const accs = new Map<string, Acc>();
  const get = (id: string): Acc => {
    let a = accs.get(id);
    if (!a) {
      a = { opened: undefined, pieces: [], finOff: -1, closed: false };
      accs.set(id, a);
    }
    return a;
  };
  let lastYield = performance.now();
  for await (const r of records) {
    // A takeover reads thousands of records while the VIP claim (child processes) is under way:
    // let the event loop serve it every few milliseconds instead of after the whole read.
    if (performance.now() - lastYield > YIELD_EVERY_MS) {
      await new Promise((resolve) => setImmediate(resolve));
      lastYield = performance.now();
    }
    const k = r.kind;
    if (!k || r.connId === '' || !isDaemonConnId(r.connId)) continue;
    switch (k.$case) {
      case 'opened':
        get(r.connId).opened = k.value;
        break;
      case 'clientData':
        get(r.connId).pieces.push([k.value.offset, k.value.offset + k.value.data.length]);
        break;
      case 'clientFin':
        get(r.connId).finOff = k.value.offset;
        break;
      case 'closed':
        get(r.connId).closed = true;
        break;
      default:
        break;
    }
  }
  const positions = new Map<string, { clientOffset: number; serverOffset: number }>();
  for (const p of ckpt?.positions ?? []) positions.set(tupleKeyOfConnId(p.connId), p);
  const out: AdoptedConn[] = [];
  for (const [id, a] of accs) {
    if (!a.opened || a.closed) continue;
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
