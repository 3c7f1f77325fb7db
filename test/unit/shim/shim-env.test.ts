import { describe, expect, it } from 'vitest';
import { readShimEnv } from '../../../src/shim/shim-env.js';
import { decodeEnvelope, encodeEnvelope } from '../../../src/shim/checkpoint-envelope.js';

describe('readShimEnv', () => {
  it('is undefined outside ftcp run, and under ftcp run --no-log (service but no log target)', () => {
    expect(readShimEnv({})).toBeUndefined();
    expect(readShimEnv({ FTCP_SERVICE: 'kv' })).toBeUndefined();
  });
  it('reads what ftcp run sets', () => {
    expect(readShimEnv({ FTCP_LOG_TARGET: 'unix:/x/logd.sock', FTCP_SERVICE: 'kv' })).toEqual({ logTarget: 'unix:/x/logd.sock', service: 'kv', restoreTimeoutMs: 10_000, epoch: 0 });
    // On a replicated log: the primary's epoch (the store fences older writers).
    expect(readShimEnv({ FTCP_LOG_TARGET: 'unix:/x/logd.sock', FTCP_SERVICE: 'kv', FTCP_LOG_EPOCH: '42' })?.epoch).toBe(42);
  });
  it('says what to fix when half set or malformed', () => {
    expect(() => readShimEnv({ FTCP_LOG_TARGET: 'unix:/x' })).toThrow(/FTCP_SERVICE is not/);
    expect(() => readShimEnv({ FTCP_LOG_TARGET: 'unix:/x', FTCP_SERVICE: 'kv', FTCP_SHIM_RESTORE_TIMEOUT_MS: 'soon' })).toThrow(/positive number/);
    expect(() => readShimEnv({ FTCP_LOG_TARGET: 'unix:/x', FTCP_SERVICE: 'kv', FTCP_LOG_EPOCH: '-1' })).toThrow(/FTCP_LOG_EPOCH must be a non-negative integer/);
  });
});

describe('checkpoint envelope', () => {
  it('round-trips JSON state and byte state', () => {
    for (const app of [{ a: [1, 2] }, Buffer.from([0, 255, 7]), undefined]) {
      const e = { nextGlobalOrder: 5, nextAcceptOrder: 2, conns: [{ id: 'x#1', acceptOrder: 1, pending: Buffer.from('p') }], app };
      const d = decodeEnvelope(encodeEnvelope(e));
      expect(d.nextGlobalOrder).toBe(5);
      expect(d.conns[0]!.pending.toString()).toBe('p');
      expect(d.app).toEqual(app);
    }
  });
});
