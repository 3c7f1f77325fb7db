// Hidden-class hygiene for the connection state. V8 keeps an object field that has only held
// small integers in a narrow representation; the first larger or fractional value (a stream
// offset past 2^31, a right edge computed with `2 **`, a timestamp) changes the hidden class every
// instance shares and throws away all code optimized for the old one — at the worst moment, the
// first restore (seen: a real connection's `lastRightEdge` did it right after the warm-up drill,
// and the whole restore path was compiled again during a takeover). So every number field of the
// connection classes is stored once as a non-integer on a throwaway object, before any real one.
import { ClientStream } from './client-stream.js';
import { TcpConn } from './conn.js';
import { ReplaySource } from './replay-source.js';
import { ServerStreamHasher, StreamVerifier } from './server-stream-hash.js';

/** Every number field of `obj` stored once as a non-integer, then given back its value. */
export function widenNumberFields(obj: object): void {
  const o = obj as { [k: string]: unknown };
  for (const k of Object.keys(o)) {
    const v = o[k];
    if (typeof v !== 'number') continue;
    o[k] = 0.5;
    o[k] = v;
  }
}

let widened = false;

/** Widens the connection state classes the wrapper works on; once per process. */
export function widenConnClasses(): void {
  if (widened) return;
  widened = true;
  const conn = new TcpConn({
    id: 'widen',
    ipVersion: 4,
    clientAddr: Uint8Array.from([192, 0, 2, 2]),
    clientPort: 1,
    serverAddr: Uint8Array.from([192, 0, 2, 1]),
    serverPort: 1,
    irs: 1,
    opts: { clientMss: 1460, serverMss: 1460, clientWscale: 7, serverWscale: 7, sackOk: true, tsOk: true, clientSynWindow: 64240 },
  });
  const hasher = new ServerStreamHasher(0);
  for (const o of [conn, conn.client, new ClientStream(0), new ReplaySource(), hasher, new StreamVerifier(hasher.snapshot(), 0)]) widenNumberFields(o);
}
