// The PacketOutput of one direction: gathers consecutive packets of one buffer into a run and
// writes each run with one writeBatch call, so a pass-through batch costs one native call.
import type { PacketBatch } from '../tun/tun-device.js';
import type { PacketWriter } from './packet-device.js';
import type { PacketOutput } from './packet-path.js';
import type { DirectionCounters } from './relay-counters.js';

const RUN_CAPACITY = 256;

export class BatchOutput implements PacketOutput {
  private runBuffer: Buffer | null = null;
  private runCount = 0;
  private runBytes = 0;
  private readonly offsets = new Uint32Array(RUN_CAPACITY);
  private readonly lengths = new Uint32Array(RUN_CAPACITY);

  constructor(
    private readonly device: PacketWriter,
    private readonly counters: DirectionCounters,
  ) {}

  transmit(batch: PacketBatch, index: number): void {
    if (index < 0 || index >= batch.count) throw new RangeError(`transmit: no packet ${index} in a batch of ${batch.count}`);
    this.send(batch.buffer, batch.offsets[index]!, batch.lengths[index]!);
  }

  transmitAll(batch: PacketBatch): void {
    if (this.runCount !== 0) this.flush();
    const count = batch.count;
    if (count === 0) return;
    let bytes = 0;
    for (let i = 0; i < count; i++) bytes += batch.lengths[i]!;
    this.account(this.device.writeBatch(batch), count, bytes, batch.lengths);
  }

  send(buffer: Buffer, offset: number, length: number): void {
    if (offset < 0 || length < 0 || offset + length > buffer.length) {
      throw new RangeError(`send: ${length} bytes at ${offset} exceed a buffer of ${buffer.length}`);
    }
    if (buffer !== this.runBuffer || this.runCount === RUN_CAPACITY) {
      this.flush();
      this.runBuffer = buffer;
    }
    this.offsets[this.runCount] = offset;
    this.lengths[this.runCount] = length;
    this.runCount++;
    this.runBytes += length;
  }

  /** Writes the pending run; the relay calls it after each process() and before inject(). */
  flush(): void {
    const count = this.runCount;
    if (count === 0 || this.runBuffer === null) return;
    const written = this.device.writePackets(this.runBuffer, this.offsets, this.lengths, count);
    this.account(written, count, this.runBytes, this.lengths);
    this.runCount = 0;
    this.runBytes = 0;
    this.runBuffer = null;
  }

  private account(written: number, count: number, bytes: number, lengths: Uint32Array): void {
    const c = this.counters;
    if (written === count) {
      c.writtenPackets += count;
      c.writtenBytes += bytes;
      return;
    }
    // Some packets were not written: EAGAIN ends the batch, kernel refusals are skipped.
    // Either way they are dropped (TCP retransmits); byte counts stay exact only for the
    // all-written case, so count the written prefix's bytes as an approximation.
    let writtenBytes = 0;
    for (let i = 0; i < written; i++) writtenBytes += lengths[i]!;
    c.writtenPackets += written;
    c.writtenBytes += writtenBytes;
    c.droppedPackets += count - written;
  }
}
