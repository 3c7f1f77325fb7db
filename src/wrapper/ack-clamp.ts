// Output commit on the acknowledgement (claims 2-3): the client never sees an ACK beyond the
// durable point, and the window is re-encoded so its right edge never moves back. All positions
// are client-stream offsets (64-bit), so wrap-around cannot confuse the comparisons.

export interface ClampResult {
  /** Acknowledged offset the client sees: min(stack ack, durable point). */
  ackOff: number;
  /** Window field in the client's scale (0..65535). */
  windowField: number;
  /** Right edge the client sees (ackOff + windowField << scale). */
  rightEdgeOff: number;
  /** True when the stack acknowledged more than is durable (the ACK was lowered). */
  clamped: boolean;
}

const MAX_FIELD = 0xffff;

/**
 * @param stackAckOff   what the stack acknowledges
 * @param stackWindow   the stack's window in bytes (already unscaled with the stack's shift)
 * @param durableOff    rcvLogged
 * @param lastRightEdge right edge already shown to the client (-1 before any)
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
  const unit = 2 ** clientShift;
  let field = Math.floor((edge - ackOff) / unit);
  // Rounding down may pull the edge back below what the client was shown: round up then.
  if (ackOff + field * unit < lastRightEdge) field++;
  if (field > MAX_FIELD) field = MAX_FIELD;
  if (field < 0) field = 0;
  out.ackOff = ackOff;
  out.windowField = field;
  out.rightEdgeOff = ackOff + field * unit;
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
