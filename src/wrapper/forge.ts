// Segments the daemon makes itself: ACKs that hold or answer the client, the handshake and replay
// it plays to the restarted stack, RSTs. Built complete (full checksums, no offload) and prefixed
// with an all-zero virtio_net_hdr when the device carries one.
import { buildSegment, type SegmentSpec } from '../wire/builder.js';
import { buildTcpUnreachable } from '../wire/icmp.js';
import { TCP_ACK, TCP_FIN, TCP_PSH, TCP_RST, TCP_SYN } from '../wire/tcp.js';
import type { TcpConn } from './conn.js';

export interface ForgedFields {
  seq: number;
  ack?: number;
  flags: number;
  window?: number;
  tsval?: number;
  tsecr?: number;
  payload?: Uint8Array;
  mss?: number;
  wscale?: number;
  sackPermitted?: boolean;
}

export class Forge {
  constructor(private readonly vnetHdrLen: number) {}

  private build(spec: SegmentSpec): Buffer {
    return this.framed(buildSegment(spec));
  }

  private framed(pkt: Buffer): Buffer {
    if (this.vnetHdrLen === 0) return pkt;
    const out = Buffer.alloc(this.vnetHdrLen + pkt.length);
    pkt.copy(out, this.vnetHdrLen);
    return out;
  }

  private spec(conn: TcpConn, toClient: boolean, f: ForgedFields): SegmentSpec {
    const s: SegmentSpec = {
      src: toClient ? conn.serverAddr : conn.clientAddr,
      dst: toClient ? conn.clientAddr : conn.serverAddr,
      srcPort: toClient ? conn.serverPort : conn.clientPort,
      dstPort: toClient ? conn.clientPort : conn.serverPort,
      seq: f.seq,
      flags: f.flags,
      window: f.window ?? 0,
    };
    if (f.ack !== undefined) s.ack = f.ack;
    if (f.tsval !== undefined) s.timestamps = { tsval: f.tsval, tsecr: f.tsecr ?? 0 };
    if (f.payload) s.payload = f.payload;
    if (f.mss !== undefined && f.mss >= 0) s.mss = f.mss;
    if (f.wscale !== undefined && f.wscale >= 0) s.wscale = f.wscale;
    if (f.sackPermitted) s.sackPermitted = true;
    return s;
  }

  /** A segment from the service to the client (outer side). */
  toClient(conn: TcpConn, f: ForgedFields): Buffer {
    return this.build(this.spec(conn, true, f));
  }

  /**
   * An ICMP unreachable error to the client about its segment at `seq` (RFC 6069: a client stack
   * in retransmission backoff undoes one backoff step per error, and retransmits once the undone
   * timer has expired).
   */
  unreachableToClient(conn: TcpConn, seq: number): Buffer {
    return this.framed(
      buildTcpUnreachable({
        reporter: conn.serverAddr,
        quoted: { src: conn.clientAddr, dst: conn.serverAddr, srcPort: conn.clientPort, dstPort: conn.serverPort, seq },
      }),
    );
  }

  /** A segment "from the client" into the app's stack (inner side). */
  toStack(conn: TcpConn, f: ForgedFields): Buffer {
    return this.build(this.spec(conn, false, f));
  }
}

export const FLAGS = { SYN: TCP_SYN, ACK: TCP_ACK, FIN: TCP_FIN, RST: TCP_RST, PSH: TCP_PSH } as const;
