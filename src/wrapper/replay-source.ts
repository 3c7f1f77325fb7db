// The client bytes a recovering connection replays into the restarted stack: pieces read back
// from the log and pieces the client sent while held, merged by offset (overlaps ignored).

interface Piece {
  start: number;
  data: Buffer;
}

export class ReplaySource {
  private pieces: Piece[] = [];
  /** Offset of the client's FIN when it is part of the replay, else -1. */
  finOff = -1;

  /** Adds bytes at `start`; parts already present are ignored. The bytes are referenced, not copied. */
  add(start: number, data: Buffer): void {
    let s = start;
    let d = data;
    const ps = this.pieces;
    let i = 0;
    while (i < ps.length && ps[i]!.start + ps[i]!.data.length <= s) i++;
    while (d.length > 0) {
      const p = ps[i];
      if (!p || s + d.length <= p.start) {
        ps.splice(i, 0, { start: s, data: d });
        return;
      }
      if (s < p.start) {
        ps.splice(i, 0, { start: s, data: d.subarray(0, p.start - s) });
        i++;
      }
      const pEnd = p.start + p.data.length;
      if (s + d.length <= pEnd) return;
      const skip = Math.max(0, pEnd - s);
      d = d.subarray(skip);
      s = pEnd;
      i++;
    }
  }

  /** End of the bytes available contiguously from `from`. */
  contiguousEnd(from: number): number {
    let end = from;
    for (const p of this.pieces) {
      if (p.start > end) break;
      const pEnd = p.start + p.data.length;
      if (pEnd > end) end = pEnd;
    }
    return end;
  }

  /** Up to `max` bytes starting exactly at `from` (a view), or an empty buffer. */
  read(from: number, max: number): Buffer {
    for (const p of this.pieces) {
      const pEnd = p.start + p.data.length;
      if (p.start <= from && from < pEnd) {
        const at = from - p.start;
        return p.data.subarray(at, Math.min(p.data.length, at + max));
      }
      if (p.start > from) break;
    }
    return Buffer.alloc(0);
  }

  /** Forgets bytes below `offset` (the stack has acknowledged them). */
  dropBelow(offset: number): void {
    const ps = this.pieces;
    let n = 0;
    while (n < ps.length && ps[n]!.start + ps[n]!.data.length <= offset) n++;
    if (n > 0) ps.splice(0, n);
    const first = ps[0];
    if (first && first.start < offset) {
      first.data = first.data.subarray(offset - first.start);
      first.start = offset;
    }
  }

  get bytes(): number {
    let n = 0;
    for (const p of this.pieces) n += p.data.length;
    return n;
  }
}
