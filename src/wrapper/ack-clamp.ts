// Output commit on the acknowledgement (claims 2-3): the client never sees an ACK beyond the
// durable point, and the window is re-encoded so that the edge it promises never reaches past the
// stack's own right edge, nor moves back from an edge the client was promised before (a restarted
// stack may offer less than its predecessor did). All positions are client-stream offsets
// (64-bit), so wrap-around cannot confuse the comparisons.

export interface ClampResult {
  /** Acknowledged offset the client sees: min(stack ack, durable point). */
  ackOff: number;
  /** Window field in the client's scale (0..65535). */
  windowField: number;
  /**
   * The right edge promised: max(the stack's edge, the last one promised). The edge the client
   * sees, ackOff + windowField << scale, is the largest below it in the client's window unit.
   */
  rightEdgeOff: number;
  /** True when the stack acknowledged more than is durable (the ACK was lowered). */
  clamped: boolean;
}

const MAX_FIELD = 0xffff;

/**
 * @param stackAckOff   what the stack acknowledges
 * @param stackWindow   the stack's window in bytes (already unscaled with the stack's shift)
 * @param durableOff    rcvLogged
 * @param lastRightEdge right edge already promised to the client (-1 before any)
 * @param clientShift   window scale shift the client expects from the server (0 without scaling)
 */
export function clampAck(
  stackAckOff: number,
  stackWindow: number,
  durableOff: number,
  lastRightEdge: number,
  clientShift: number,
  out: ClampResult = { ackOff: 0, windowField: 0, rightEdgeOff: 0, clamped: false },
): ClampResult {
  const ackOff = stackAckOff < durableOff ? stackAckOff : durableOff;
  const stackEdge = stackAckOff + stackWindow;
  const edge = stackEdge > lastRightEdge ? stackEdge : lastRightEdge;
  // Rounded down, never up: an edge past the stack's lets the client send beyond its window, and
  // Linux then drops even the client's pure ACKs as out of window (their seq is the client's
  // snd_nxt) — with the app blocked on a full send buffer, the connection deadlocks. Rounding up
  // at every lowered ACK also ratcheted the edge a unit further each time (seen: a 1 KiB unit,
  // the stack's window closed, the client's ACKs ignored for good). The cost: between two ACKs
  // the edge the client sees may fall back by less than one unit, which senders must tolerate
  // (RFC 9293, 3.8.6).
  let field = Math.floor((edge - ackOff) / 2 ** clientShift);
  if (field > MAX_FIELD) field = MAX_FIELD;
  if (field < 0) field = 0;
  out.ackOff = ackOff;
  out.windowField = field;
  out.rightEdgeOff = edge;
  out.clamped = ackOff < stackAckOff;
  return out;
}

/** Re-encodes a window field from one scale shift to another (recovery: the new stack's scale). */
export function rescaleWindow(field: number, fromShift: number, toShift: number): number {
  if (fromShift === toShift) return field;
  const bytes = field * 2 ** fromShift;
  const out = Math.floor(bytes / 2 ** toShift);
  return out > MAX_FIELD ? MAX_FIELD : out;
}
