import { describe, expect, it } from 'vitest';
import { daemonConnId, shimConnId, tupleKey, tupleKeyFromText, tupleKeyOfConnId } from '../../src/log/conn-key.js';
import { parseIpAddr } from '../../src/wire/addr.js';

describe('conn-key', () => {
  it('names IPv4 and IPv6 clients as the daemon does', () => {
    expect(tupleKey(parseIpAddr('10.77.0.1'), 40000, 7000)).toBe('10.77.0.1:40000>7000');
    expect(tupleKey(parseIpAddr('fd77::1'), 1, 80)).toBe('[fd77:0:0:0:0:0:0:1]:1>80');
  });
  it('maps a dual-stack (IPv4-mapped) remote address to its IPv4 name', () => {
    expect(tupleKeyFromText('::ffff:10.77.0.1', 40000, 7000)).toBe('10.77.0.1:40000>7000');
    expect(tupleKeyFromText('fd77::1', 5, 6)).toBe('[fd77:0:0:0:0:0:0:1]:5>6');
  });
  it('finds the tuple key inside either wrapper’s connection id', () => {
    const t = '[fd77:0:0:0:0:0:0:1]:5>6';
    expect(tupleKeyOfConnId(daemonConnId(t, 4294967295))).toBe(t);
    expect(tupleKeyOfConnId(shimConnId(t, 12))).toBe(t);
    expect(tupleKeyOfConnId(t)).toBe(t);
    expect(tupleKeyOfConnId('10.0.0.1:1>2/3')).toBe('10.0.0.1:1>2');
  });
});
