// TCP header: zero-copy view (TcpPacket) with in-place rewriting and incremental checksum update, and
// a plain representation (TcpRepr) with parse/emit. After smoltcp's wire::tcp.
import { checksumOf, csumReplace16, csumReplace16Odd, foldSum } from './checksum.js';
import {
  emitTcpOptions,
  isWellFormed,
  parseTcpOptions,
  TCP_OPT_EOL,
  TCP_OPT_MSS,
  TCP_OPT_NOP,
  TCP_OPT_SACK,
  TCP_OPT_SACK_PERM,
  TCP_OPT_TIMESTAMPS,
  TCP_OPT_WSCALE,
  TcpOptionCursor,
  type TcpOption,
  type TcpOptionError,
  tcpOptionsLen,
} from './tcp-options.js';

export const TCP_MIN_HEADER = 20;

export const TCP_FIN = 1;
export const TCP_SYN = 2;
export const TCP_RST = 4;
export const TCP_PSH = 8;
export const TCP_ACK = 16;
export const TCP_URG = 32;
export const TCP_ECE = 64;
export const TCP_CWR = 128;

/**
 * `full`: the checksum field is a complete checksum; every edit updates it incrementally.
 * `partial`: the packet came with a virtio_net_hdr NEEDS_CSUM (checksum offload); the field holds only
 * the pseudo-header sum, which header/payload edits do not change, so edits leave it alone.
 */
export type ChecksumMode = 'full' | 'partial';

export type TcpWrapResult = 'ok' | 'truncated-tcp' | 'bad-tcp-offset';
export type TcpScanResult = 'ok' | TcpOptionError;

const EMPTY = Buffer.alloc(0);
const MAX_SACK_BLOCKS = 4;

export class TcpPacket {
  buf: Buffer = EMPTY;
  off = 0;
  /** Segment length (header + payload) as the IP header states it. */
  len = 0;
  checksumMode: ChecksumMode = 'full';

  /** Option locations, set by `scanOptions` (absolute offsets of the values; -1 when absent). */
  mssOff = -1;
  wscaleOff = -1;
  sackPermitted = false;
  sackOff = -1;
  sackCount = 0;
  tsOff = -1;

  /**
   * `avail` is how many bytes of the segment are actually present (a capture may cut the payload);
   * the header must be complete either way.
   */
  wrap(buf: Buffer, off: number, len: number, avail = len): TcpWrapResult {
    this.buf = buf;
    this.off = off;
    this.len = len;
    this.mssOff = this.wscaleOff = this.sackOff = this.tsOff = -1;
    this.sackPermitted = false;
    this.sackCount = 0;
    const have = Math.min(avail, len, buf.length - off);
    if (have < TCP_MIN_HEADER) return 'truncated-tcp';
    const hl = (buf[off + 12]! >> 4) * 4;
    if (hl < TCP_MIN_HEADER || hl > len) return 'bad-tcp-offset';
    if (hl > have) return 'truncated-tcp';
    return 'ok';
  }

  /** Locate MSS, window scale, SACK-permitted, SACK and timestamps; later known options win. */
  scanOptions(cursor: TcpOptionCursor = sharedCursor): TcpScanResult {
    const c = cursor.reset(this.buf, this.off + TCP_MIN_HEADER, this.off + this.headerLen);
    while (c.next()) {
      const k = c.kind;
      if (k === TCP_OPT_EOL || k === TCP_OPT_NOP || !isWellFormed(k, c.len)) continue;
      if (k === TCP_OPT_MSS) this.mssOff = c.off + 2;
      else if (k === TCP_OPT_WSCALE) this.wscaleOff = c.off + 2;
      else if (k === TCP_OPT_SACK_PERM) this.sackPermitted = true;
      else if (k === TCP_OPT_SACK) {
        this.sackOff = c.off + 2;
        this.sackCount = Math.min((c.len - 2) >> 3, MAX_SACK_BLOCKS);
      } else if (k === TCP_OPT_TIMESTAMPS) this.tsOff = c.off + 2;
    }
    return c.error ?? 'ok';
  }

  get srcPort(): number {
    return (this.buf[this.off]! << 8) | this.buf[this.off + 1]!;
  }
  get dstPort(): number {
    return (this.buf[this.off + 2]! << 8) | this.buf[this.off + 3]!;
  }
  get seq(): number {
    return rd32(this.buf, this.off + 4);
  }
  get ack(): number {
    return rd32(this.buf, this.off + 8);
  }
  get headerLen(): number {
    return (this.buf[this.off + 12]! >> 4) * 4;
  }
  /** Low nibble of byte 12 (reserved bits and the historic NS bit). */
  get reserved(): number {
    return this.buf[this.off + 12]! & 0x0f;
  }
  /** The 8 flag bits: FIN=1 SYN=2 RST=4 PSH=8 ACK=16 URG=32 ECE=64 CWR=128. */
  get flags(): number {
    return this.buf[this.off + 13]!;
  }
  get window(): number {
    return (this.buf[this.off + 14]! << 8) | this.buf[this.off + 15]!;
  }
  get checksum(): number {
    return (this.buf[this.off + 16]! << 8) | this.buf[this.off + 17]!;
  }
  get urgent(): number {
    return (this.buf[this.off + 18]! << 8) | this.buf[this.off + 19]!;
  }
  get payloadOffset(): number {
    return this.off + this.headerLen;
  }
  get payloadLen(): number {
    return this.len - this.headerLen;
  }
  /** Sequence space the segment occupies: payload plus one each for SYN and FIN. */
  get segLen(): number {
    const f = this.flags;
    return this.payloadLen + (f & TCP_SYN ? 1 : 0) + (f & TCP_FIN ? 1 : 0);
  }

  // Option values (after scanOptions); -1 when absent.
  get mss(): number {
    return this.mssOff < 0 ? -1 : (this.buf[this.mssOff]! << 8) | this.buf[this.mssOff + 1]!;
  }
  get wscale(): number {
    return this.wscaleOff < 0 ? -1 : this.buf[this.wscaleOff]!;
  }
  get tsval(): number {
    return this.tsOff < 0 ? -1 : rd32(this.buf, this.tsOff);
  }
  get tsecr(): number {
    return this.tsOff < 0 ? -1 : rd32(this.buf, this.tsOff + 4);
  }
  sackLeft(i: number): number {
    return rd32(this.buf, this.sackOff + 8 * i);
  }
  sackRight(i: number): number {
    return rd32(this.buf, this.sackOff + 8 * i + 4);
  }

  // In-place rewriting. Each setter keeps the checksum right for the current checksumMode.
  setSrcPort(v: number): void {
    this.rewrite16(this.off, v);
  }
  setDstPort(v: number): void {
    this.rewrite16(this.off + 2, v);
  }
  setSeq(v: number): void {
    this.rewrite32(this.off + 4, v);
  }
  setAck(v: number): void {
    this.rewrite32(this.off + 8, v);
  }
  setFlags(v: number): void {
    const o = this.off + 12;
    this.rewrite16(o, (this.buf[o]! << 8) | (v & 0xff));
  }
  setWindow(v: number): void {
    this.rewrite16(this.off + 14, v);
  }
  setUrgent(v: number): void {
    this.rewrite16(this.off + 18, v);
  }
  /** Requires an MSS option (scanOptions found one). */
  setMss(v: number): void {
    this.rewrite16(this.mssOff, v);
  }
  setTsval(v: number): void {
    this.rewrite32(this.tsOff, v);
  }
  setTsecr(v: number): void {
    this.rewrite32(this.tsOff + 4, v);
  }
  setSackLeft(i: number, v: number): void {
    this.rewrite32(this.sackOff + 8 * i, v);
  }
  setSackRight(i: number, v: number): void {
    this.rewrite32(this.sackOff + 8 * i + 4, v);
  }

  /** Write a 32-bit value at an absolute offset inside the segment, updating the checksum. */
  rewrite32(abs: number, v: number): void {
    const buf = this.buf;
    // Byte access instead of read/writeUInt32BE: no range checks on the hot path.
    if (this.checksumMode === 'full') {
      const hi = (buf[abs]! << 8) | buf[abs + 1]!;
      const lo = (buf[abs + 2]! << 8) | buf[abs + 3]!;
      let d = (~hi & 0xffff) + (~lo & 0xffff) + ((v >>> 16) & 0xffff) + (v & 0xffff);
      d = (d & 0xffff) + (d >>> 16);
      d = (d & 0xffff) + (d >>> 16);
      if (((abs - this.off) & 1) === 1) d = ((d & 0xff) << 8) | (d >>> 8);
      const o = this.off + 16;
      let s = (~((buf[o]! << 8) | buf[o + 1]!) & 0xffff) + d;
      s = (s & 0xffff) + (s >>> 16);
      s = ~s & 0xffff;
      buf[o] = s >>> 8;
      buf[o + 1] = s & 0xff;
    }
    buf[abs] = v >>> 24;
    buf[abs + 1] = (v >>> 16) & 0xff;
    buf[abs + 2] = (v >>> 8) & 0xff;
    buf[abs + 3] = v & 0xff;
  }

  /** Write a 16-bit value at an absolute offset inside the segment, updating the checksum. */
  rewrite16(abs: number, v: number): void {
    const buf = this.buf;
    const nv = v & 0xffff;
    if (this.checksumMode === 'full') {
      const old = (buf[abs]! << 8) | buf[abs + 1]!;
      const odd = ((abs - this.off) & 1) === 1;
      this.writeChecksum(odd ? csumReplace16Odd(this.checksum, old, nv) : csumReplace16(this.checksum, old, nv));
    }
    buf[abs] = nv >> 8;
    buf[abs + 1] = nv & 0xff;
  }

  private writeChecksum(c: number): void {
    this.buf[this.off + 16] = c >> 8;
    this.buf[this.off + 17] = c & 0xff;
  }

  /** Full checksum over pseudo-header (`pseudoSum`, e.g. from pseudoSumV4) and segment. */
  computeChecksum(pseudoSum: number): number {
    const saved = this.checksum;
    this.writeChecksum(0);
    const c = checksumOf(this.buf, this.off, this.len, pseudoSum);
    this.writeChecksum(saved);
    return c;
  }
  fillChecksum(pseudoSum: number): void {
    this.writeChecksum(0);
    this.writeChecksum(checksumOf(this.buf, this.off, this.len, pseudoSum));
  }
  verifyChecksum(pseudoSum: number): boolean {
    return checksumOf(this.buf, this.off, this.len, pseudoSum) === 0;
  }
  /** Store the folded pseudo-header sum, as CHECKSUM_PARTIAL/NEEDS_CSUM expects (device finishes it). */
  fillPartialChecksum(pseudoSum: number): void {
    this.writeChecksum(foldSum(pseudoSum));
  }
}

const sharedCursor = new TcpOptionCursor();

/** Big-endian 32-bit read without Buffer's range checks (callers have checked the bounds). */
function rd32(b: Buffer, o: number): number {
  return ((b[o]! << 24) | (b[o + 1]! << 16) | (b[o + 2]! << 8) | b[o + 3]!) >>> 0;
}

/** Plain TCP header plus payload. `options` keeps every option byte-exact, including unknown ones. */
export interface TcpRepr {
  srcPort: number;
  dstPort: number;
  seq: number;
  ack: number;
  flags: number;
  window: number;
  urgent: number;
  /** Low nibble of byte 12; 0 in anything we build. */
  reserved?: number;
  options: TcpOption[];
  payload: Uint8Array;
}

export function parseTcpRepr(p: TcpPacket): TcpRepr | TcpOptionError {
  const options = parseTcpOptions(p.buf, p.off + TCP_MIN_HEADER, p.off + p.headerLen);
  if (typeof options === 'string') return options;
  return {
    srcPort: p.srcPort,
    dstPort: p.dstPort,
    seq: p.seq,
    ack: p.ack,
    flags: p.flags,
    window: p.window,
    urgent: p.urgent,
    reserved: p.reserved,
    options,
    payload: Buffer.from(p.buf.subarray(p.payloadOffset, p.off + p.len)),
  };
}

/** Header length for a repr: options padded with EOL bytes to a multiple of 4. */
export function tcpHeaderLen(r: Pick<TcpRepr, 'options'>): number {
  return TCP_MIN_HEADER + ((tcpOptionsLen(r.options) + 3) & ~3);
}

/**
 * Write header, options and payload at `off`; returns the segment length. With `pseudoSum` the
 * checksum is filled in (`mode` 'partial' stores the pseudo-header sum only); without it, it is left 0.
 */
export function emitTcp(r: TcpRepr, buf: Buffer, off: number, pseudoSum?: number, mode: ChecksumMode = 'full'): number {
  const hl = tcpHeaderLen(r);
  if (hl > 60) throw new RangeError(`TCP options take ${hl - TCP_MIN_HEADER} bytes, more than 40`);
  buf.writeUInt16BE(r.srcPort & 0xffff, off);
  buf.writeUInt16BE(r.dstPort & 0xffff, off + 2);
  buf.writeUInt32BE(r.seq >>> 0, off + 4);
  buf.writeUInt32BE(r.ack >>> 0, off + 8);
  buf[off + 12] = ((hl >> 2) << 4) | ((r.reserved ?? 0) & 0x0f);
  buf[off + 13] = r.flags & 0xff;
  buf.writeUInt16BE(r.window & 0xffff, off + 14);
  buf[off + 16] = 0;
  buf[off + 17] = 0;
  buf.writeUInt16BE(r.urgent & 0xffff, off + 18);
  const ol = emitTcpOptions(r.options, buf, off + TCP_MIN_HEADER);
  buf.fill(TCP_OPT_EOL, off + TCP_MIN_HEADER + ol, off + hl);
  buf.set(r.payload, off + hl);
  const len = hl + r.payload.length;
  if (pseudoSum !== undefined) {
    const c = mode === 'full' ? checksumOf(buf, off, len, pseudoSum) : foldSum(pseudoSum);
    buf.writeUInt16BE(c, off + 16);
  }
  return len;
}
