// The control socket's capture request: validated without throwing; defaults to both sides.
import { describe, expect, it } from 'vitest';
import { parseRequest } from '../../../src/status/control-protocol.js';

describe('capture request', () => {
  it('parses side, count and seconds', () => {
    expect(parseRequest('{"cmd":"capture"}')).toEqual({ ok: true, cmd: 'capture', capture: { side: 'both' } });
    expect(parseRequest('{"cmd":"capture","side":"inner","count":10,"seconds":2.5}')).toEqual({
      ok: true,
      cmd: 'capture',
      capture: { side: 'inner', count: 10, seconds: 2.5 },
    });
  });

  it('refuses bad values with a message naming the field', () => {
    for (const [line, field] of [
      ['{"cmd":"capture","side":"left"}', 'side'],
      ['{"cmd":"capture","side":1}', 'side'],
      ['{"cmd":"capture","count":0}', 'count'],
      ['{"cmd":"capture","count":1.5}', 'count'],
      ['{"cmd":"capture","count":"3"}', 'count'],
      ['{"cmd":"capture","seconds":-1}', 'seconds'],
      ['{"cmd":"capture","seconds":null}', 'seconds'],
    ] as const) {
      const r = parseRequest(line);
      expect(r.ok, line).toBe(false);
      if (!r.ok) expect(r.error).toContain(`"${field}"`);
    }
  });
});
