// The bytes the shim stores as a checkpoint's `state`: the app's state plus what the shim itself
// needs to resume (its counters and, per connection, the server bytes the client had not yet
// acknowledged, which the restored app will not produce again).
export interface EnvelopeConn {
  /** Shim connection id ("<tuple>#<accept order>"). */
  id: string;
  acceptOrder: number;
  /** Server-stream bytes from the checkpoint's server offset up to what the app had written. */
  pending: Buffer;
}

export interface CheckpointEnvelope {
  /** Events with a global order below this are folded into the state. */
  nextGlobalOrder: number;
  nextAcceptOrder: number;
  conns: EnvelopeConn[];
  /** The app's state: a JSON value, or raw bytes. */
  app: unknown;
}

interface Wire {
  v: 1;
  g: number;
  a: number;
  conns: { id: string; a: number; pending: string }[];
  app: { json: unknown } | { bin: string } | null;
}

export function encodeEnvelope(e: CheckpointEnvelope): Buffer {
  const app = e.app === undefined ? null : Buffer.isBuffer(e.app) || e.app instanceof Uint8Array ? { bin: Buffer.from(e.app).toString('base64') } : { json: e.app };
  const w: Wire = {
    v: 1,
    g: e.nextGlobalOrder,
    a: e.nextAcceptOrder,
    conns: e.conns.map((c) => ({ id: c.id, a: c.acceptOrder, pending: c.pending.toString('base64') })),
    app,
  };
  return Buffer.from(JSON.stringify(w));
}

export class EnvelopeError extends Error {}

export function decodeEnvelope(bytes: Uint8Array): CheckpointEnvelope {
  let w: Wire;
  try {
    w = JSON.parse(Buffer.from(bytes).toString('utf8')) as Wire;
  } catch (err) {
    throw new EnvelopeError(`checkpoint state is not a shim checkpoint: ${(err as Error).message}`);
  }
  if (w?.v !== 1 || typeof w.g !== 'number' || typeof w.a !== 'number' || !Array.isArray(w.conns)) {
    throw new EnvelopeError('checkpoint state is not a version-1 shim checkpoint');
  }
  let app: unknown;
  if (w.app === null || w.app === undefined) app = undefined;
  else if ('bin' in w.app) app = Buffer.from(w.app.bin, 'base64');
  else app = w.app.json;
  return {
    nextGlobalOrder: w.g,
    nextAcceptOrder: w.a,
    conns: w.conns.map((c) => ({ id: c.id, acceptOrder: c.a, pending: Buffer.from(c.pending, 'base64') })),
    app,
  };
}
