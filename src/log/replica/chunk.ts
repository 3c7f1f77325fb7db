// Cutting what goes on the stream into messages no larger than the server's max_payload:
// record batches at frame boundaries (each message is whole frames the follower can ingest
// alone), checkpoints into numbered parts.
import { FRAME_HEADER } from '../frame.js';
import { LogError } from '../errors.js';

/**
 * Splits a buffer of frames into consecutive slices of whole frames, each ≤ `max` bytes.
 * A single frame above `max` cannot travel: LogError('INVALID_ARGUMENT').
 */
export function chunkFrames(buf: Buffer, max: number): Buffer[] {
  if (buf.length <= max) return [buf];
  const out: Buffer[] = [];
  let start = 0;
  let pos = 0;
  while (pos < buf.length) {
    if (pos + FRAME_HEADER > buf.length) throw new Error('chunkFrames: torn frame header');
    const size = FRAME_HEADER + buf.readUInt32LE(pos);
    if (pos + size > buf.length) throw new Error('chunkFrames: torn frame');
    if (size > max) {
      throw new LogError('INVALID_ARGUMENT', `a stored record of ${size} bytes is above the NATS server's max_payload (${max} usable bytes); raise max_payload in the nats-server config`);
    }
    if (pos + size - start > max) {
      out.push(buf.subarray(start, pos));
      start = pos;
    }
    pos += size;
  }
  out.push(buf.subarray(start, pos));
  return out;
}

/** Splits bytes into parts of ≤ `max` bytes (at least one part, possibly empty). */
export function chunkBytes(buf: Uint8Array, max: number): Uint8Array[] {
  if (buf.length <= max) return [buf];
  const out: Uint8Array[] = [];
  for (let i = 0; i < buf.length; i += max) out.push(buf.subarray(i, Math.min(buf.length, i + max)));
  return out;
}

/** Reassembles checkpoint parts; a part out of sequence drops what was gathered. */
export class PartAssembler {
  private parts: Uint8Array[] = [];
  private expectN = 0;

  /** Adds part i of n; returns the whole payload when part n completes a run 1..n. */
  add(i: number, n: number, data: Uint8Array): Buffer | undefined {
    if (i === 1) {
      this.parts = [];
      this.expectN = n;
    } else if (n !== this.expectN || i !== this.parts.length + 1) {
      this.reset();
      return undefined;
    }
    this.parts.push(data);
    if (i < n) return undefined;
    const whole = Buffer.concat(this.parts);
    this.reset();
    return whole;
  }

  /** Anything else arrived between parts (e.g. a new primary's marker): drop the partial one. */
  reset(): void {
    this.parts = [];
    this.expectN = 0;
  }

  get partial(): boolean {
    return this.parts.length > 0;
  }
}
