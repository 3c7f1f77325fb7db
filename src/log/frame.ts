// Record framing in segment files: [u32le payload length][u32le CRC32C(length bytes ++ payload)][payload].
import { crc32c } from './crc32c.js';

export const FRAME_HEADER = 8;
/** Largest payload a frame may carry; a longer length field is corruption. */
export const MAX_FRAME_PAYLOAD = 64 * 1024 * 1024;

/**
 * Lays out payloads as frames into one buffer and seals their CRCs in a single native call.
 * Returns the buffer and each frame's byte offset inside it.
 */
export function encodeFrames(payloads: readonly Uint8Array[]): { buf: Buffer; offsets: number[] } {
  let total = 0;
  for (const p of payloads) total += FRAME_HEADER + p.length;
  const buf = Buffer.allocUnsafe(total);
  const offsets: number[] = new Array(payloads.length);
  let pos = 0;
  for (let i = 0; i < payloads.length; i++) {
    const p = payloads[i]!;
    offsets[i] = pos;
    buf.writeUInt32LE(p.length, pos);
    buf.set(p, pos + FRAME_HEADER);
    pos += FRAME_HEADER + p.length;
  }
  if (crc32c.sealFrames(buf, 0, total) !== payloads.length) throw new Error('frame layout mismatch');
  return { buf, offsets };
}

/** Byte length of the valid frame prefix of `buf` from `start` (a torn or corrupt tail ends it). */
export function validPrefix(buf: Uint8Array, start: number): number {
  return crc32c.scanFrames(buf, start, MAX_FRAME_PAYLOAD);
}

/** Yields [offset, payload] for every frame in a buffer known to be valid. */
export function* framesOf(buf: Buffer, start: number, end: number): Generator<[number, Buffer]> {
  let pos = start;
  while (pos + FRAME_HEADER <= end) {
    const len = buf.readUInt32LE(pos);
    yield [pos, buf.subarray(pos + FRAME_HEADER, pos + FRAME_HEADER + len)];
    pos += FRAME_HEADER + len;
  }
}
