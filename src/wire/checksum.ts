// Internet checksum (RFC 1071) and incremental update (RFC 1624, eqn. 3).
// Sums are kept as plain numbers and folded at the end: JS numbers are exact to 2^53, so a 64 KiB
// buffer (32 Ki words of at most 0xffff) cannot lose precision before folding.

/** Fold a running sum to 16 bits with end-around carry. */
export function foldSum(sum: number): number {
  while (sum > 0xffff) sum = (sum & 0xffff) + Math.floor(sum / 0x10000);
  return sum;
}

/**
 * Unfolded ones'-complement sum of `len` bytes at `off`, as 16-bit big-endian words aligned to `off`.
 * An odd trailing byte is padded with zero (RFC 1071).
 */
export function sumBytes(buf: Uint8Array, off: number, len: number, initial = 0): number {
  let sum = initial;
  const end = off + (len & ~1);
  let i = off;
  // Four words per round keeps the loop short; the sum stays far below 2^53.
  for (; i + 8 <= end; i += 8) {
    sum +=
      ((buf[i]! << 8) | buf[i + 1]!) +
      ((buf[i + 2]! << 8) | buf[i + 3]!) +
      ((buf[i + 4]! << 8) | buf[i + 5]!) +
      ((buf[i + 6]! << 8) | buf[i + 7]!);
  }
  for (; i < end; i += 2) sum += (buf[i]! << 8) | buf[i + 1]!;
  if (len & 1) sum += buf[off + len - 1]! << 8;
  return sum;
}

/** Final checksum value (complemented, folded) of bytes plus an initial sum. */
export function checksumOf(buf: Uint8Array, off: number, len: number, initial = 0): number {
  return ~foldSum(sumBytes(buf, off, len, initial)) & 0xffff;
}

/** Pseudo-header sum for TCP/UDP over IPv4: addresses are read from the IPv4 header at `ipOff`. */
export function pseudoSumV4(buf: Uint8Array, ipOff: number, protocol: number, l4Len: number): number {
  return sumBytes(buf, ipOff + 12, 8) + protocol + l4Len;
}

/** Pseudo-header sum for IPv6 (RFC 8200 §8.1): addresses are read from the IPv6 header at `ipOff`. */
export function pseudoSumV6(buf: Uint8Array, ipOff: number, nextHeader: number, l4Len: number): number {
  return sumBytes(buf, ipOff + 8, 32) + Math.floor(l4Len / 0x10000) + (l4Len & 0xffff) + nextHeader;
}

/**
 * RFC 1624 eqn. 3: new checksum after one 16-bit word of the covered data changes from `oldWord` to
 * `newWord`. `HC' = ~(~HC + ~m + m')`.
 */
export function csumReplace16(checksum: number, oldWord: number, newWord: number): number {
  const sum = (~checksum & 0xffff) + (~oldWord & 0xffff) + (newWord & 0xffff);
  return ~foldSum(sum) & 0xffff;
}

/**
 * Checksum update for a 32-bit value changing from `oldValue` to `newValue`. `odd` says the value starts
 * at an odd byte offset relative to the checksummed data; its bytes then land in the other halves of
 * the words, which byte-swaps their contribution to the sum (RFC 1071 §2(B)).
 */
export function csumReplace32(checksum: number, oldValue: number, newValue: number, odd = false): number {
  let diff =
    (~(oldValue >>> 16) & 0xffff) + (~oldValue & 0xffff) + ((newValue >>> 16) & 0xffff) + (newValue & 0xffff);
  diff = foldSum(diff);
  if (odd) diff = ((diff & 0xff) << 8) | (diff >>> 8);
  return ~foldSum((~checksum & 0xffff) + diff) & 0xffff;
}

/** Like csumReplace16 for a word at an odd offset (its bytes straddle two checksum words). */
export function csumReplace16Odd(checksum: number, oldWord: number, newWord: number): number {
  let diff = foldSum((~oldWord & 0xffff) + (newWord & 0xffff));
  diff = ((diff & 0xff) << 8) | (diff >>> 8);
  return ~foldSum((~checksum & 0xffff) + diff) & 0xffff;
}
