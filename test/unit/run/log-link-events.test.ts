import { describe, expect, it } from 'vitest';
import { EventEmitter } from 'node:events';
import { watchLogLink } from '../../../src/run/log-link-events.js';

describe('watchLogLink', () => {
  it('logs one loss per outage and the regain with its duration', () => {
    const lines: string[] = [];
    const log = { warn: (_o: object, m: string) => lines.push(`warn ${m}`), info: (o: { ms?: number }, m: string) => lines.push(`info ${m} ${o.ms}`) };
    const c = new EventEmitter();
    let t = 1000;
    watchLogLink(c, log as never, () => t);
    c.emit('durable', 1);
    c.emit('disconnect', new Error('gone'));
    t = 1500;
    c.emit('disconnect', new Error('still gone'));
    t = 3000;
    c.emit('durable', 2);
    c.emit('durable', 3);
    expect(lines).toEqual(['warn log server lost: client bytes are not acknowledged until it is back (clients stall, nothing is lost)', 'info log server regained 2000']);
  });
});
