// Protobuf varints for the hand-laid encoders (client-data-record.ts, append-sink.ts).

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
