import { mkdtempSync, mkdirSync, rmSync } from 'node:fs';
import { getPriority } from 'node:os';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { setProcessNice } from '../../../src/run/process-priority.js';

describe('setProcessNice', () => {
  it('sets every thread of the process (here: to the nice value it already has)', () => {
    const nice = getPriority(0);
    const res = setProcessNice(nice);
    expect(res.error).toBeUndefined();
    expect(res.threads).toBeGreaterThanOrEqual(1);
    expect(getPriority(0)).toBe(nice);
  });

  it('skips a thread that has ended meanwhile', () => {
    const dir = mkdtempSync(join(tmpdir(), 'ftcp-tasks-'));
    try {
      mkdirSync(join(dir, '4194303')); // above the default pid_max (4194304 is the hard limit): no such thread
      expect(setProcessNice(getPriority(0), dir)).toEqual({ threads: 0, error: undefined });
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('says why when the threads cannot be listed', () => {
    const res = setProcessNice(0, '/nonexistent/task');
    expect(res.threads).toBe(0);
    expect(res.error).toMatch(/ENOENT/);
  });
});
