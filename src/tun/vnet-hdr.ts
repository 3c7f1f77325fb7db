// The virtio_net_hdr in front of every packet of a TUN opened with vnetHdr (IFF_VNET_HDR).
// Layout (little-endian, 12 bytes as configured by the addon):
//   0 flags u8 | 1 gso_type u8 | 2 hdr_len u16 | 4 gso_size u16 | 6 csum_start u16 |
//   8 csum_offset u16 | 10 num_buffers u16 (unused by TUN: undefined on read, ignored on write)
// Read side: NEEDS_CSUM means the L4 checksum is partial (only the pseudo-header sum is filled
// in; the bytes from csum_start on still need summing, the result goes to csum_start +
// csum_offset). A gso_type other than NONE means one "super segment" the receiver splits into
// gso_size-byte payloads. Writes may hand such packets back unchanged.

export const VNET_HDR_LEN = 12;

export const VnetFlags = {
  NEEDS_CSUM: 1,
  DATA_VALID: 2,
  RSC_INFO: 4,
} as const;

export const VnetGsoType = {
  NONE: 0,
  TCPV4: 1,
  UDP: 3,
  TCPV6: 4,
  UDP_L4: 5,
  /** Bit or-ed into gso_type: the TCP segments carry ECN CWR. */
  ECN: 0x80,
} as const;

/** The header as plain values (smoltcp-style Repr). */
export interface VnetHdrRepr {
  flags: number;
  gsoType: number;
  hdrLen: number;
  gsoSize: number;
  csumStart: number;
  csumOffset: number;
}

export class VnetHdrTruncated extends Error {
  override readonly name = 'VnetHdrTruncated';
  constructor(readonly available: number) {
    super(`vnet header needs ${VNET_HDR_LEN} bytes, packet has ${available}`);
  }
}

/**
 * Zero-copy accessor over the header at buffer[offset]. Reusable: `at()` re-points it, so the
 * hot path can keep one instance and never allocate.
 */
export class VnetHdrView {
  private buf: Buffer;
  private off: number;

  constructor(buffer: Buffer = Buffer.alloc(VNET_HDR_LEN), offset = 0) {
    this.buf = buffer;
    this.off = offset;
  }

  /** Points the view at the header of a packet of `length` bytes at buffer[offset]. */
  at(buffer: Buffer, offset: number, length = buffer.length - offset): this {
    if (length < VNET_HDR_LEN || offset < 0 || offset + VNET_HDR_LEN > buffer.length) {
      throw new VnetHdrTruncated(Math.max(0, Math.min(length, buffer.length - offset)));
    }
    this.buf = buffer;
    this.off = offset;
    return this;
  }

  get flags(): number {
    return this.buf[this.off]!;
  }
  set flags(v: number) {
    this.buf[this.off] = v;
  }
  get gsoType(): number {
    return this.buf[this.off + 1]!;
  }
  set gsoType(v: number) {
    this.buf[this.off + 1] = v;
  }
  get hdrLen(): number {
    return this.buf.readUInt16LE(this.off + 2);
  }
  set hdrLen(v: number) {
    this.buf.writeUInt16LE(v, this.off + 2);
  }
  get gsoSize(): number {
    return this.buf.readUInt16LE(this.off + 4);
  }
  set gsoSize(v: number) {
    this.buf.writeUInt16LE(v, this.off + 4);
  }
  get csumStart(): number {
    return this.buf.readUInt16LE(this.off + 6);
  }
  set csumStart(v: number) {
    this.buf.writeUInt16LE(v, this.off + 6);
  }
  get csumOffset(): number {
    return this.buf.readUInt16LE(this.off + 8);
  }
  set csumOffset(v: number) {
    this.buf.writeUInt16LE(v, this.off + 8);
  }

  /** The L4 checksum field holds only the pseudo-header sum (checksum offload pending). */
  get needsCsum(): boolean {
    return (this.flags & VnetFlags.NEEDS_CSUM) !== 0;
  }
  /** A GSO super segment (larger than one MSS), to be split by whoever receives it. */
  get isGso(): boolean {
    return (this.gsoType & ~VnetGsoType.ECN) !== VnetGsoType.NONE;
  }

  repr(): VnetHdrRepr {
    return {
      flags: this.flags,
      gsoType: this.gsoType,
      hdrLen: this.hdrLen,
      gsoSize: this.gsoSize,
      csumStart: this.csumStart,
      csumOffset: this.csumOffset,
    };
  }

  emit(repr: VnetHdrRepr): void {
    this.flags = repr.flags;
    this.gsoType = repr.gsoType;
    this.hdrLen = repr.hdrLen;
    this.gsoSize = repr.gsoSize;
    this.csumStart = repr.csumStart;
    this.csumOffset = repr.csumOffset;
    this.buf.writeUInt16LE(0, this.off + 10);
  }
}

/** Parses the header at buffer[offset]; throws VnetHdrTruncated when it does not fit. */
export function parseVnetHdr(buffer: Buffer, offset = 0, length = buffer.length - offset): VnetHdrRepr {
  return new VnetHdrView().at(buffer, offset, length).repr();
}

/** Writes the header at buffer[offset] (12 bytes). */
export function emitVnetHdr(repr: VnetHdrRepr, buffer: Buffer, offset = 0): void {
  new VnetHdrView().at(buffer, offset).emit(repr);
}

/** Header for a packet whose checksums are complete and which is not GSO (all zero). */
export const PLAIN_VNET_HDR: Readonly<VnetHdrRepr> = Object.freeze({
  flags: 0,
  gsoType: VnetGsoType.NONE,
  hdrLen: 0,
  gsoSize: 0,
  csumStart: 0,
  csumOffset: 0,
});
