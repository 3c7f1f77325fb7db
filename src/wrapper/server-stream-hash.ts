// Fingerprints of the server's byte stream, so regenerated output after a crash can be compared
// with what the client was sent (divergence detection) without keeping the bytes themselves:
// CRC32C per fixed block, plus the running CRC of the partial block at the end.
import { crc32c } from '../log/crc32c.js';

export const HASH_BLOCK = 4096;

/** Most out-of-order server bytes kept (copied) while waiting for a gap to fill. */
const MAX_PENDING_BYTES = 4 << 20;

export interface StreamHashSnapshot {
  /** Stream offset of the first hashed block (a multiple of HASH_BLOCK). */
  base: number;
  /**
   * Where hashing began (≥ base): a hasher created mid-stream (a connection adopted from the log)
   * has no hashes of the bytes before, and its first block covers [start, block end) only.
   */
  start: number;
  /** CRC32C of each whole block from `base`. */
  blocks: Uint32Array;
  /** End of the hashed stream (sndMax as far as hashes go). */
  end: number;
  /** CRC32C of [lastBlockStart, end) — the partial block. */
  tailCrc: number;
}

/** Hashes the stream as it is sent; retransmitted bytes (below `end`) are skipped. */
export class ServerStreamHasher {
  base: number;
  end: number;
  private blocks: Uint32Array;
  private count = 0;
  private tailCrc = 0;
  /** Out-of-order pieces (the daemon missed a segment the stack will resend), by offset. */
  private pending = new Map<number, Buffer>();
  private pendingBytes = 0;
  /** Set when the stream could not be hashed contiguously (pending overflow). */
  broken = false;

  /** See StreamHashSnapshot.start. */
  readonly start: number;

  constructor(base = 0) {
    this.base = base - (base % HASH_BLOCK);
    this.start = base;
    this.end = base;
    this.blocks = new Uint32Array(64);
  }

  /** Feeds bytes [offset, offset + len) of the server stream, taken from buf[start..). */
  update(offset: number, buf: Uint8Array, start: number, len: number): void {
    const segEnd = offset + len;
    if (segEnd <= this.end || this.broken) return;
    if (offset > this.end) {
      this.keepPending(offset, buf, start, len);
      return;
    }
    this.hashContiguous(buf, start + (this.end - offset), segEnd - this.end);
    if (this.pending.size > 0) this.drainPending();
  }

  private hashContiguous(buf: Uint8Array, start: number, len: number): void {
    let pos = start;
    let left = len;
    while (left > 0) {
      const inBlock = this.end % HASH_BLOCK;
      const n = Math.min(left, HASH_BLOCK - inBlock);
      this.tailCrc = crc32c.crc32c(buf.subarray(pos, pos + n), inBlock === 0 ? 0 : this.tailCrc);
      this.end += n;
      pos += n;
      left -= n;
      if (this.end % HASH_BLOCK === 0) {
        this.pushBlock(this.tailCrc);
        this.tailCrc = 0;
      }
    }
  }

  private pushBlock(crc: number): void {
    if (this.count === this.blocks.length) {
      const grown = new Uint32Array(this.blocks.length * 2);
      grown.set(this.blocks);
      this.blocks = grown;
    }
    this.blocks[this.count++] = crc;
  }

  private keepPending(offset: number, buf: Uint8Array, start: number, len: number): void {
    const have = this.pending.get(offset);
    if (have && have.length >= len) return;
    this.pendingBytes += len - (have?.length ?? 0);
    if (this.pendingBytes > MAX_PENDING_BYTES) {
      this.broken = true;
      this.pending.clear();
      this.pendingBytes = 0;
      return;
    }
    this.pending.set(offset, Buffer.from(buf.subarray(start, start + len)));
  }

  private drainPending(): void {
    let progressed = true;
    while (progressed && this.pending.size > 0) {
      progressed = false;
      for (const [off, bytes] of this.pending) {
        if (off > this.end) continue;
        this.pending.delete(off);
        this.pendingBytes -= bytes.length;
        const segEnd = off + bytes.length;
        if (segEnd > this.end) this.hashContiguous(bytes, this.end - off, segEnd - this.end);
        progressed = true;
      }
    }
  }

  /** Drops hashes of blocks wholly below `offset` (a checkpoint moved the replay start past them). */
  dropBelow(offset: number): void {
    const drop = Math.min(this.count, Math.floor((offset - this.base) / HASH_BLOCK));
    if (drop <= 0) return;
    this.blocks.copyWithin(0, drop, this.count);
    this.count -= drop;
    this.base += drop * HASH_BLOCK;
  }

  snapshot(): StreamHashSnapshot {
    return { base: this.base, start: Math.max(this.start, this.base), blocks: this.blocks.slice(0, this.count), end: this.end, tailCrc: this.tailCrc };
  }
}

export type VerifyResult = 'ok' | 'mismatch' | 'beyond';

/**
 * Checks regenerated output against a snapshot, in stream order. Bytes are verified a block at a time;
 * `verifiedEnd` tells how far the regenerated stream is known to equal the original.
 */
export class StreamVerifier {
  private crc = 0;
  private pos: number;
  /** Blocks that start below this are taken as they come: their first bytes are not regenerated. */
  private readonly trustBelow: number;
  verifiedEnd: number;

  /**
   * `start`: where the regenerated stream begins (a checkpoint's server offset; default the
   * snapshot's base). The block holding `start`, if it begins below it, cannot be compared.
   */
  /** Bytes below this (from `start`) were sent before hashing began: taken as they come. */
  private readonly unhashedEnd: number;

  constructor(
    private readonly snap: StreamHashSnapshot,
    start = snap.base,
  ) {
    const hashedFrom = snap.start ?? snap.base;
    this.pos = start < hashedFrom ? start : Math.max(start, snap.base);
    this.unhashedEnd = start < hashedFrom ? hashedFrom : 0;
    this.trustBelow = Math.max(this.pos, hashedFrom);
    this.verifiedEnd = this.pos;
  }

  /** Regenerated bytes fed so far (contiguous), compared or not yet (a block still open). */
  get fedEnd(): number {
    return this.pos;
  }

  /** End of the original stream: bytes past it are new output, nothing to compare. */
  get originalEnd(): number {
    return this.snap.end;
  }

  /**
   * Feeds regenerated bytes at stream offset `offset` (must continue where the last call stopped;
   * bytes already fed are skipped). Returns 'mismatch' on the first differing block.
   */
  feed(offset: number, buf: Uint8Array, start: number, len: number): VerifyResult {
    const { snap } = this;
    const skip = this.pos - offset;
    if (skip >= len) return 'ok';
    if (skip < 0) return 'mismatch'; // a gap: the caller feeds in order
    let p = start + skip;
    let left = len - skip;
    if (this.pos < this.unhashedEnd) {
      const n = Math.min(left, this.unhashedEnd - this.pos);
      this.pos += n;
      this.verifiedEnd = this.pos;
      p += n;
      left -= n;
    }
    while (left > 0 && this.pos < snap.end) {
      const inBlock = this.pos % HASH_BLOCK;
      const blockStart = this.pos - inBlock;
      const blockEnd = Math.min(blockStart + HASH_BLOCK, snap.end);
      const n = Math.min(left, blockEnd - this.pos);
      this.crc = crc32c.crc32c(buf.subarray(p, p + n), inBlock === 0 ? 0 : this.crc);
      this.pos += n;
      p += n;
      left -= n;
      if (this.pos === blockEnd) {
        const whole = blockEnd - blockStart === HASH_BLOCK;
        const want = whole ? snap.blocks[(blockStart - snap.base) / HASH_BLOCK] : snap.tailCrc;
        if (blockStart >= this.trustBelow && want !== this.crc) return 'mismatch';
        this.verifiedEnd = blockEnd;
      }
    }
    return left > 0 ? 'beyond' : 'ok';
  }
}
