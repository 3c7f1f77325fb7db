// The pure parts of the primary's standby watch: which consumer counts as a live follower, and
// when the "no standby" warning and its all-clear are due.
import { describe, expect, it } from 'vitest';
import { StandbyPresence, isLiveFollower, type FollowerInfo } from '../../../src/run/standby-watch.js';

const NOW = Date.parse('2026-11-26T12:00:00Z');
const ci = (over: { waiting?: number; durable?: string; lastActive?: unknown } = {}): FollowerInfo => ({
  num_waiting: over.waiting ?? 0,
  config: over.durable !== undefined ? { durable_name: over.durable } : {},
  delivered: over.lastActive !== undefined ? { last_active: over.lastActive } : {},
});

describe('isLiveFollower', () => {
  it('counts an ephemeral consumer with a pull request outstanding', () => {
    expect(isLiveFollower(ci({ waiting: 1 }), NOW, 4000)).toBe(true);
  });
  it('does not count a consumer left by a dead client (no pull outstanding, nothing delivered lately)', () => {
    expect(isLiveFollower(ci(), NOW, 4000)).toBe(false);
    expect(isLiveFollower(ci({ lastActive: '2026-11-26T11:59:50Z' }), NOW, 4000)).toBe(false);
  });
  it('counts one that delivered recently (between two pulls under load)', () => {
    expect(isLiveFollower(ci({ lastActive: '2026-11-26T11:59:58.5Z' }), NOW, 4000)).toBe(true);
  });
  it('ignores durable consumers and malformed times', () => {
    expect(isLiveFollower(ci({ waiting: 3, durable: 'audit' }), NOW, 4000)).toBe(false);
    expect(isLiveFollower(ci({ lastActive: 'yesterday' }), NOW, 4000)).toBe(false);
    expect(isLiveFollower(ci({ lastActive: 12345 }), NOW, 4000)).toBe(false);
  });
});

describe('StandbyPresence', () => {
  it('warns after two empty checks in a row, not after one', () => {
    const p = new StandbyPresence(2);
    expect(p.observe(1)).toBe('first');
    expect(p.observe(0)).toBeUndefined();
    expect(p.observe(1)).toBeUndefined(); // a gap between pulls: no warning
    expect(p.observe(0)).toBeUndefined();
    expect(p.observe(0)).toBe('none');
    expect(p.observe(0)).toBeUndefined(); // said once
    expect(p.following).toBe(false);
    expect(p.observe(2)).toBe('back');
    expect(p.observe(1)).toBeUndefined();
    expect(p.following).toBe(true);
  });
  it('a primary that never had a standby says so', () => {
    const p = new StandbyPresence(2);
    expect(p.following).toBeUndefined();
    expect(p.observe(0)).toBeUndefined();
    expect(p.observe(0)).toBe('none');
    expect(p.observe(1)).toBe('back');
  });
  it('a failed check concludes nothing and does not break a run of empty checks', () => {
    const p = new StandbyPresence(2);
    p.observe(1);
    expect(p.observe(0)).toBeUndefined();
    expect(p.observe(undefined)).toBeUndefined();
    expect(p.observe(0)).toBe('none');
    expect(p.observe(undefined)).toBeUndefined();
    expect(p.following).toBe(false);
  });
  it('refuses a nonsense threshold', () => {
    expect(() => new StandbyPresence(0)).toThrow(/positive integer/);
  });
});
