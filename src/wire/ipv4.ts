// IPv4 header: zero-copy view (Ipv4Packet) and plain representation (Ipv4Repr), after smoltcp's wire::ipv4.
import { checksumOf, csumReplace16, sumBytes } from './checksum.js';
import { formatIpv4, type IpAddr, toAddrBytes } from './addr.js';

export const IPV4_MIN_HEADER = 20;
export const IP_PROTO_TCP = 6;

export type Ipv4WrapResult = 'ok' | 'truncated-ip' | 'bad-ip-version' | 'bad-ip-header' | 'bad-ip-length';

const EMPTY = Buffer.alloc(0);

/**
 * View over an IPv4 header in `buf` at `off`. `wrap` checks what every accessor relies on (version,
 * IHL, total length within the bytes given); it never allocates, so one view serves every packet.
 */
export class Ipv4Packet {
  buf: Buffer = EMPTY;
  off = 0;
  /** Bytes available from `off` (may exceed totalLen: link-layer padding). */
  len = 0;

  /**
   * `allowShort` accepts a packet cut short after its header (a capture's snap length): header
   * accessors stay safe, payload bytes past `len` are absent.
   */
  wrap(buf: Buffer, off: number, len: number, allowShort = false): Ipv4WrapResult {
    this.buf = buf;
    this.off = off;
    this.len = len;
    if (len < IPV4_MIN_HEADER || off + len > buf.length) return 'truncated-ip';
    const b0 = buf[off]!;
    if (b0 >> 4 !== 4) return 'bad-ip-version';
    const ihl = (b0 & 0x0f) * 4;
    if (ihl < IPV4_MIN_HEADER) return 'bad-ip-header';
    const total = (buf[off + 2]! << 8) | buf[off + 3]!;
    if (total < ihl) return 'bad-ip-length';
    if (ihl > len) return 'truncated-ip';
    if (total > len && !allowShort) return 'truncated-ip';
    return 'ok';
  }

  get version(): number {
    return this.buf[this.off]! >> 4;
  }
  get headerLen(): number {
    return (this.buf[this.off]! & 0x0f) * 4;
  }
  get tos(): number {
    return this.buf[this.off + 1]!;
  }
  get totalLen(): number {
    return (this.buf[this.off + 2]! << 8) | this.buf[this.off + 3]!;
  }
  get ident(): number {
    return (this.buf[this.off + 4]! << 8) | this.buf[this.off + 5]!;
  }
  get dontFrag(): boolean {
    return (this.buf[this.off + 6]! & 0x40) !== 0;
  }
  get moreFrags(): boolean {
    return (this.buf[this.off + 6]! & 0x20) !== 0;
  }
  /** Fragment offset in bytes. */
  get fragOffset(): number {
    return (((this.buf[this.off + 6]! & 0x1f) << 8) | this.buf[this.off + 7]!) * 8;
  }
  /** A fragment (first, middle or last): callers pass it through untouched. */
  get isFragment(): boolean {
    return (((this.buf[this.off + 6]! & 0x3f) << 8) | this.buf[this.off + 7]!) !== 0;
  }
  get ttl(): number {
    return this.buf[this.off + 8]!;
  }
  get protocol(): number {
    return this.buf[this.off + 9]!;
  }
  get checksum(): number {
    return (this.buf[this.off + 10]! << 8) | this.buf[this.off + 11]!;
  }
  /** Source address as an unsigned 32-bit number. */
  get srcAddr(): number {
    return this.buf.readUInt32BE(this.off + 12);
  }
  get dstAddr(): number {
    return this.buf.readUInt32BE(this.off + 16);
  }
  get srcText(): string {
    return formatIpv4(this.buf, this.off + 12);
  }
  get dstText(): string {
    return formatIpv4(this.buf, this.off + 16);
  }
  get payloadOffset(): number {
    return this.off + this.headerLen;
  }
  get payloadLen(): number {
    return this.totalLen - this.headerLen;
  }

  verifyChecksum(): boolean {
    return checksumOf(this.buf, this.off, this.headerLen) === 0;
  }
  fillChecksum(): void {
    this.buf[this.off + 10] = 0;
    this.buf[this.off + 11] = 0;
    const c = checksumOf(this.buf, this.off, this.headerLen);
    this.buf[this.off + 10] = c >> 8;
    this.buf[this.off + 11] = c & 0xff;
  }

  /** Rewrite TTL in place, updating the header checksum incrementally. */
  setTtl(ttl: number): void {
    const o = this.off + 8;
    const oldWord = (this.buf[o]! << 8) | this.buf[o + 1]!;
    this.buf[o] = ttl;
    this.setChecksumWord(csumReplace16(this.checksum, oldWord, (ttl << 8) | this.buf[o + 1]!));
  }

  /** Rewrite total length in place (e.g. after trimming payload), updating the checksum incrementally. */
  setTotalLen(total: number): void {
    const old = this.totalLen;
    this.buf[this.off + 2] = total >> 8;
    this.buf[this.off + 3] = total & 0xff;
    this.setChecksumWord(csumReplace16(this.checksum, old, total));
  }

  private setChecksumWord(c: number): void {
    this.buf[this.off + 10] = c >> 8;
    this.buf[this.off + 11] = c & 0xff;
  }

  /** Sum of the source and destination addresses, for the TCP pseudo-header. */
  addrSum(): number {
    return sumBytes(this.buf, this.off + 12, 8);
  }
}

/** Plain IPv4 header fields. Options are raw bytes (length a multiple of 4, at most 40). */
export interface Ipv4Repr {
  src: string;
  dst: string;
  protocol: number;
  ttl: number;
  tos: number;
  ident: number;
  dontFrag: boolean;
  /** Length of what follows the header. */
  payloadLen: number;
  options: Buffer;
}

export function parseIpv4Repr(p: Ipv4Packet): Ipv4Repr {
  const hl = p.headerLen;
  return {
    src: p.srcText,
    dst: p.dstText,
    protocol: p.protocol,
    ttl: p.ttl,
    tos: p.tos,
    ident: p.ident,
    dontFrag: p.dontFrag,
    payloadLen: p.totalLen - hl,
    options: Buffer.from(p.buf.subarray(p.off + IPV4_MIN_HEADER, p.off + hl)),
  };
}

export function ipv4HeaderLen(r: Pick<Ipv4Repr, 'options'>): number {
  return IPV4_MIN_HEADER + ((r.options.length + 3) & ~3);
}

/** Write the header (with a correct checksum) at `off`; returns the header length. */
export function emitIpv4(
  r: Omit<Ipv4Repr, 'src' | 'dst'> & { src: IpAddr; dst: IpAddr },
  buf: Buffer,
  off: number,
): number {
  const hl = ipv4HeaderLen(r);
  if (hl > 60) throw new RangeError('IPv4 options longer than 40 bytes');
  const src = toAddrBytes(r.src);
  const dst = toAddrBytes(r.dst);
  if (src.length !== 4 || dst.length !== 4) throw new RangeError('IPv4 header needs IPv4 addresses');
  const total = hl + r.payloadLen;
  if (total > 0xffff) throw new RangeError('IPv4 packet longer than 65535 bytes');
  buf[off] = 0x40 | (hl >> 2);
  buf[off + 1] = r.tos;
  buf.writeUInt16BE(total, off + 2);
  buf.writeUInt16BE(r.ident & 0xffff, off + 4);
  buf[off + 6] = r.dontFrag ? 0x40 : 0;
  buf[off + 7] = 0;
  buf[off + 8] = r.ttl;
  buf[off + 9] = r.protocol;
  buf[off + 10] = 0;
  buf[off + 11] = 0;
  buf.set(src, off + 12);
  buf.set(dst, off + 16);
  buf.set(r.options, off + IPV4_MIN_HEADER);
  buf.fill(0, off + IPV4_MIN_HEADER + r.options.length, off + hl);
  const c = checksumOf(buf, off, hl);
  buf[off + 10] = c >> 8;
  buf[off + 11] = c & 0xff;
  return hl;
}
