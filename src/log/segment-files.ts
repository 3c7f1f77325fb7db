// Segment storage: append-only files `segments/seg-<id>.log` (an 8-byte magic, then frames).
// Owns the disk side of a group commit: positional O_DSYNC writes (several may be in flight),
// segment roll, and cutting failed writes after an error so a retry starts from the last durable byte.
import { promises as fsp, constants as fsc, write as fsWrite, writeSync } from 'node:fs';
import type { FileHandle } from 'node:fs/promises';
import { join } from 'node:path';
import type { Logger } from '../util/logger.js';
import { diskError } from './errors.js';
import { validPrefix } from './frame.js';

export const SEGMENT_MAGIC = Buffer.from('FTCPLOG\x01', 'latin1');
const HEADER = SEGMENT_MAGIC.length;

export interface ScannedSegment {
  id: number;
  /** Valid frames of the segment, from byte HEADER on (after any torn tail was cut). */
  bytes: Buffer;
}

export interface WriteResult {
  segment: number;
  /** File offset of buf[0]. */
  pos: number;
}

/**
 * Where frames live; the file and memory variants share this shape.
 *
 * Several writes may be in flight at once (pipelined group commit). A write takes its place in
 * the segment when it is called, so writes land in call order whatever order they finish in. A
 * write that would start a new segment (`wouldRoll`) must be issued alone: the caller waits until
 * no write is in flight, and issues none until it has finished. After a failed write the caller
 * lets every write in flight finish, then calls `recover` before the next one.
 */
export interface SegmentBackend {
  readonly kind: 'fsync' | 'memory';
  /** Appends `buf` (whole frames) and makes it durable per the backend's mode. */
  write(buf: Buffer): Promise<WriteResult>;
  /**
   * Writes `buf` on this thread if the backend can now (small enough, nothing in flight, no new
   * segment): the commit is then durable when this returns, with no promise turn before the
   * acknowledgement. Undefined when it cannot: use write(). Throws a disk error as write() rejects.
   */
  writeNow?(buf: Buffer): WriteResult | undefined;
  /** True when a write of `len` bytes would start a new segment. */
  wouldRoll(len: number): boolean;
  /** Cuts the active segment back to the start of the earliest failed write (see above). */
  recover(): Promise<void>;
  /** Reads `len` bytes at `pos` of a segment. */
  read(segment: number, pos: number, len: number): Promise<Buffer>;
  /** Deletes every segment with id < `below` (never the active one). Returns how many. */
  reclaimBelow(below: number): Promise<number>;
  /** The segment new writes go to. */
  activeSegment(): number;
  segmentCount(): number;
  diskBytes(): number;
  close(): Promise<void>;
}

export function segmentName(id: number): string {
  return `seg-${String(id).padStart(20, '0')}.log`;
}

function parseSegmentName(name: string): number | undefined {
  const m = /^seg-(\d{20})\.log$/.exec(name);
  return m ? Number(m[1]) : undefined;
}

export interface ScanReport {
  segments: ScannedSegment[];
  /** Segments whose tail was cut (torn write or corruption), and the bytes removed. */
  cuts: { segment: number; cutBytes: number; reason: string }[];
}

/** One positional write through the thread pool, with a callback request (lighter than FileHandle.write's promise request). */
function writeCb(fd: number, buf: Buffer, off: number, len: number, pos: number): Promise<number> {
  return new Promise((resolve, reject) => fsWrite(fd, buf, off, len, pos, (err, n) => (err ? reject(err) : resolve(n))));
}

async function fsyncDir(dir: string): Promise<void> {
  const h = await fsp.open(dir, fsc.O_RDONLY);
  try {
    await h.sync();
  } finally {
    await h.close();
  }
}

export class FileSegments implements SegmentBackend {
  readonly kind = 'fsync' as const;
  private readonly readers = new Map<number, FileHandle>();
  private active!: FileHandle;
  private activeId = 0;
  /** Bytes of the active segment known durable; a failed write is truncated back to this. */
  private activeSize = 0;
  private sizes = new Map<number, number>();
  /** Set after an error left the active file in doubt: the next write starts a new segment. */
  private rollNext = false;
  /** Writes issued and not finished. */
  private inFlight = 0;
  /** Start of the earliest failed write since the last recover(): everything from here is cut. */
  private failedFrom: number | undefined;

  /** Commits up to this size are written synchronously (0 = never); see write(). */
  inlineBytes = 0;

  private constructor(
    private readonly dir: string,
    private readonly segmentBytes: number,
    private readonly log: Logger,
  ) {}

  /** Opens the store directory, cutting torn or corrupt tails, and returns the surviving frames. */
  static async open(dataDir: string, segmentBytes: number, log: Logger): Promise<{ backend: FileSegments; scan: ScanReport }> {
    const dir = join(dataDir, 'segments');
    await fsp.mkdir(dir, { recursive: true });
    const self = new FileSegments(dir, segmentBytes, log);
    const ids = (await fsp.readdir(dir))
      .map(parseSegmentName)
      .filter((x): x is number => x !== undefined)
      .sort((a, b) => a - b);
    const scan: ScanReport = { segments: [], cuts: [] };
    for (const id of ids) {
      const path = join(dir, segmentName(id));
      const data = await fsp.readFile(path);
      if (data.length < HEADER || !data.subarray(0, HEADER).equals(SEGMENT_MAGIC)) {
        // A crash while creating the file: it never held an acknowledged record.
        scan.cuts.push({ segment: id, cutBytes: data.length, reason: 'bad segment header' });
        await fsp.rm(path);
        continue;
      }
      const valid = validPrefix(data, HEADER);
      const end = HEADER + valid;
      if (end < data.length) {
        const reason = data.length - end < 8 || end + 8 + data.readUInt32LE(end) > data.length ? 'torn frame' : 'crc mismatch';
        scan.cuts.push({ segment: id, cutBytes: data.length - end, reason });
        const h = await fsp.open(path, 'r+');
        try {
          await h.truncate(end);
          await h.sync();
        } finally {
          await h.close();
        }
      }
      self.sizes.set(id, end);
      scan.segments.push({ id, bytes: data.subarray(HEADER, end) });
    }
    const last = ids.length > 0 ? ids[ids.length - 1]! : 0;
    if (self.sizes.has(last)) {
      self.activeId = last;
      self.active = await fsp.open(join(dir, segmentName(last)), fsc.O_RDWR | fsc.O_DSYNC);
      self.activeSize = self.sizes.get(last)!;
      self.readers.set(last, self.active);
    } else {
      await self.createSegment(last + 1);
    }
    return { backend: self, scan };
  }

  activeSegment(): number {
    return this.activeId;
  }

  segmentCount(): number {
    return this.sizes.size;
  }

  diskBytes(): number {
    let n = 0;
    for (const s of this.sizes.values()) n += s;
    return n;
  }

  private async createSegment(id: number): Promise<void> {
    const path = join(this.dir, segmentName(id));
    let h: FileHandle | undefined;
    try {
      h = await fsp.open(path, fsc.O_RDWR | fsc.O_CREAT | fsc.O_EXCL | fsc.O_DSYNC, 0o640);
      await h.write(SEGMENT_MAGIC, 0, HEADER, 0);
      await fsyncDir(this.dir);
    } catch (err) {
      await h?.close().catch(() => {});
      await fsp.rm(path, { force: true }).catch(() => {});
      throw diskError(err, `creating segment ${segmentName(id)}`, this.dir);
    }
    this.active = h;
    this.activeId = id;
    this.activeSize = HEADER;
    this.sizes.set(id, HEADER);
    this.readers.set(id, h);
  }

  wouldRoll(len: number): boolean {
    return this.rollNext || (this.activeSize > HEADER && this.activeSize + len > this.segmentBytes);
  }

  write(buf: Buffer): Promise<WriteResult> {
    try {
      const now = this.writeNow(buf);
      if (now) return Promise.resolve(now);
    } catch (err) {
      return Promise.reject(err as Error);
    }
    if (this.wouldRoll(buf.length)) return this.rollAndWrite(buf);
    // Take the place now: the next write (maybe issued before this one finishes) goes after it.
    const pos = this.activeSize;
    this.activeSize = pos + buf.length;
    this.sizes.set(this.activeId, this.activeSize);
    return this.writeAt(buf, pos);
  }

  writeNow(buf: Buffer): WriteResult | undefined {
    // Small commit, nothing else on the disk: write on this thread. Saves the two thread
    // hand-overs of the pool (worker wake-up, completion wake-up), which dominate latency on a
    // busy machine; the loop is blocked for one small synchronous write.
    if (buf.length > this.inlineBytes || this.inFlight > 0 || this.wouldRoll(buf.length)) return undefined;
    const pos = this.activeSize;
    this.activeSize = pos + buf.length;
    this.sizes.set(this.activeId, this.activeSize);
    try {
      let done = 0;
      while (done < buf.length) done += writeSync(this.active.fd, buf, done, buf.length - done, pos + done);
    } catch (err) {
      this.markFailed(pos);
      throw diskError(err, `writing ${segmentName(this.activeId)}`, this.dir);
    }
    return { segment: this.activeId, pos };
  }

  private async rollAndWrite(buf: Buffer): Promise<WriteResult> {
    await this.createSegment(this.activeId + 1);
    this.rollNext = false;
    const pos = this.activeSize;
    this.activeSize = pos + buf.length;
    this.sizes.set(this.activeId, this.activeSize);
    return this.writeAt(buf, pos);
  }

  private async writeAt(buf: Buffer, pos: number): Promise<WriteResult> {
    const h = this.active;
    const segment = this.activeId;
    this.inFlight++;
    try {
      let done = 0;
      while (done < buf.length) done += await writeCb(h.fd, buf, done, buf.length - done, pos + done);
      // The active segment is open with O_DSYNC: each write returns once its data (and the file
      // size) is on stable storage, as write + fdatasync would, in one thread-pool trip.
    } catch (err) {
      this.markFailed(pos);
      throw diskError(err, `writing ${segmentName(segment)}`, this.dir);
    } finally {
      this.inFlight--;
    }
    return { segment, pos };
  }

  private markFailed(pos: number): void {
    if (this.failedFrom === undefined || pos < this.failedFrom) this.failedFrom = pos;
  }

  /**
   * After failed writes (none in flight any more): cuts the active segment back to the earliest
   * failed write, which also drops any later write that did reach the disk (its commit fails
   * with the earlier one). If even the cut fails, the next write starts a new segment.
   */
  async recover(): Promise<void> {
    const size = this.failedFrom;
    if (size === undefined) return;
    this.failedFrom = undefined;
    this.activeSize = size;
    this.sizes.set(this.activeId, size);
    try {
      await this.active.truncate(size);
    } catch (err) {
      this.log.error({ segment: this.activeId, err: String(err) }, 'cannot truncate failed write; rolling to a new segment');
      this.rollNext = true;
    }
  }

  async read(segment: number, pos: number, len: number): Promise<Buffer> {
    let h = this.readers.get(segment);
    if (!h) {
      if (!this.sizes.has(segment)) throw new Error(`segment ${segment} was reclaimed`);
      h = await fsp.open(join(this.dir, segmentName(segment)), 'r');
      this.readers.set(segment, h);
    }
    const out = Buffer.allocUnsafe(len);
    let done = 0;
    while (done < len) {
      const { bytesRead } = await h.read(out, done, len - done, pos + done);
      if (bytesRead === 0) throw new Error(`short read in segment ${segment}`);
      done += bytesRead;
    }
    return out;
  }

  async reclaimBelow(below: number): Promise<number> {
    let n = 0;
    for (const id of [...this.sizes.keys()].sort((a, b) => a - b)) {
      if (id >= below || id === this.activeId) break;
      const h = this.readers.get(id);
      this.readers.delete(id);
      this.sizes.delete(id);
      await h?.close().catch(() => {});
      await fsp.rm(join(this.dir, segmentName(id)), { force: true });
      n++;
    }
    if (n > 0) await fsyncDir(this.dir).catch(() => {});
    return n;
  }

  async close(): Promise<void> {
    for (const h of this.readers.values()) await h.close().catch(() => {});
    this.readers.clear();
  }
}

/** `memory` durability: frames kept in process memory, acknowledged once appended there. */
export class MemorySegments implements SegmentBackend {
  readonly kind = 'memory' as const;
  private readonly segments = new Map<number, { chunks: Buffer[]; starts: number[]; size: number }>();
  private activeId = 1;

  constructor(private readonly segmentBytes: number) {
    this.segments.set(1, { chunks: [], starts: [], size: HEADER });
  }

  activeSegment(): number {
    return this.activeId;
  }

  segmentCount(): number {
    return this.segments.size;
  }

  diskBytes(): number {
    return 0;
  }

  wouldRoll(): boolean {
    return false; // rolls synchronously inside write()
  }

  recover(): Promise<void> {
    return Promise.resolve();
  }

  write(buf: Buffer): Promise<WriteResult> {
    return Promise.resolve(this.writeNow(buf));
  }

  writeNow(buf: Buffer): WriteResult {
    let seg = this.segments.get(this.activeId)!;
    if (seg.size > HEADER && seg.size + buf.length > this.segmentBytes) {
      this.activeId++;
      seg = { chunks: [], starts: [], size: HEADER };
      this.segments.set(this.activeId, seg);
    }
    const pos = seg.size;
    seg.chunks.push(buf);
    seg.starts.push(pos);
    seg.size += buf.length;
    return { segment: this.activeId, pos };
  }

  read(segment: number, pos: number, len: number): Promise<Buffer> {
    const seg = this.segments.get(segment);
    if (!seg) return Promise.reject(new Error(`segment ${segment} was reclaimed`));
    let lo = 0;
    let hi = seg.starts.length - 1;
    while (lo < hi) {
      const mid = (lo + hi + 1) >> 1;
      if (seg.starts[mid]! <= pos) lo = mid;
      else hi = mid - 1;
    }
    const off = pos - seg.starts[lo]!;
    const chunk = seg.chunks[lo]!;
    if (off + len > chunk.length) return Promise.reject(new Error('read crosses a write batch'));
    return Promise.resolve(chunk.subarray(off, off + len));
  }

  reclaimBelow(below: number): Promise<number> {
    let n = 0;
    for (const id of [...this.segments.keys()].sort((a, b) => a - b)) {
      if (id >= below || id === this.activeId) break;
      this.segments.delete(id);
      n++;
    }
    return Promise.resolve(n);
  }

  close(): Promise<void> {
    return Promise.resolve();
  }
}
