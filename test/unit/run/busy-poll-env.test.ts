// FTCP_TUN_BUSY_POLL_US: the daemon's busy-poll window (event-loop TUN reader), checked at start.
import { describe, expect, it } from 'vitest';
import { busyPollFromEnv, DEFAULT_BUSY_POLL_US } from '../../../src/run/topology.js';
import { ConfigError } from '../../../src/run/run-config.js';

describe('busyPollFromEnv', () => {
  it('defaults when unset or empty', () => {
    expect(busyPollFromEnv(undefined)).toBe(DEFAULT_BUSY_POLL_US);
    expect(busyPollFromEnv('')).toBe(DEFAULT_BUSY_POLL_US);
  });

  it('takes whole microseconds, 0 turning busy-polling off', () => {
    expect(busyPollFromEnv('0')).toBe(0);
    expect(busyPollFromEnv('120')).toBe(120);
  });

  it('refuses anything else with a message naming the variable', () => {
    for (const bad of ['-1', '1.5', 'fast', '10001']) {
      expect(() => busyPollFromEnv(bad)).toThrow(ConfigError);
      expect(() => busyPollFromEnv(bad)).toThrow(/FTCP_TUN_BUSY_POLL_US/);
    }
  });
});
