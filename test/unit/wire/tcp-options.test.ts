import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  emitTcpOptions,
  parseTcpOptions,
  TcpOptionCursor,
  tcpOptionsLen,
} from '../../../src/wire/tcp-options.js';
import { optionListArb } from './arbitraries.js';

const hex = (s: string): Buffer => Buffer.from(s.replace(/\s+/g, ''), 'hex');

describe('TCP options', () => {
  it('parses the options of a Linux SYN', () => {
    // mss 65495, sackOK, TS val 3043299923 ecr 0, nop, wscale 10 (from a tshark-checked capture)
    const b = hex('0204ffd7 0402 080a b5651253 00000000 01 03030a');
    expect(parseTcpOptions(b, 0, b.length)).toEqual([
      { kind: 'mss', mss: 65495 },
      { kind: 'sack-permitted' },
      { kind: 'timestamps', tsval: 3043299923, tsecr: 0 },
      { kind: 'nop' },
      { kind: 'wscale', shift: 10 },
    ]);
  });

  it('parses SACK blocks and keeps EOL padding', () => {
    const b = hex('0101 050a 00000001 00000002 00 ffff');
    expect(parseTcpOptions(b, 0, b.length)).toEqual([
      { kind: 'nop' },
      { kind: 'nop' },
      { kind: 'sack', blocks: [[1, 2]] },
      { kind: 'eol', padding: hex('ffff') },
    ]);
  });

  it('reports lengths past the area and lengths below 2', () => {
    expect(parseTcpOptions(hex('0204ff'), 0, 3)).toBe('option-overrun');
    expect(parseTcpOptions(hex('0101 02'), 0, 3)).toBe('option-overrun');
    expect(parseTcpOptions(hex('0100 0000'), 0, 4)).toEqual([{ kind: 'nop' }, { kind: 'eol', padding: hex('0000') }]);
    expect(parseTcpOptions(hex('0301 0000'), 0, 4)).toBe('bad-option-length');
    // The area ends before the buffer does: bytes after `end` are never read.
    expect(parseTcpOptions(hex('080a 0000 0000 0000 0000'), 0, 8)).toBe('option-overrun');
  });

  it('treats known kinds with a wrong length as unknown, byte-exact', () => {
    const b = hex('0205 aabbcc 000000');
    const opts = parseTcpOptions(b, 0, b.length);
    expect(opts).toEqual([
      { kind: 'unknown', type: 2, data: hex('aabbcc') },
      { kind: 'eol', padding: hex('0000') },
    ]);
  });

  it('round-trips parse∘emit byte-exact for arbitrary option lists', () => {
    fc.assert(
      fc.property(optionListArb, (opts) => {
        const len = tcpOptionsLen(opts);
        const b = Buffer.alloc(len);
        expect(emitTcpOptions(opts, b, 0)).toBe(len);
        const back = parseTcpOptions(b, 0, len);
        expect(back).toEqual(opts);
        const again = Buffer.alloc(len);
        emitTcpOptions(back as never, again, 0);
        expect(again.equals(b)).toBe(true);
      }),
      { numRuns: 500 },
    );
  });

  it('never reads past the area and never throws on garbage', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 48 }), fc.nat(48), (data, cut) => {
        const end = Math.min(cut, data.length);
        const c = new TcpOptionCursor().reset(data, 0, end);
        let n = 0;
        while (c.next()) {
          expect(c.off + c.len).toBeLessThanOrEqual(end);
          n++;
        }
        expect(n).toBeLessThanOrEqual(48);
        parseTcpOptions(Buffer.from(data), 0, end);
      }),
      { numRuns: 1000 },
    );
  });
});
