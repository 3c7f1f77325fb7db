// ICMP "destination unreachable" about a TCP segment (RFC 792, RFC 4443), as a router would send
// it back to the segment's sender: the error quotes the segment's IP header and its first 8 TCP
// bytes (ports and sequence number), which is all a receiving stack reads to find the connection.
import { type IpAddr, toAddrBytes } from './addr.js';
import { checksumOf, pseudoSumV6 } from './checksum.js';
import { emitIpv4, IP_PROTO_TCP, IPV4_MIN_HEADER } from './ipv4.js';
import { emitIpv6, IPV6_HEADER } from './ipv6.js';

export const IP_PROTO_ICMP = 1;
export const IP_PROTO_ICMPV6 = 58;
export const ICMP_DEST_UNREACH = 3;
/** ICMP code "host unreachable": with "net unreachable", the codes RFC 6069 lets revert a backoff. */
export const ICMP_HOST_UNREACH = 1;
export const ICMPV6_DEST_UNREACH = 1;
/** ICMPv6 code "no route to destination": the one Linux's IPv6 RFC 6069 path reads. */
export const ICMPV6_NOROUTE = 0;

const ICMP_HEADER = 8;
/** What is quoted of the TCP segment: source port, destination port, sequence number. */
const QUOTED_TCP = 8;
/** The quoted segment's IP length as claimed: a bare 20-byte TCP header. */
const QUOTED_TCP_HEADER = 20;

/** The TCP segment an unreachable error is about (as it was sent: `src` is who gets the error). */
export interface QuotedTcp {
  src: IpAddr;
  dst: IpAddr;
  srcPort: number;
  dstPort: number;
  seq: number;
}

export interface TcpUnreachableSpec {
  /** The address the error comes from (a router on the way, or the destination's own address). */
  reporter: IpAddr;
  quoted: QuotedTcp;
  /** TTL / hop limit; default 64. */
  ttl?: number;
}

/**
 * An ICMP(v6) destination-unreachable IP packet sent to `quoted.src`, about its segment to
 * `quoted.dst`: host unreachable for IPv4, no route for IPv6 (the codes RFC 6069 names as signs of
 * a connectivity disruption).
 */
export function buildTcpUnreachable(s: TcpUnreachableSpec): Buffer {
  const reporter = toAddrBytes(s.reporter);
  const qsrc = toAddrBytes(s.quoted.src);
  const qdst = toAddrBytes(s.quoted.dst);
  if (qsrc.length !== qdst.length || reporter.length !== qsrc.length) {
    throw new RangeError('reporter and quoted segment addresses of different IP versions');
  }
  const v4 = qsrc.length === 4;
  const ipLen = v4 ? IPV4_MIN_HEADER : IPV6_HEADER;
  const quotedLen = ipLen + QUOTED_TCP;
  const icmpLen = ICMP_HEADER + quotedLen;
  const buf = Buffer.alloc(ipLen + icmpLen);
  const ttl = s.ttl ?? 64;
  if (v4) {
    emitIpv4({ src: reporter, dst: qsrc, protocol: IP_PROTO_ICMP, ttl, tos: 0, ident: 0, dontFrag: false, payloadLen: icmpLen, options: Buffer.alloc(0) }, buf, 0);
  } else {
    emitIpv6({ src: reporter, dst: qsrc, nextHeader: IP_PROTO_ICMPV6, hopLimit: ttl, trafficClass: 0, flowLabel: 0, payloadLen: icmpLen }, buf, 0);
  }
  const icmp = ipLen;
  buf[icmp] = v4 ? ICMP_DEST_UNREACH : ICMPV6_DEST_UNREACH;
  buf[icmp + 1] = v4 ? ICMP_HOST_UNREACH : ICMPV6_NOROUTE;
  // Bytes 2–3 checksum, 4–7 unused (zero).
  const q = icmp + ICMP_HEADER;
  if (v4) {
    emitIpv4({ src: qsrc, dst: qdst, protocol: IP_PROTO_TCP, ttl: 64, tos: 0, ident: 0, dontFrag: true, payloadLen: QUOTED_TCP_HEADER, options: Buffer.alloc(0) }, buf, q);
  } else {
    emitIpv6({ src: qsrc, dst: qdst, nextHeader: IP_PROTO_TCP, hopLimit: 64, trafficClass: 0, flowLabel: 0, payloadLen: QUOTED_TCP_HEADER }, buf, q);
  }
  const t = q + ipLen;
  buf.writeUInt16BE(s.quoted.srcPort, t);
  buf.writeUInt16BE(s.quoted.dstPort, t + 2);
  buf.writeUInt32BE(s.quoted.seq >>> 0, t + 4);
  // ICMPv6's checksum covers the pseudo-header (RFC 4443 §2.3); ICMP's only the message.
  const c = v4 ? checksumOf(buf, icmp, icmpLen) : checksumOf(buf, icmp, icmpLen, pseudoSumV6(buf, 0, IP_PROTO_ICMPV6, icmpLen));
  buf.writeUInt16BE(c, icmp + 2);
  return buf;
}
