// IPv6 fixed header and extension-header walk: zero-copy view (Ipv6Packet) and Ipv6Repr.
import { sumBytes } from './checksum.js';
import { formatIpv6, type IpAddr, toAddrBytes } from './addr.js';

export const IPV6_HEADER = 40;

export const IPV6_NH_HOP_BY_HOP = 0;
export const IPV6_NH_ROUTING = 43;
export const IPV6_NH_FRAGMENT = 44;
export const IPV6_NH_ESP = 50;
export const IPV6_NH_AH = 51;
export const IPV6_NH_NONE = 59;
export const IPV6_NH_DEST_OPTS = 60;

export type Ipv6WrapResult = 'ok' | 'truncated-ip' | 'bad-ip-version' | 'unsupported-jumbogram';

/** Outcome of the walk to the upper-layer header. */
export type Ipv6WalkResult = 'ok' | 'truncated-ip' | 'bad-ext-header' | 'fragment' | 'unsupported-jumbogram';

const EMPTY = Buffer.alloc(0);

export class Ipv6Packet {
  buf: Buffer = EMPTY;
  off = 0;
  len = 0;
  /** Set by `walk`: upper-layer protocol (e.g. 6) and its absolute offset. */
  upperProtocol = -1;
  upperOffset = 0;

  wrap(buf: Buffer, off: number, len: number, allowShort = false): Ipv6WrapResult {
    this.buf = buf;
    this.off = off;
    this.len = len;
    this.upperProtocol = -1;
    this.upperOffset = 0;
    if (len < IPV6_HEADER || off + len > buf.length) return 'truncated-ip';
    if (buf[off]! >> 4 !== 6) return 'bad-ip-version';
    const pl = (buf[off + 4]! << 8) | buf[off + 5]!;
    // Payload length 0 with a hop-by-hop header is a jumbogram (RFC 2675); not supported.
    if (pl === 0 && buf[off + 6] === IPV6_NH_HOP_BY_HOP) return 'unsupported-jumbogram';
    if (IPV6_HEADER + pl > len && !allowShort) return 'truncated-ip';
    return 'ok';
  }

  get version(): number {
    return this.buf[this.off]! >> 4;
  }
  get trafficClass(): number {
    return ((this.buf[this.off]! & 0x0f) << 4) | (this.buf[this.off + 1]! >> 4);
  }
  get flowLabel(): number {
    return ((this.buf[this.off + 1]! & 0x0f) << 16) | (this.buf[this.off + 2]! << 8) | this.buf[this.off + 3]!;
  }
  get payloadLen(): number {
    return (this.buf[this.off + 4]! << 8) | this.buf[this.off + 5]!;
  }
  get totalLen(): number {
    return IPV6_HEADER + this.payloadLen;
  }
  get nextHeader(): number {
    return this.buf[this.off + 6]!;
  }
  get hopLimit(): number {
    return this.buf[this.off + 7]!;
  }
  get srcText(): string {
    return formatIpv6(this.buf, this.off + 8);
  }
  get dstText(): string {
    return formatIpv6(this.buf, this.off + 24);
  }
  /** Sum of both addresses, for the upper-layer pseudo-header. */
  addrSum(): number {
    return sumBytes(this.buf, this.off + 8, 32);
  }

  /**
   * Skip extension headers (hop-by-hop, routing, destination options, fragment, AH) to the
   * upper-layer header. A fragment header with a non-zero offset or the M flag makes the packet a
   * fragment; an atomic fragment (offset 0, M clear, RFC 6946) is walked through.
   */
  walk(): Ipv6WalkResult {
    const buf = this.buf;
    const end = this.off + Math.min(this.len, this.totalLen);
    let nh = this.nextHeader;
    let p = this.off + IPV6_HEADER;
    for (let guard = 0; guard < 64; guard++) {
      switch (nh) {
        case IPV6_NH_HOP_BY_HOP:
        case IPV6_NH_ROUTING:
        case IPV6_NH_DEST_OPTS: {
          if (p + 8 > end) return 'truncated-ip';
          if (nh === IPV6_NH_HOP_BY_HOP && p !== this.off + IPV6_HEADER) return 'bad-ext-header';
          const next = buf[p]!;
          p += (buf[p + 1]! + 1) * 8;
          nh = next;
          break;
        }
        case IPV6_NH_FRAGMENT: {
          if (p + 8 > end) return 'truncated-ip';
          const fo = (buf[p + 2]! << 8) | buf[p + 3]!;
          if (fo !== 0) return 'fragment'; // offset (13 bits) or M set
          nh = buf[p]!;
          p += 8;
          break;
        }
        case IPV6_NH_AH: {
          if (p + 8 > end) return 'truncated-ip';
          const next = buf[p]!;
          p += (buf[p + 1]! + 2) * 4;
          nh = next;
          break;
        }
        default:
          if (p > end) return 'truncated-ip';
          this.upperProtocol = nh;
          this.upperOffset = p;
          return 'ok';
      }
    }
    return 'bad-ext-header';
  }
}

/** Plain IPv6 fixed header. Extension headers are not represented: builders emit none. */
export interface Ipv6Repr {
  src: string;
  dst: string;
  nextHeader: number;
  hopLimit: number;
  trafficClass: number;
  flowLabel: number;
  payloadLen: number;
}

export function parseIpv6Repr(p: Ipv6Packet): Ipv6Repr {
  return {
    src: p.srcText,
    dst: p.dstText,
    nextHeader: p.nextHeader,
    hopLimit: p.hopLimit,
    trafficClass: p.trafficClass,
    flowLabel: p.flowLabel,
    payloadLen: p.payloadLen,
  };
}

export function emitIpv6(
  r: Omit<Ipv6Repr, 'src' | 'dst'> & { src: IpAddr; dst: IpAddr },
  buf: Buffer,
  off: number,
): number {
  const src = toAddrBytes(r.src);
  const dst = toAddrBytes(r.dst);
  if (src.length !== 16 || dst.length !== 16) throw new RangeError('IPv6 header needs IPv6 addresses');
  if (r.payloadLen > 0xffff) throw new RangeError('IPv6 payload longer than 65535 bytes (jumbograms unsupported)');
  buf[off] = 0x60 | (r.trafficClass >> 4);
  buf[off + 1] = ((r.trafficClass & 0x0f) << 4) | ((r.flowLabel >> 16) & 0x0f);
  buf[off + 2] = (r.flowLabel >> 8) & 0xff;
  buf[off + 3] = r.flowLabel & 0xff;
  buf.writeUInt16BE(r.payloadLen, off + 4);
  buf[off + 6] = r.nextHeader;
  buf[off + 7] = r.hopLimit;
  buf.set(src, off + 8);
  buf.set(dst, off + 24);
  return IPV6_HEADER;
}
