// Column store of index rows (one per live-or-not-yet-reclaimed record) in typed arrays, so a log
// of millions of small records costs ~40 bytes a record and no per-record object.
import type { Kind } from './record-meta.js';

export class RowTable {
  lsn = new Float64Array(1024);
  segment = new Uint32Array(1024);
  pos = new Float64Array(1024);
  len = new Uint32Array(1024);
  kind = new Uint8Array(1024);
  end = new Float64Array(1024);
  /** Connection slot (index into ServiceIndex.connBySlot), 0 = service-wide record. */
  conn = new Uint32Array(1024);
  size = 0;

  push(lsn: number, segment: number, pos: number, len: number, kind: Kind, end: number, conn: number): number {
    if (this.size === this.lsn.length) this.grow(this.size * 2);
    const i = this.size++;
    this.lsn[i] = lsn;
    this.segment[i] = segment;
    this.pos[i] = pos;
    this.len[i] = len;
    this.kind[i] = kind;
    this.end[i] = end;
    this.conn[i] = conn;
    return i;
  }

  private grow(n: number): void {
    const g = <T extends Float64Array | Uint32Array | Uint8Array>(a: T, C: new (n: number) => T): T => {
      const b = new C(n);
      b.set(a.subarray(0, this.size));
      return b;
    };
    this.lsn = g(this.lsn, Float64Array);
    this.segment = g(this.segment, Uint32Array);
    this.pos = g(this.pos, Float64Array);
    this.len = g(this.len, Uint32Array);
    this.kind = g(this.kind, Uint8Array);
    this.end = g(this.end, Float64Array);
    this.conn = g(this.conn, Uint32Array);
  }

  /** Keeps only rows for which `keep(i)` holds; returns old→new row numbers (-1 = dropped). */
  compact(keep: (i: number) => boolean): Int32Array {
    const map = new Int32Array(this.size).fill(-1);
    let j = 0;
    for (let i = 0; i < this.size; i++) {
      if (!keep(i)) continue;
      map[i] = j;
      this.lsn[j] = this.lsn[i]!;
      this.segment[j] = this.segment[i]!;
      this.pos[j] = this.pos[i]!;
      this.len[j] = this.len[i]!;
      this.kind[j] = this.kind[i]!;
      this.end[j] = this.end[i]!;
      this.conn[j] = this.conn[i]!;
      j++;
    }
    this.size = j;
    return map;
  }
}
