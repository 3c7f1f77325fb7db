// pcapng writer (little-endian): SHB, IDB (with if_tsresol) and EPB with an optional comment.
// Produces Buffers; the caller decides where they go (a file, a stream). Capture mode builds on this.

export interface PcapngInterface {
  linkType: number;
  snapLen?: number;
  name?: string;
  /** if_description: what the interface is. */
  description?: string;
  /** Timestamp resolution as a power of ten (6 = µs, 9 = ns). Default 9. */
  tsResolution?: number;
}

export interface PcapngPacket {
  interfaceId: number;
  /** Time as nanoseconds since the epoch (bigint) or seconds (number). */
  ts: bigint | number;
  data: Uint8Array;
  /** Length on the wire; defaults to data.length. */
  origLen?: number;
  comment?: string;
}

function pad4(n: number): number {
  return (n + 3) & ~3;
}

function optionBytes(opts: Array<[number, Uint8Array]>): Buffer {
  if (opts.length === 0) return Buffer.alloc(0);
  const len = opts.reduce((n, [, v]) => n + 4 + pad4(v.length), 0) + 4;
  const b = Buffer.alloc(len);
  let p = 0;
  for (const [code, v] of opts) {
    b.writeUInt16LE(code, p);
    b.writeUInt16LE(v.length, p + 2);
    b.set(v, p + 4);
    p += 4 + pad4(v.length);
  }
  return b; // ends with opt_endofopt (zeros)
}

function block(type: number, body: Buffer): Buffer {
  const total = 12 + body.length;
  const b = Buffer.alloc(total);
  b.writeUInt32LE(type, 0);
  b.writeUInt32LE(total, 4);
  body.copy(b, 8);
  b.writeUInt32LE(total, total - 4);
  return b;
}

export function sectionHeaderBlock(userAppl = 'ftcp', comment?: string): Buffer {
  const fixed = Buffer.alloc(16);
  fixed.writeUInt32LE(0x1a2b3c4d, 0);
  fixed.writeUInt16LE(1, 4);
  fixed.writeUInt16LE(0, 6);
  fixed.writeBigInt64LE(-1n, 8); // section length unknown
  const opts: Array<[number, Uint8Array]> = [];
  if (comment !== undefined) opts.push([1, Buffer.from(comment)]);
  opts.push([4, Buffer.from(userAppl)]);
  return block(0x0a0d0d0a, Buffer.concat([fixed, optionBytes(opts)]));
}

export function interfaceDescriptionBlock(i: PcapngInterface): Buffer {
  const fixed = Buffer.alloc(8);
  fixed.writeUInt16LE(i.linkType, 0);
  fixed.writeUInt32LE(i.snapLen ?? 0, 4);
  const opts: Array<[number, Uint8Array]> = [];
  if (i.name) opts.push([2, Buffer.from(i.name)]);
  if (i.description) opts.push([3, Buffer.from(i.description)]);
  opts.push([9, Uint8Array.of(i.tsResolution ?? 9)]);
  return block(1, Buffer.concat([fixed, optionBytes(opts)]));
}

export function enhancedPacketBlock(pkt: PcapngPacket, tsResolution = 9): Buffer {
  const units =
    typeof pkt.ts === 'bigint'
      ? pkt.ts / 10n ** BigInt(9 - Math.min(9, tsResolution))
      : BigInt(Math.round(pkt.ts * 10 ** tsResolution));
  const fixed = Buffer.alloc(20 + pad4(pkt.data.length));
  fixed.writeUInt32LE(pkt.interfaceId, 0);
  fixed.writeUInt32LE(Number(units >> 32n), 4);
  fixed.writeUInt32LE(Number(units & 0xffffffffn), 8);
  fixed.writeUInt32LE(pkt.data.length, 12);
  fixed.writeUInt32LE(pkt.origLen ?? pkt.data.length, 16);
  fixed.set(pkt.data, 20);
  const opts: Array<[number, Uint8Array]> = pkt.comment !== undefined ? [[1, Buffer.from(pkt.comment)]] : [];
  return block(6, Buffer.concat([fixed, optionBytes(opts)]));
}

export interface PcapngInterfaceStats {
  interfaceId: number;
  /** Nanoseconds since the epoch: when the statistics were taken, when the capture started. */
  ts: bigint;
  startTs?: bigint;
  /** isb_ifrecv: packets seen; isb_osdrop: dropped by the capturing software; isb_usrdeliv: written. */
  received?: number;
  osDropped?: number;
  delivered?: number;
  comment?: string;
}

function tsUnits(ts: bigint, tsResolution: number): [number, number] {
  const units = ts / 10n ** BigInt(9 - Math.min(9, tsResolution));
  return [Number(units >> 32n), Number(units & 0xffffffffn)];
}

function u64(n: number): Buffer {
  const b = Buffer.alloc(8);
  b.writeBigUInt64LE(BigInt(n));
  return b;
}

function tsOption(ts: bigint, tsResolution: number): Buffer {
  const [hi, lo] = tsUnits(ts, tsResolution);
  const b = Buffer.alloc(8);
  b.writeUInt32LE(hi, 0);
  b.writeUInt32LE(lo, 4);
  return b;
}

/** Interface Statistics Block: counters of one interface, written at the end of a capture. */
export function interfaceStatisticsBlock(s: PcapngInterfaceStats, tsResolution = 9): Buffer {
  const fixed = Buffer.alloc(12);
  const [hi, lo] = tsUnits(s.ts, tsResolution);
  fixed.writeUInt32LE(s.interfaceId, 0);
  fixed.writeUInt32LE(hi, 4);
  fixed.writeUInt32LE(lo, 8);
  const opts: Array<[number, Uint8Array]> = [];
  if (s.comment !== undefined) opts.push([1, Buffer.from(s.comment)]);
  if (s.startTs !== undefined) opts.push([2, tsOption(s.startTs, tsResolution)]);
  opts.push([3, tsOption(s.ts, tsResolution)]);
  if (s.received !== undefined) opts.push([4, u64(s.received)]);
  if (s.osDropped !== undefined) opts.push([7, u64(s.osDropped)]);
  if (s.delivered !== undefined) opts.push([8, u64(s.delivered)]);
  return block(5, Buffer.concat([fixed, optionBytes(opts)]));
}

/** Accumulates a whole capture in memory; `chunks` can also be streamed as they are produced. */
export class PcapngWriter {
  private readonly parts: Buffer[] = [];
  private readonly resolutions: number[] = [];

  constructor(userAppl = 'ftcp') {
    this.parts.push(sectionHeaderBlock(userAppl));
  }

  /** Adds an interface; returns its id for `addPacket`. */
  addInterface(i: PcapngInterface): number {
    this.parts.push(interfaceDescriptionBlock(i));
    this.resolutions.push(i.tsResolution ?? 9);
    return this.resolutions.length - 1;
  }

  addPacket(pkt: PcapngPacket): void {
    const res = this.resolutions[pkt.interfaceId];
    if (res === undefined) throw new RangeError(`no interface ${pkt.interfaceId}`);
    this.parts.push(enhancedPacketBlock(pkt, res));
  }

  /** Raw block bytes, for tests that need malformed files. */
  addRaw(bytes: Uint8Array): void {
    this.parts.push(Buffer.from(bytes));
  }

  toBuffer(): Buffer {
    return Buffer.concat(this.parts);
  }
}
