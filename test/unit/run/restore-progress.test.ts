import { describe, expect, it } from 'vitest';
import { tallyRestore } from '../../../src/run/restore-progress.js';

describe('tallyRestore', () => {
  it('counts connections back and still restoring (closed ones are neither)', () => {
    const states = ['NORMAL', 'REPLAYING', 'RECOVERING', 'CLOSED', 'NORMAL', 'SYN_RCVD'];
    const wrapper = { conns: { all: () => states.map((state) => ({ state })) } };
    expect(tallyRestore(wrapper as never)).toEqual({ restoring: 2, normal: 2, total: 4 });
  });
});
