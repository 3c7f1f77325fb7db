import { describe, expect, it } from 'vitest';
import { EventEmitter } from 'node:events';
import type { Socket } from 'node:net';
import { OutputGate, type Durability, type Need } from '../../../src/shim/output-gate.js';

/** A log whose durable point the test moves by hand. */
class FakeLog implements Durability {
  last = 0;
  durable = 0;
  private waiters: { seq: number; resolve: () => void }[] = [];
  need(): Need {
    return this.last;
  }
  isDurable(n: Need): boolean {
    return typeof n === 'number' && this.durable >= n;
  }
  whenDurable(n: Need): Promise<void> {
    return new Promise((resolve) => this.waiters.push({ seq: n as number, resolve }));
  }
  advance(to: number): void {
    this.durable = to;
    const keep = [];
    for (const w of this.waiters) (w.seq <= to ? w.resolve() : keep.push(w));
    this.waiters = keep;
  }
}

function setup() {
  const log = new FakeLog();
  const sock = Object.assign(new EventEmitter(), { writableLength: 0, writableHighWaterMark: 16 }) as unknown as Socket;
  const wire: string[] = [];
  const gate = new OutputGate(
    sock,
    log,
    (buf) => {
      wire.push(buf.toString());
      return true;
    },
    () => wire.push('<end>'),
  );
  return { log, sock, wire, gate };
}

const tick = () => new Promise((r) => setImmediate(r));

describe('OutputGate (output commit)', () => {
  it('writes at once when everything logged is durable', () => {
    const { gate, wire } = setup();
    expect(gate.write(Buffer.from('a'), undefined)).toBe(true);
    expect(wire).toEqual(['a']);
  });

  it('holds a write until the records before it are durable, and keeps the order', async () => {
    const { gate, wire, log } = setup();
    log.last = 2;
    gate.write(Buffer.from('a'), undefined);
    log.last = 3;
    gate.write(Buffer.from('b'), undefined);
    gate.end(undefined);
    expect(wire).toEqual([]);
    log.advance(2);
    await tick();
    expect(wire).toEqual(['a']);
    log.advance(3);
    await tick();
    expect(wire).toEqual(['a', 'b', '<end>']);
  });

  it('a write behind a held one waits even if its own records are durable', async () => {
    const { gate, wire, log } = setup();
    log.last = 1;
    gate.write(Buffer.from('a'), undefined);
    log.durable = 1; // durable, but the queue is not empty
    expect(gate.write(Buffer.from('b'), undefined)).toBe(true);
    expect(wire).toEqual([]);
    log.advance(1);
    await tick();
    expect(wire).toEqual(['a', 'b']);
  });

  it('reports backpressure above the high-water mark and emits drain once flushed', async () => {
    const { gate, log, sock } = setup();
    log.last = 1;
    expect(gate.write(Buffer.alloc(20), undefined)).toBe(false);
    let drained = false;
    sock.on('drain', () => (drained = true));
    log.advance(1);
    await tick();
    await tick();
    expect(drained).toBe(true);
  });

  it('fails queued writes when the socket goes away', async () => {
    const { gate, log } = setup();
    log.last = 1;
    let err: Error | null | undefined;
    gate.write(Buffer.from('x'), (e) => (err = e));
    gate.drop(new Error('gone'));
    await tick();
    expect(err?.message).toBe('gone');
  });
});
