// Completing a checksum the kernel left partial (vnet header flag NEEDS_CSUM): what a NIC would
// do on transmit. Needed where a packet leaves the offload world: a capture file, a log record
// of raw bytes, a check of the real checksum. GSO super segments keep their partial sums (each
// segment gets its own when the receiver splits them), so only non-GSO packets are completed.
import { VNET_HDR_LEN, VnetFlags, VnetHdrView } from './vnet-hdr.js';

export class VnetChecksumError extends Error {
  override readonly name = 'VnetChecksumError';
}

const view = new VnetHdrView();

/**
 * If the packet at buffer[offset, offset+length) (vnet header first) has NEEDS_CSUM and is not
 * GSO, computes the checksum in place and clears NEEDS_CSUM (sets DATA_VALID). Returns true when
 * it changed the packet. Throws VnetChecksumError when csum_start/offset point outside it.
 */
export function completePartialChecksum(buffer: Buffer, offset: number, length: number): boolean {
  view.at(buffer, offset, length);
  if (!view.needsCsum || view.isGso) return false;
  const l3 = offset + VNET_HDR_LEN;
  const end = offset + length;
  const start = l3 + view.csumStart;
  const field = start + view.csumOffset;
  if (start >= end || field + 2 > end) {
    throw new VnetChecksumError(
      `csum_start ${view.csumStart} + csum_offset ${view.csumOffset} outside a ${length - VNET_HDR_LEN}-byte packet`,
    );
  }
  const sum = onesComplementSum(buffer, start, end);
  const csum = ~sum & 0xffff;
  // As Linux does (CSUM_MANGLED_0): a computed 0 is sent as 0xffff, equal in one's complement.
  buffer.writeUInt16BE(csum === 0 ? 0xffff : csum, field);
  view.flags = (view.flags & ~VnetFlags.NEEDS_CSUM) | VnetFlags.DATA_VALID;
  return true;
}

/** 16-bit one's complement sum of buffer[start, end), folded (not complemented). */
export function onesComplementSum(buffer: Buffer, start: number, end: number): number {
  let sum = 0;
  let i = start;
  for (; i + 1 < end; i += 2) sum += (buffer[i]! << 8) | buffer[i + 1]!;
  if (i < end) sum += buffer[i]! << 8;
  while (sum > 0xffff) sum = (sum & 0xffff) + (sum >>> 16);
  return sum;
}
