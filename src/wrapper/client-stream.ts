// What of the client's byte stream has been appended to the log and what is durable there.
// Pieces may arrive out of order (loss, reordering); each new byte is appended once, and
// `rcvLogged` is the end of the contiguous durable prefix — the only point the client may see acked.

interface Piece {
  start: number;
  end: number;
  /** Log sequence number of the append that carries the piece. */
  logSeq: number;
  durable: boolean;
}

export interface Range {
  start: number;
  end: number;
}

export class ClientStream {
  /** End of the contiguous durable prefix (stream offset). */
  rcvLogged: number;
  /** End of the contiguous appended prefix: bytes below it are in the log or on their way. */
  rcvAppended: number;
  /** Appended pieces at or above rcvLogged, sorted, non-overlapping. */
  private pieces: Piece[] = [];

  constructor(start = 0) {
    this.rcvLogged = start;
    this.rcvAppended = start;
  }

  /**
   * The parts of [start, end) not yet appended, in order; empty for a pure retransmission. The caller
   * appends each part and then calls `appended` with its log sequence number.
   */
  missing(start: number, end: number, out: Range[] = []): Range[] {
    out.length = 0;
    let from = Math.max(start, this.rcvAppended);
    if (from >= end) return out;
    for (const p of this.pieces) {
      if (p.end <= from) continue;
      if (p.start >= end) break;
      if (p.start > from) out.push({ start: from, end: Math.min(p.start, end) });
      from = Math.max(from, p.end);
      if (from >= end) return out;
    }
    if (from < end) out.push({ start: from, end });
    return out;
  }

  /** Records that [start, end) (a part returned by `missing`) went into append `logSeq`. */
  appended(start: number, end: number, logSeq: number): void {
    const piece: Piece = { start, end, logSeq, durable: false };
    const ps = this.pieces;
    let i = ps.length;
    while (i > 0 && ps[i - 1]!.start > start) i--;
    ps.splice(i, 0, piece);
    this.advanceAppended();
  }

  private advanceAppended(): void {
    for (const p of this.pieces) {
      if (p.start > this.rcvAppended) break;
      if (p.end > this.rcvAppended) this.rcvAppended = p.end;
    }
  }

  /** The log is durable up to and including `durableSeq`; returns true when rcvLogged moved. */
  durableUpTo(durableSeq: number): boolean {
    const before = this.rcvLogged;
    const ps = this.pieces;
    for (const p of ps) if (!p.durable && p.logSeq <= durableSeq) p.durable = true;
    let drop = 0;
    for (const p of ps) {
      if (!p.durable || p.start > this.rcvLogged) break;
      if (p.end > this.rcvLogged) this.rcvLogged = p.end;
      drop++;
    }
    if (drop > 0) ps.splice(0, drop);
    return this.rcvLogged !== before;
  }

  /** True when every byte of [start, end) is durable (for SACK blocks shown to the client). */
  isDurable(start: number, end: number): boolean {
    if (end <= this.rcvLogged) return true;
    let from = Math.max(start, this.rcvLogged);
    for (const p of this.pieces) {
      if (p.end <= from) continue;
      if (p.start > from || !p.durable) return false;
      from = p.end;
      if (from >= end) return true;
    }
    return false;
  }

  /** Appended pieces not yet folded into rcvLogged (out-of-order or not durable yet). */
  get pendingPieces(): number {
    return this.pieces.length;
  }
}
