// Hidden-class hygiene: after the widening, a connection's first wide number (a double where only
// small integers were seen) does not change the class the others share.
import { describe, expect, it } from 'vitest';
import { TcpConn } from '../../../src/wrapper/conn.js';
import { widenConnClasses, widenNumberFields } from '../../../src/wrapper/widen-fields.js';

const conn = (): TcpConn =>
  new TcpConn({
    id: 'c',
    ipVersion: 4,
    clientAddr: Uint8Array.from([10, 0, 0, 1]),
    clientPort: 5,
    serverAddr: Uint8Array.from([10, 0, 0, 2]),
    serverPort: 80,
    irs: 7,
    opts: { clientMss: 1460, serverMss: 1460, clientWscale: 7, serverWscale: 7, sackOk: true, tsOk: true, clientSynWindow: 100 },
  });

describe('widenNumberFields', () => {
  it('gives every number field its value back, and leaves the others alone', () => {
    const o = { a: 1, b: 'x', c: 2 ** 40, d: null as unknown };
    widenNumberFields(o);
    expect(o).toEqual({ a: 1, b: 'x', c: 2 ** 40, d: null });
  });
  it('the connection classes are widened once, without changing any field of a real connection', () => {
    const before = conn();
    widenConnClasses();
    widenConnClasses();
    const after = conn();
    expect(Object.keys(after)).toEqual(Object.keys(before));
    expect({ ...after }).toEqual({ ...before });
  });
});
