// Protobuf varints for the hand-laid encoders (client-data-record.ts, append-sink.ts) and the
// log server's fast decoders (append-request-decode.ts, client-data-record.ts).

/** Bytes of a protobuf varint for a non-negative integer up to 2^53. */
export function varintSize(v: number): number {
  let n = 1;
  while (v >= 128) {
    v = Math.floor(v / 128);
    n++;
  }
  return n;
}

/** Writes a varint at `at`; returns the position after it. */
export function putVarint(b: Uint8Array, at: number, v: number): number {
  while (v >= 128) {
    b[at++] = (v % 128) | 128;
    v = Math.floor(v / 128);
  }
  b[at++] = v;
  return at;
}

/**
 * The varint at `at`, or -1 if it is cut short or longer than 8 bytes (over 2^56: the callers
 * then fall back to the generated decoder, which applies the 2^53 limit and its own errors).
 */
export function readVarint(b: Uint8Array, at: number): number {
  let v = 0;
  let mul = 1;
  for (let i = 0; i < 8; i++) {
    if (at + i >= b.length) return -1;
    const byte = b[at + i]!;
    v += (byte & 127) * mul;
    if (byte < 128) return Number.isSafeInteger(v) ? v : -1;
    mul *= 128;
  }
  return -1;
}

/** The position just past the varint at `at` (which readVarint accepted). */
export function varintEnd(b: Uint8Array, at: number): number {
  while (b[at]! >= 128) at++;
  return at + 1;
}
