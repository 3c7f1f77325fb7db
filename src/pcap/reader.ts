// Capture file reader for pcap (both byte orders, µs and ns) and pcapng (SHB/IDB/EPB/SPB/OPB, several
// sections and interfaces, per-interface link type and timestamp resolution, packet comments).
// Reads from a Buffer holding the whole file: decode is a tool, not the packet path.

export interface CaptureRecord {
  /** Seconds since the epoch; null when the block carries no timestamp (pcapng SPB). */
  ts: number | null;
  linkType: number;
  interfaceId: number;
  /** Captured bytes (a view into the file buffer). */
  data: Buffer;
  /** Length on the wire. */
  origLen: number;
  /** pcapng opt_comment values of the packet block. */
  comments: string[];
  /** pcapng if_name of the packet's interface, when the section has several interfaces. */
  interfaceName?: string;
}

/** A record the reader could not make sense of; reading stops after a structural error. */
export interface CaptureError {
  error: string;
  ts: number | null;
}

export type CaptureItem = CaptureRecord | CaptureError;

export type CaptureFormat = 'pcap' | 'pcapng';

export class NotACaptureError extends Error {}

const PCAP_MAGIC_US = 0xa1b2c3d4;
const PCAP_MAGIC_NS = 0xa1b23c4d;
const PCAPNG_SHB = 0x0a0d0d0a;
const PCAPNG_BOM = 0x1a2b3c4d;

export function detectFormat(buf: Buffer): CaptureFormat | null {
  if (buf.length < 4) return null;
  const be = buf.readUInt32BE(0);
  const le = buf.readUInt32LE(0);
  if (be === PCAP_MAGIC_US || be === PCAP_MAGIC_NS || le === PCAP_MAGIC_US || le === PCAP_MAGIC_NS) return 'pcap';
  if (be === PCAPNG_SHB) return 'pcapng';
  return null;
}

/** Iterate over every packet in a capture. Throws NotACaptureError if the file header is not one. */
export function* readCapture(buf: Buffer): Generator<CaptureItem> {
  const fmt = detectFormat(buf);
  if (fmt === 'pcap') yield* readPcap(buf);
  else if (fmt === 'pcapng') yield* readPcapng(buf);
  else throw new NotACaptureError('not a pcap or pcapng capture');
}

function* readPcap(buf: Buffer): Generator<CaptureItem> {
  if (buf.length < 24) throw new NotACaptureError('pcap file header truncated');
  const le = buf.readUInt32LE(0) === PCAP_MAGIC_US || buf.readUInt32LE(0) === PCAP_MAGIC_NS;
  const magic = le ? buf.readUInt32LE(0) : buf.readUInt32BE(0);
  const div = magic === PCAP_MAGIC_NS ? 1e9 : 1e6;
  const u32 = (o: number): number => (le ? buf.readUInt32LE(o) : buf.readUInt32BE(o));
  // The link-type field's upper bits carry FCS information (pcap spec, LinkType and additional info).
  const linkType = u32(20) & 0x0fffffff;
  let p = 24;
  while (p < buf.length) {
    if (p + 16 > buf.length) {
      yield { error: 'truncated-record', ts: null };
      return;
    }
    const ts = u32(p) + u32(p + 4) / div;
    const incl = u32(p + 8);
    const orig = u32(p + 12);
    if (p + 16 + incl > buf.length) {
      yield { error: 'truncated-record', ts };
      return;
    }
    yield { ts, linkType, interfaceId: 0, data: buf.subarray(p + 16, p + 16 + incl), origLen: orig, comments: [] };
    p += 16 + incl;
  }
}

interface Iface {
  linkType: number;
  snapLen: number;
  /** Timestamp units per second as [base, exponent]: 10^6 by default. */
  tsBase: bigint;
  tsDiv: bigint;
  tsOffset: bigint;
  name?: string;
}

function* readPcapng(buf: Buffer): Generator<CaptureItem> {
  let p = 0;
  let le = true;
  let ifaces: Iface[] = [];
  let first = true;
  const u16 = (o: number): number => (le ? buf.readUInt16LE(o) : buf.readUInt16BE(o));
  const u32 = (o: number): number => (le ? buf.readUInt32LE(o) : buf.readUInt32BE(o));
  while (p < buf.length) {
    if (p + 12 > buf.length) {
      yield { error: 'truncated-block', ts: null };
      return;
    }
    const rawType = buf.readUInt32BE(p);
    if (rawType === PCAPNG_SHB) {
      const bom = buf.readUInt32LE(p + 8);
      if (bom === PCAPNG_BOM) le = true;
      else if (buf.readUInt32BE(p + 8) === PCAPNG_BOM) le = false;
      else if (first) throw new NotACaptureError('pcapng section header has no byte-order magic');
      else {
        yield { error: 'bad-section-header', ts: null };
        return;
      }
      ifaces = [];
    } else if (first) {
      throw new NotACaptureError('pcapng file does not start with a section header');
    }
    first = false;
    const type = u32(p);
    const blen = u32(p + 4);
    if (blen < 12 || blen % 4 !== 0 || p + blen > buf.length) {
      yield { error: 'truncated-block', ts: null };
      return;
    }
    const body = p + 8;
    const bodyEnd = p + blen - 4;
    switch (type) {
      case 1: {
        // Interface Description Block
        if (bodyEnd - body < 8) {
          yield { error: 'bad-interface-block', ts: null };
          return;
        }
        const iface: Iface = { linkType: u16(body), snapLen: u32(body + 4), tsBase: 10n, tsDiv: 1_000_000n, tsOffset: 0n };
        for (const [code, o, l] of options(buf, body + 8, bodyEnd, u16)) {
          if (code === 9 && l >= 1) {
            const r = buf[o]!;
            iface.tsBase = r & 0x80 ? 2n : 10n;
            iface.tsDiv = iface.tsBase ** BigInt(r & 0x7f);
          } else if (code === 2 && l > 0) {
            iface.name = buf.toString('utf8', o, o + l).replace(/\0+$/, '');
          } else if (code === 14 && l >= 8) {
            iface.tsOffset = le ? buf.readBigInt64LE(o) : buf.readBigInt64BE(o);
          }
        }
        ifaces.push(iface);
        break;
      }
      case 6:
      case 2: {
        // Enhanced Packet Block (6) and the obsolete Packet Block (2, 16-bit interface id)
        if (bodyEnd - body < 20) {
          yield { error: 'bad-packet-block', ts: null };
          return;
        }
        const ifId = type === 6 ? u32(body) : u16(body);
        const iface = ifaces[ifId];
        const units = (BigInt(u32(body + 4)) << 32n) | BigInt(u32(body + 8));
        const ts = iface ? tsSeconds(units, iface) : null;
        const cap = u32(body + 12);
        const orig = u32(body + 16);
        const dataStart = body + 20;
        const optStart = dataStart + cap + ((4 - (cap % 4)) % 4); // cap may be near 2^32: no bit ops
        if (!iface) {
          yield { error: 'unknown-interface', ts };
        } else if (optStart > bodyEnd) {
          yield { error: 'truncated-block', ts };
        } else {
          const comments: string[] = [];
          for (const [code, o, l] of options(buf, optStart, bodyEnd, u16)) {
            if (code === 1) comments.push(buf.toString('utf8', o, o + l));
          }
          const rec: CaptureRecord = { ts, linkType: iface.linkType, interfaceId: ifId, data: buf.subarray(dataStart, dataStart + cap), origLen: orig, comments };
          if (ifaces.length > 1 && iface.name !== undefined) rec.interfaceName = iface.name;
          yield rec;
        }
        break;
      }
      case 3: {
        // Simple Packet Block: interface 0, no timestamp; captured length is implied.
        const iface = ifaces[0];
        if (!iface || bodyEnd - body < 4) {
          yield { error: iface ? 'bad-packet-block' : 'unknown-interface', ts: null };
          break;
        }
        const orig = u32(body);
        let cap = Math.min(orig, bodyEnd - body - 4);
        if (iface.snapLen > 0) cap = Math.min(cap, iface.snapLen);
        yield { ts: null, linkType: iface.linkType, interfaceId: 0, data: buf.subarray(body + 4, body + 4 + cap), origLen: orig, comments: [] };
        break;
      }
      default:
        break; // other blocks (name resolution, statistics, custom …) carry no packets
    }
    p += blen;
  }
}

function tsSeconds(units: bigint, iface: Iface): number {
  const whole = units / iface.tsDiv;
  const frac = units % iface.tsDiv;
  return Number(whole + iface.tsOffset) + Number(frac) / Number(iface.tsDiv);
}

/** pcapng options (code, value offset, value length) until opt_endofopt or the end; stops on overrun. */
function* options(buf: Buffer, start: number, end: number, u16: (o: number) => number): Generator<[number, number, number]> {
  let p = start;
  while (p + 4 <= end) {
    const code = u16(p);
    const len = u16(p + 2);
    if (code === 0) return;
    if (p + 4 + len > end) return;
    yield [code, p + 4, len];
    p += 4 + len + ((4 - (len % 4)) % 4);
  }
}
