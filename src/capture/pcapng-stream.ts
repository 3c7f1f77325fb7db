// The client side of a streamed capture: cuts the pcapng byte stream into whole blocks (so a file
// always ends at a block boundary, even when the daemon goes away mid-block) and counts what
// passes: packets, and the drops the daemon reports in its Interface Statistics Blocks.

const EPB = 6;
const ISB = 5;
const SHB = 0x0a0d0d0a;
/** A block larger than this is not one ftcp writes: the stream is corrupt. */
const MAX_BLOCK = 16 << 20;

export class PcapngStreamError extends Error {}

export class PcapngBlockScanner {
  packets = 0;
  /** isb_osdrop summed over the statistics blocks. */
  dropped = 0;
  /** opt_comment of the last statistics block (why the capture ended). */
  endComment: string | undefined;
  /** Packet records by the first word of their comment (stored, delayed, …). */
  readonly byDecision = new Map<string, number>();
  private tail: Buffer = Buffer.alloc(0);

  /** Feeds bytes; returns the whole blocks they complete (to be written), in order. */
  push(chunk: Buffer): Buffer {
    const buf = this.tail.length === 0 ? chunk : Buffer.concat([this.tail, chunk]);
    let p = 0;
    while (buf.length - p >= 12) {
      const type = buf.readUInt32LE(p);
      const len = buf.readUInt32LE(p + 4);
      if (len < 12 || len % 4 !== 0 || len > MAX_BLOCK) throw new PcapngStreamError(`corrupt capture stream: block of ${len} bytes`);
      if (type === SHB && buf.readUInt32LE(p + 8) !== 0x1a2b3c4d) throw new PcapngStreamError('corrupt capture stream: not little-endian pcapng');
      if (buf.length - p < len) break;
      if (type === EPB) {
        this.packets++;
        const capLen = buf.readUInt32LE(p + 20);
        const optStart = p + 28 + ((capLen + 3) & ~3);
        if (optStart <= p + len - 4) this.countDecision(buf.subarray(optStart, p + len - 4));
      }
      else if (type === ISB) this.readStats(buf.subarray(p + 20, p + len - 4));
      p += len;
    }
    this.tail = Buffer.from(buf.subarray(p));
    return buf.subarray(0, p);
  }

  /** Bytes of an incomplete block left at the end (cut from the file). */
  get partialBytes(): number {
    return this.tail.length;
  }

  private countDecision(opts: Buffer): void {
    let p = 0;
    while (p + 4 <= opts.length) {
      const code = opts.readUInt16LE(p);
      const len = opts.readUInt16LE(p + 2);
      if (code === 0 || p + 4 + len > opts.length) return;
      if (code === 1) {
        const m = /^[a-z]+/.exec(opts.toString('latin1', p + 4, p + 4 + Math.min(len, 16)));
        if (m) this.byDecision.set(m[0], (this.byDecision.get(m[0]) ?? 0) + 1);
        return;
      }
      p += 4 + ((len + 3) & ~3);
    }
  }

  /** "passed 3, modified 2, …" in the order of the decision words. */
  decisionSummary(): string {
    const order = ['stored', 'delayed', 'discarded', 'modified', 'passed', 'forged', 'released'];
    const words = [...this.byDecision.keys()].sort((a, b) => (order.indexOf(a) + 99) % 99 - ((order.indexOf(b) + 99) % 99));
    return words.map((w) => `${w} ${this.byDecision.get(w)}`).join(', ');
  }

  private readStats(opts: Buffer): void {
    let p = 0;
    while (p + 4 <= opts.length) {
      const code = opts.readUInt16LE(p);
      const len = opts.readUInt16LE(p + 2);
      if (code === 0 || p + 4 + len > opts.length) return;
      if (code === 7 && len === 8) this.dropped += Number(opts.readBigUInt64LE(p + 4));
      if (code === 1) this.endComment = opts.toString('utf8', p + 4, p + 4 + len);
      p += 4 + ((len + 3) & ~3);
    }
  }
}
