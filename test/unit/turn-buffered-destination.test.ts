import { pino } from 'pino';
import { describe, expect, it } from 'vitest';
import { TurnBufferedDestination } from '../../src/util/turn-buffered-destination.js';

const turn = (): Promise<void> => new Promise((r) => setImmediate(r));

/** A destination over a sink that records each write it is given. */
function recorded(maxBytes?: number): { d: TurnBufferedDestination; writes: string[] } {
  const writes: string[] = [];
  return { d: new TurnBufferedDestination({ write: (s) => writes.push(s) }, maxBytes), writes };
}

describe('TurnBufferedDestination', () => {
  it('writes the lines of one turn together, in order, at the end of the turn', async () => {
    const { d, writes } = recorded();
    d.write('a\n');
    d.write('b\n');
    d.write('c\n');
    expect(writes).toEqual([]);
    await turn();
    expect(writes).toEqual(['a\nb\nc\n']);
    d.write('d\n');
    await turn();
    expect(writes).toEqual(['a\nb\nc\n', 'd\n']);
  });

  it('writes at once when a turn logs more than its bound', async () => {
    const { d, writes } = recorded(10);
    d.write('12345\n');
    d.write('67890\n'); // 12 bytes pending: over the bound
    expect(writes).toEqual(['12345\n67890\n']);
    d.write('x\n');
    await turn();
    expect(writes).toEqual(['12345\n67890\n', 'x\n']);
  });

  it('flushSync writes what is pending now (a fatal line, the exit)', async () => {
    const { d, writes } = recorded();
    d.write('fatal\n');
    d.flushSync();
    expect(writes).toEqual(['fatal\n']);
    await turn();
    expect(writes).toEqual(['fatal\n']); // nothing twice
  });

  it('is a pino destination: lines whole and in order, a fatal one written at once', async () => {
    const { d, writes } = recorded();
    const log = pino({ base: null }, d);
    for (let i = 0; i < 3; i++) log.info({ i }, 'line');
    await turn();
    log.fatal('down');
    expect(writes).toHaveLength(2);
    const lines = writes.join('').trim().split('\n').map((l) => JSON.parse(l) as { msg: string; i?: number });
    expect(lines.map((l) => l.msg)).toEqual(['line', 'line', 'line', 'down']);
    expect(lines.map((l) => l.i)).toEqual([0, 1, 2, undefined]);
  });
});
