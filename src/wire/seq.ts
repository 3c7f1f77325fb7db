// Modular 32-bit TCP sequence arithmetic (RFC 793 §3.3, RFC 1982) and 64-bit stream offsets.
// Sequence numbers are plain numbers in [0, 2^32). Stream offsets are non-negative integers < 2^53.

const MOD = 0x1_0000_0000;

/** a - b as a signed 32-bit integer: positive when a is after b (within 2^31). */
export function seqDiff(a: number, b: number): number {
  return (a - b) | 0;
}

/** (a + n) mod 2^32 for any integer n (negative allowed). */
export function seqAdd(a: number, n: number): number {
  return (((a + (n % MOD)) % MOD) + MOD) % MOD;
}

export function seqLt(a: number, b: number): boolean {
  return seqDiff(a, b) < 0;
}
export function seqLe(a: number, b: number): boolean {
  return seqDiff(a, b) <= 0;
}
export function seqGt(a: number, b: number): boolean {
  return seqDiff(a, b) > 0;
}
export function seqGe(a: number, b: number): boolean {
  return seqDiff(a, b) >= 0;
}
export function seqMax(a: number, b: number): number {
  return seqDiff(a, b) >= 0 ? a : b;
}
export function seqMin(a: number, b: number): number {
  return seqDiff(a, b) <= 0 ? a : b;
}

/** True when `seq` lies in [left, left + size) modulo 2^32; size 0 is an empty window. */
export function seqInWindow(seq: number, left: number, size: number): boolean {
  return ((seq - left) >>> 0) < size;
}

/** Sequence number of stream offset `offset` in a stream whose byte 0 has sequence number `base`. */
export function seqFromOffset(base: number, offset: number): number {
  return (((base + (offset % MOD)) % MOD) + MOD) % MOD;
}

/**
 * Stream offset of sequence number `seq` (byte 0 at `base`): the one offset congruent to `seq - base`
 * modulo 2^32 nearest to `reference`, an offset known to be within 2^31 of the answer (e.g. the
 * last one seen). Can be negative when `seq` is just before the stream start.
 */
export function offsetFromSeq(base: number, seq: number, reference: number): number {
  const refSeq = seqFromOffset(base, reference);
  return reference + seqDiff(seq, refSeq);
}
