// CRC32C for record framing: the native addon (SSE4.2) when built, else a table-driven TS loop.
import { loadAddon } from '../native/load.js';

export interface Crc32cImpl {
  /** CRC32C of `bytes`, continuing from a previous finished CRC `prev`. */
  crc32c(bytes: Uint8Array, prev?: number): number;
  /** Writes the crc of every frame in [start, end); returns the frame count or -1 on a bad layout. */
  sealFrames(buf: Uint8Array, start: number, end: number): number;
  /** Length of the longest prefix from `start` made of whole valid frames with payload <= maxLen. */
  scanFrames(buf: Uint8Array, start: number, maxLen: number): number;
  readonly hardware: boolean;
}

const TABLE = (() => {
  const t = new Uint32Array(256);
  for (let i = 0; i < 256; i++) {
    let c = i;
    for (let k = 0; k < 8; k++) c = c & 1 ? (c >>> 1) ^ 0x82f63b78 : c >>> 1;
    t[i] = c >>> 0;
  }
  return t;
})();

function crcTs(bytes: Uint8Array, prev = 0, start = 0, end = bytes.length): number {
  let crc = ~prev >>> 0;
  for (let i = start; i < end; i++) crc = (crc >>> 8) ^ TABLE[(crc ^ bytes[i]!) & 0xff]!;
  return ~crc >>> 0;
}

function rd32(b: Uint8Array, p: number): number {
  return (b[p]! | (b[p + 1]! << 8) | (b[p + 2]! << 16) | (b[p + 3]! << 24)) >>> 0;
}

function frameCrcTs(b: Uint8Array, pos: number, len: number): number {
  return crcTs(b, crcTs(b, 0, pos, pos + 4), pos + 8, pos + 8 + len);
}

/** Pure-TS implementation, used when the addon is not built (and to cross-check it in tests). */
export const portableCrc32c: Crc32cImpl = {
  hardware: false,
  crc32c: (bytes, prev = 0) => crcTs(bytes, prev),
  sealFrames(buf, start, end) {
    let pos = start;
    let count = 0;
    while (pos < end) {
      if (end - pos < 8) return -1;
      const len = rd32(buf, pos);
      if (end - pos - 8 < len) return -1;
      const c = frameCrcTs(buf, pos, len);
      buf[pos + 4] = c & 0xff;
      buf[pos + 5] = (c >>> 8) & 0xff;
      buf[pos + 6] = (c >>> 16) & 0xff;
      buf[pos + 7] = c >>> 24;
      pos += 8 + len;
      count++;
    }
    return count;
  },
  scanFrames(buf, start, maxLen) {
    let pos = start;
    while (buf.length - pos >= 8) {
      const len = rd32(buf, pos);
      if (len > maxLen || buf.length - pos - 8 < len) break;
      if (rd32(buf, pos + 4) !== frameCrcTs(buf, pos, len)) break;
      pos += 8 + len;
    }
    return pos - start;
  },
};

function loadNative(): Crc32cImpl | undefined {
  if (process.env.FTCP_CRC32C === 'portable') return undefined;
  try {
    return loadAddon<Crc32cImpl>('ftcp_crc32c');
  } catch {
    return undefined;
  }
}

/** The implementation in use: native when available. */
export const crc32c: Crc32cImpl = loadNative() ?? portableCrc32c;
