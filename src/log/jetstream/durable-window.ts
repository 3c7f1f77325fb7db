// The durable watermark of a writer whose records are acknowledged out of order (publishes are
// pipelined, resends interleave): the highest seq below which every record is acknowledged.
export class DurableWindow {
  private durable = 0;
  private readonly above = new Set<number>();

  get durableSeq(): number {
    return this.durable;
  }

  /** Records the acknowledgement of `seq`; returns true when the watermark moved. */
  ack(seq: number): boolean {
    if (seq <= this.durable) return false;
    if (seq !== this.durable + 1) {
      this.above.add(seq);
      return false;
    }
    this.durable = seq;
    while (this.above.delete(this.durable + 1)) this.durable++;
    return true;
  }

  isAcked(seq: number): boolean {
    return seq <= this.durable || this.above.has(seq);
  }
}
