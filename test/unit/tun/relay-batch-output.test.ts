// BatchOutput (src/relay/batch-output.ts): how sent packets are grouped into write batches and
// counted. The writer here just records what it is asked to write (pure batching logic; the
// kernel side is covered by test/integration/relay.test.ts).
import { describe, expect, it } from 'vitest';
import { BatchOutput } from '../../../src/relay/batch-output.js';
import { newDirectionCounters } from '../../../src/relay/relay-counters.js';
import type { PacketWriter } from '../../../src/relay/packet-device.js';
import type { PacketBatch } from '../../../src/tun/tun-device.js';

class RecordingWriter implements PacketWriter {
  calls: string[][] = [];
  /** How many packets the next calls accept (EAGAIN after that); Infinity = all. */
  accept = Infinity;

  writeBatch(batch: PacketBatch): number {
    return this.writePackets(batch.buffer, batch.offsets, batch.lengths, batch.count);
  }

  writePackets(buffer: Uint8Array, offsets: Uint32Array, lengths: Uint32Array, count: number): number {
    const packets: string[] = [];
    for (let i = 0; i < count; i++) packets.push(Buffer.from(buffer.subarray(offsets[i]!, offsets[i]! + lengths[i]!)).toString());
    this.calls.push(packets);
    const n = Math.min(count, this.accept);
    this.accept -= n;
    return n;
  }
}

function batchOf(...packets: string[]): PacketBatch {
  const buffer = Buffer.alloc(1024);
  const offsets = new Uint32Array(64);
  const lengths = new Uint32Array(64);
  let pos = 0;
  packets.forEach((p, i) => {
    buffer.write(p, pos);
    offsets[i] = pos;
    lengths[i] = p.length;
    pos += (p.length + 7) & ~7;
  });
  return { buffer, offsets, lengths, count: packets.length };
}

describe('BatchOutput', () => {
  it('writes a whole batch with one call and counts it', () => {
    const w = new RecordingWriter();
    const c = newDirectionCounters();
    const out = new BatchOutput(w, c);
    out.transmitAll(batchOf('aa', 'bbb', 'c'));
    expect(w.calls).toEqual([['aa', 'bbb', 'c']]);
    expect(c).toMatchObject({ writtenPackets: 3, writtenBytes: 6, droppedPackets: 0 });
  });

  it('gathers per-packet transmits of one buffer into one write at flush', () => {
    const w = new RecordingWriter();
    const c = newDirectionCounters();
    const out = new BatchOutput(w, c);
    const b = batchOf('p0', 'p1', 'p2', 'p3');
    out.transmit(b, 0);
    out.transmit(b, 2);
    out.transmit(b, 3);
    expect(w.calls).toEqual([]);
    out.flush();
    expect(w.calls).toEqual([['p0', 'p2', 'p3']]);
    out.flush();
    expect(w.calls.length).toBe(1);
  });

  it('keeps order when packets from another buffer are sent in between', () => {
    const w = new RecordingWriter();
    const out = new BatchOutput(w, newDirectionCounters());
    const b = batchOf('x0', 'x1', 'x2');
    const other = Buffer.from('..synth..');
    out.transmit(b, 0);
    out.send(other, 2, 5);
    out.transmit(b, 1);
    out.transmit(b, 2);
    out.flush();
    expect(w.calls).toEqual([['x0'], ['synth'], ['x1', 'x2']]);
  });

  it('counts what the writer did not take as dropped', () => {
    const w = new RecordingWriter();
    w.accept = 2;
    const c = newDirectionCounters();
    const out = new BatchOutput(w, c);
    out.transmitAll(batchOf('aaaa', 'bb', 'cc', 'dd'));
    expect(c).toMatchObject({ writtenPackets: 2, writtenBytes: 6, droppedPackets: 2 });
  });

  it('flushes a full run before growing past its capacity', () => {
    const w = new RecordingWriter();
    const out = new BatchOutput(w, newDirectionCounters());
    const buf = Buffer.from('z');
    for (let i = 0; i < 300; i++) out.send(buf, 0, 1);
    out.flush();
    expect(w.calls.map((c) => c.length)).toEqual([256, 44]);
  });

  it('rejects out-of-range packets with RangeError', () => {
    const out = new BatchOutput(new RecordingWriter(), newDirectionCounters());
    expect(() => out.transmit(batchOf('a'), 1)).toThrow(RangeError);
    expect(() => out.send(Buffer.alloc(4), 2, 3)).toThrow(RangeError);
  });
});
