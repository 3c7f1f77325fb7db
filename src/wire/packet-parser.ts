// Summary parse of a whole IP packet down to TCP: one reusable parser, no allocation per packet,
// a typed failure for any input (nothing throws).
import { pseudoSumV4, pseudoSumV6 } from './checksum.js';
import { IP_PROTO_TCP, Ipv4Packet } from './ipv4.js';
import { Ipv6Packet } from './ipv6.js';
import { TcpPacket } from './tcp.js';
import { TcpOptionCursor } from './tcp-options.js';

export type ParseError =
  | 'truncated-ip'
  | 'bad-ip-version'
  | 'bad-ip-header'
  | 'bad-ip-length'
  | 'bad-ext-header'
  | 'unsupported-jumbogram'
  | 'fragment'
  | 'not-tcp'
  | 'truncated-tcp'
  | 'bad-tcp-offset'
  | 'option-overrun'
  | 'bad-option-length'
  | 'bad-checksum';

export type ParseStatus = 'ok' | ParseError;

export interface PacketParserOptions {
  /** Check the IPv4 header checksum and the TCP checksum (off by default: captures of locally sent
   * packets carry offloaded, unfinished checksums). */
  verifyChecksums?: boolean;
  /** Accept a packet whose payload is cut short (capture snap length); headers must be whole. */
  allowShortPayload?: boolean;
}

/**
 * Usage: `const st = parser.parse(buf, off, len); if (st === 'ok') use parser.tcp / parser.srcPort …`.
 * The views `ip4`, `ip6` and `tcp` stay wrapped on the packet, so callers can rewrite in place.
 */
export class PacketParser {
  readonly ip4 = new Ipv4Packet();
  readonly ip6 = new Ipv6Packet();
  readonly tcp = new TcpPacket();
  private readonly cursor = new TcpOptionCursor();
  private readonly verify: boolean;
  private readonly allowShort: boolean;

  /** 4 or 6 once the IP header is recognised, else 0. */
  ipVersion = 0;
  /** Absolute offset of the IP header and its total length as the header states it. */
  ipOffset = 0;
  ipTotalLen = 0;
  /** Upper-layer protocol (valid also for 'not-tcp' and 'fragment'), -1 when unknown. */
  protocol = -1;
  /** Absolute offset and length (header + payload) of the TCP segment. */
  tcpOffset = 0;
  tcpLen = 0;
  /** Pseudo-header sum for the TCP checksum. */
  pseudoSum = 0;

  constructor(opts: PacketParserOptions = {}) {
    this.verify = opts.verifyChecksums ?? false;
    this.allowShort = opts.allowShortPayload ?? false;
  }

  parse(buf: Buffer, off: number, len: number): ParseStatus {
    this.ipVersion = 0;
    this.protocol = -1;
    this.ipOffset = off;
    if (len < 1 || off < 0 || off + len > buf.length) return 'truncated-ip';
    const v = buf[off]! >> 4;
    let tcpOff: number;
    let tcpLen: number;
    if (v === 4) {
      const ip = this.ip4;
      const st = ip.wrap(buf, off, len, this.allowShort);
      if (st !== 'ok') return st;
      this.ipVersion = 4;
      this.ipTotalLen = ip.totalLen;
      this.protocol = ip.protocol;
      if (this.verify && !ip.verifyChecksum()) return 'bad-checksum';
      if (ip.isFragment) return 'fragment';
      if (ip.protocol !== IP_PROTO_TCP) return 'not-tcp';
      tcpOff = off + ip.headerLen;
      tcpLen = ip.totalLen - ip.headerLen;
      this.pseudoSum = pseudoSumV4(buf, off, IP_PROTO_TCP, tcpLen);
    } else if (v === 6) {
      const ip = this.ip6;
      const st = ip.wrap(buf, off, len, this.allowShort);
      if (st !== 'ok') return st;
      this.ipVersion = 6;
      this.ipTotalLen = ip.totalLen;
      const w = ip.walk();
      if (w !== 'ok') return w;
      this.protocol = ip.upperProtocol;
      if (ip.upperProtocol !== IP_PROTO_TCP) return 'not-tcp';
      tcpOff = ip.upperOffset;
      tcpLen = off + ip.totalLen - tcpOff;
      if (tcpLen < 0) return 'bad-ip-length';
      this.pseudoSum = pseudoSumV6(buf, off, IP_PROTO_TCP, tcpLen);
    } else {
      return 'bad-ip-version';
    }
    this.tcpOffset = tcpOff;
    this.tcpLen = tcpLen;
    const tcp = this.tcp;
    const avail = off + len - tcpOff;
    const ts = tcp.wrap(buf, tcpOff, tcpLen, avail);
    if (ts !== 'ok') return ts;
    const os = tcp.scanOptions(this.cursor);
    if (os !== 'ok') return os;
    if (this.verify && (avail < tcpLen || !tcp.verifyChecksum(this.pseudoSum))) return 'bad-checksum';
    return 'ok';
  }
}

/** Decoded TCP facts of one packet, as a plain object (allocates; for tools and tests). */
export interface TcpFacts {
  ipVersion: 4 | 6;
  src: string;
  dst: string;
  srcPort: number;
  dstPort: number;
  seq: number;
  ack: number;
  flags: number;
  window: number;
  payloadLen: number;
  mss?: number;
  wscale?: number;
  sackPermitted?: true;
  sack?: Array<[number, number]>;
  tsval?: number;
  tsecr?: number;
}

export type ParsedPacket = ({ ok: true } & TcpFacts) | { ok: false; error: ParseError };

/** Read the facts of the packet the parser last parsed successfully. */
export function tcpFacts(p: PacketParser): TcpFacts {
  const t = p.tcp;
  const facts: TcpFacts = {
    ipVersion: p.ipVersion === 6 ? 6 : 4,
    src: p.ipVersion === 6 ? p.ip6.srcText : p.ip4.srcText,
    dst: p.ipVersion === 6 ? p.ip6.dstText : p.ip4.dstText,
    srcPort: t.srcPort,
    dstPort: t.dstPort,
    seq: t.seq,
    ack: t.ack,
    flags: t.flags,
    window: t.window,
    payloadLen: t.payloadLen,
  };
  if (t.mssOff >= 0) facts.mss = t.mss;
  if (t.wscaleOff >= 0) facts.wscale = t.wscale;
  if (t.sackPermitted) facts.sackPermitted = true;
  if (t.sackOff >= 0) {
    const blocks: Array<[number, number]> = [];
    for (let i = 0; i < t.sackCount; i++) blocks.push([t.sackLeft(i), t.sackRight(i)]);
    facts.sack = blocks;
  }
  if (t.tsOff >= 0) {
    facts.tsval = t.tsval;
    facts.tsecr = t.tsecr;
  }
  return facts;
}

const defaultParser = new PacketParser();

/** One-shot convenience over a shared parser. */
export function parsePacket(buf: Buffer, off = 0, len = buf.length - off, opts?: PacketParserOptions): ParsedPacket {
  const p = opts ? new PacketParser(opts) : defaultParser;
  const st = p.parse(buf, off, len);
  if (st !== 'ok') return { ok: false, error: st };
  return { ok: true, ...tcpFacts(p) };
}
