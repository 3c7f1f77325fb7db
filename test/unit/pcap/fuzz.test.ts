import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { decodeItem, humanLine } from '../../../src/pcap/decode-format.js';
import { NotACaptureError, readCapture } from '../../../src/pcap/reader.js';

const fixture = (name: string): Buffer =>
  readFileSync(fileURLToPath(new URL(`../../fixtures/${name}`, import.meta.url)));

/** Decode everything; the only exception allowed is NotACaptureError (exit code 2). */
function decodeAll(buf: Buffer): number {
  let n = 0;
  try {
    for (const item of readCapture(buf)) {
      const line = decodeItem(item);
      if (line !== null) {
        JSON.stringify(line);
        humanLine(line);
      }
      n++;
    }
  } catch (err) {
    if (!(err instanceof NotACaptureError)) throw err;
  }
  return n;
}

describe('decode never throws on damaged captures', () => {
  for (const name of ['lo-v4v6-snap200.pcap', 'lo-v4v6-snap200.pcapng']) {
    it(`random byte damage and cuts: ${name}`, () => {
      const good = fixture(name);
      fc.assert(
        fc.property(
          fc.array(fc.tuple(fc.nat(good.length - 1), fc.nat(255)), { maxLength: 20 }),
          fc.nat(good.length),
          (muts, cut) => {
            const b = Buffer.from(good);
            for (const [i, v] of muts) b[i] = v;
            expect(decodeAll(b.subarray(0, cut))).toBeGreaterThanOrEqual(0);
          },
        ),
        { numRuns: 1500 },
      );
    });
  }

  it('arbitrary bytes behind a valid magic', () => {
    const heads = [Buffer.from('d4c3b2a1', 'hex'), Buffer.from('a1b23c4d', 'hex'), Buffer.from('0a0d0d0a', 'hex')];
    fc.assert(
      fc.property(fc.constantFrom(...heads), fc.uint8Array({ maxLength: 400 }), (h, rest) => {
        decodeAll(Buffer.concat([h, rest]));
      }),
      { numRuns: 3000 },
    );
  });
});
