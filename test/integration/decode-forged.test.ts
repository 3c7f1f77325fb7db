// Forged segments (wire builders, both IP versions, every option kind, odd option alignment, unknown
// options) written with our pcapng writer, then read by tshark: tshark must agree with `ftcp decode`
// on every field and must find both the IPv4 header checksum and the TCP checksum good.
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { DecodedTcp } from '../../src/pcap/decode-format.js';
import { PcapngWriter } from '../../src/pcap/pcapng-writer.js';
import { buildSegment, layoutOptions, type SegmentSpec } from '../../src/wire/builder.js';
import { tcpOptionsLen, type TcpOption } from '../../src/wire/tcp-options.js';
import { segmentFieldsArb, toSegmentSpec } from '../unit/wire/arbitraries.js';
import { compareWithTshark, expectedFromTshark, tsharkFieldText } from '../unit/pcap/tshark.js';

const ROOT = new URL('../../', import.meta.url).pathname;
const MAIN = join(ROOT, 'dist/cli/main.js');
const tmp = mkdtempSync(join(tmpdir(), 'ftcp-forged-'));

const specArb: fc.Arbitrary<SegmentSpec> = fc
  .record({
    fields: segmentFieldsArb({ minPort: 1024, maxSackBlocks: 4, maxPayload: 64 }),
    leadingNops: fc.nat(3),
    unknown: fc.option(fc.tuple(fc.constantFrom(253, 254), fc.uint8Array({ minLength: 2, maxLength: 6 })), { nil: undefined }),
  })
  .map((s) => {
    const base = toSegmentSpec(s.fields);
    // Shift the layout by NOPs and an unknown option so values sit at odd offsets too.
    const opts: TcpOption[] = Array.from({ length: s.leadingNops }, () => ({ kind: 'nop' }) as TcpOption);
    if (s.unknown) opts.push({ kind: 'unknown', type: s.unknown[0], data: Buffer.from(s.unknown[1]) });
    opts.push(...layoutOptions(base));
    // Drop optional parts until the options fit in 40 bytes.
    while (tcpOptionsLen(opts) > 40) opts.splice(opts.findIndex((o) => o.kind === 'sack' || o.kind === 'unknown' || o.kind === 'nop'), 1);
    return { ...base, options: opts };
  });

beforeAll(() => {
  spawnSync('npm', ['run', 'build:ts'], { cwd: ROOT, stdio: 'ignore', timeout: 300_000 });
  if (!existsSync(MAIN)) throw new Error('dist/cli/main.js missing after npm run build:ts');
});
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

describe('forged segments in our own pcapng, read by tshark', () => {
  it('agree field by field, with good IPv4 and TCP checksums', () => {
    const specs = fc.sample(specArb, { seed: 20261126, numRuns: 300 });
    const w = new PcapngWriter();
    const raw = w.addInterface({ linkType: 101, tsResolution: 9 });
    const v4 = w.addInterface({ linkType: 228, tsResolution: 6 });
    const v6 = w.addInterface({ linkType: 229, tsResolution: 9 });
    specs.forEach((s, i) => {
      const pkt = buildSegment(s);
      const isV6 = typeof s.src === 'string' && s.src.includes(':');
      const iface = i % 2 === 0 ? raw : isV6 ? v6 : v4;
      w.addPacket({ interfaceId: iface, ts: 1_700_000_000_000_000_000n + BigInt(i) * 1_000_123n, data: pkt, ...(i % 7 === 0 ? { comment: `forged #${i}` } : {}) });
    });
    const file = join(tmp, 'forged.pcapng');
    writeFileSync(file, w.toBuffer());

    const out = execFileSync('node', [MAIN, 'decode', '--json', file], { encoding: 'utf8' });
    const actual = out.split('\n').filter((l) => l !== '').map((l) => JSON.parse(l) as DecodedTcp);
    expect(actual).toHaveLength(specs.length);
    compareWithTshark(actual, expectedFromTshark(tsharkFieldText(file)));
    expect(actual.filter((d) => d.comment !== undefined)).toHaveLength(Math.ceil(specs.length / 7));

    const status = execFileSync(
      'tshark',
      ['-r', file, '-n', '-o', 'tcp.check_checksum:TRUE', '-o', 'ip.check_checksum:TRUE', '-T', 'fields', '-e', 'ip.checksum.status', '-e', 'tcp.checksum.status'],
      { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] },
    )
      .split('\n')
      .filter((l) => l !== '');
    expect(status).toHaveLength(specs.length);
    // 1 = good; IPv6 has no header checksum (empty field).
    for (const line of status) expect(line).toMatch(/^(1)?\t1$/);
  });
});
