// Forged segments (SYN, SYN-ACK, ACK, RST, data) for IPv4 and IPv6 with correct checksums.
// Options are laid out the way Linux lays them out, so forged segments look like the kernel's own.
import { type IpAddr, toAddrBytes } from './addr.js';
import { pseudoSumV4, pseudoSumV6 } from './checksum.js';
import { emitIpv4, IP_PROTO_TCP, IPV4_MIN_HEADER } from './ipv4.js';
import { emitIpv6, IPV6_HEADER } from './ipv6.js';
import { type ChecksumMode, emitTcp, TCP_ACK, TCP_FIN, TCP_PSH, TCP_RST, TCP_SYN, tcpHeaderLen } from './tcp.js';
import type { TcpOption } from './tcp-options.js';

export interface SegmentSpec {
  src: IpAddr;
  dst: IpAddr;
  srcPort: number;
  dstPort: number;
  seq: number;
  ack?: number;
  /** Flag bits (TCP_SYN | TCP_ACK …). */
  flags: number;
  window?: number;
  urgent?: number;
  mss?: number;
  wscale?: number;
  sackPermitted?: boolean;
  sack?: Array<[number, number]>;
  timestamps?: { tsval: number; tsecr: number };
  /** Explicit option list; when given, the option fields above are ignored. */
  options?: TcpOption[];
  payload?: Uint8Array;
  /** TTL (IPv4) or hop limit (IPv6); default 64. */
  ttl?: number;
  ident?: number;
  tos?: number;
  /** 'partial' stores only the pseudo-header sum (for a device doing checksum offload). */
  checksumMode?: ChecksumMode;
}

const EMPTY = new Uint8Array(0);

/** Options in Linux's order: MSS, SACK-permitted+timestamps, window scale, SACK blocks. */
export function layoutOptions(s: SegmentSpec): TcpOption[] {
  if (s.options) return s.options;
  const o: TcpOption[] = [];
  if (s.mss !== undefined) o.push({ kind: 'mss', mss: s.mss });
  if (s.timestamps) {
    if (s.sackPermitted) o.push({ kind: 'sack-permitted' });
    else o.push({ kind: 'nop' }, { kind: 'nop' });
    o.push({ kind: 'timestamps', tsval: s.timestamps.tsval, tsecr: s.timestamps.tsecr });
  } else if (s.sackPermitted) {
    o.push({ kind: 'nop' }, { kind: 'nop' }, { kind: 'sack-permitted' });
  }
  if (s.wscale !== undefined) o.push({ kind: 'nop' }, { kind: 'wscale', shift: s.wscale });
  if (s.sack && s.sack.length > 0) o.push({ kind: 'nop' }, { kind: 'nop' }, { kind: 'sack', blocks: s.sack });
  return o;
}

interface Prepared {
  src: Uint8Array;
  dst: Uint8Array;
  options: TcpOption[];
  ipLen: number;
  tcpLen: number;
}

function prepare(s: SegmentSpec): Prepared {
  const src = toAddrBytes(s.src);
  const dst = toAddrBytes(s.dst);
  if (src.length !== dst.length) throw new RangeError('source and destination of different IP versions');
  const options = layoutOptions(s);
  const ipLen = src.length === 4 ? IPV4_MIN_HEADER : IPV6_HEADER;
  const tcpLen = tcpHeaderLen({ options }) + (s.payload ?? EMPTY).length;
  return { src, dst, options, ipLen, tcpLen };
}

/** Total IP packet length the spec produces. */
export function segmentLength(s: SegmentSpec): number {
  const p = prepare(s);
  return p.ipLen + p.tcpLen;
}

/** Write the IP packet at `buf[off]`; returns its length. Throws RangeError if it does not fit. */
export function writeSegment(s: SegmentSpec, buf: Buffer, off = 0): number {
  const p = prepare(s);
  const total = p.ipLen + p.tcpLen;
  if (off + total > buf.length) throw new RangeError(`segment needs ${total} bytes at ${off}, buffer has ${buf.length}`);
  const ttl = s.ttl ?? 64;
  let pseudo: number;
  if (p.src.length === 4) {
    emitIpv4(
      {
        src: p.src,
        dst: p.dst,
        protocol: IP_PROTO_TCP,
        ttl,
        tos: s.tos ?? 0,
        ident: s.ident ?? 0,
        dontFrag: true,
        payloadLen: p.tcpLen,
        options: Buffer.alloc(0),
      },
      buf,
      off,
    );
    pseudo = pseudoSumV4(buf, off, IP_PROTO_TCP, p.tcpLen);
  } else {
    emitIpv6(
      {
        src: p.src,
        dst: p.dst,
        nextHeader: IP_PROTO_TCP,
        hopLimit: ttl,
        trafficClass: s.tos ?? 0,
        flowLabel: 0,
        payloadLen: p.tcpLen,
      },
      buf,
      off,
    );
    pseudo = pseudoSumV6(buf, off, IP_PROTO_TCP, p.tcpLen);
  }
  emitTcp(
    {
      srcPort: s.srcPort,
      dstPort: s.dstPort,
      seq: s.seq,
      ack: s.ack ?? 0,
      flags: s.flags,
      window: s.window ?? 0,
      urgent: s.urgent ?? 0,
      options: p.options,
      payload: s.payload ?? EMPTY,
    },
    buf,
    off + p.ipLen,
    pseudo,
    s.checksumMode ?? 'full',
  );
  return total;
}

/** Build into a new Buffer of exactly the packet's length. */
export function buildSegment(s: SegmentSpec): Buffer {
  const buf = Buffer.alloc(segmentLength(s));
  writeSegment(s, buf, 0);
  return buf;
}

type Shaped = Omit<SegmentSpec, 'flags'> & { flags?: number };

export function buildSyn(s: Shaped): Buffer {
  return buildSegment({ ...s, flags: TCP_SYN | (s.flags ?? 0) });
}
export function buildSynAck(s: Shaped): Buffer {
  return buildSegment({ ...s, flags: TCP_SYN | TCP_ACK | (s.flags ?? 0) });
}
export function buildAck(s: Shaped): Buffer {
  return buildSegment({ ...s, flags: TCP_ACK | (s.flags ?? 0) });
}
/** RST; with `ack` given it is RST|ACK (the answer to a segment without ACK, RFC 9293 §3.10.7.1). */
export function buildRst(s: Shaped): Buffer {
  return buildSegment({ ...s, flags: TCP_RST | (s.ack !== undefined ? TCP_ACK : 0) | (s.flags ?? 0) });
}
/** Data segment: ACK|PSH with the payload. */
export function buildData(s: Shaped & { payload: Uint8Array }): Buffer {
  return buildSegment({ ...s, flags: TCP_ACK | TCP_PSH | (s.flags ?? 0) });
}
export function buildFin(s: Shaped): Buffer {
  return buildSegment({ ...s, flags: TCP_FIN | TCP_ACK | (s.flags ?? 0) });
}
