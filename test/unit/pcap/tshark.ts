// Reference decoding with tshark, for tests that check `ftcp decode` field by field.
import { execFileSync } from 'node:child_process';
import type { DecodedTcp } from '../../../src/pcap/decode-format.js';

export const TSHARK_FIELDS = [
  'frame.time_epoch',
  'ip.src',
  'ip.dst',
  'ipv6.src',
  'ipv6.dst',
  'tcp.srcport',
  'tcp.dstport',
  'tcp.seq_raw',
  'tcp.ack_raw',
  'tcp.flags',
  'tcp.window_size_value',
  'tcp.len',
  'tcp.options.mss_val',
  'tcp.options.wscale.shift',
  'tcp.options.sack_perm',
  'tcp.options.sack_le',
  'tcp.options.sack_re',
  'tcp.options.timestamp.tsval',
  'tcp.options.timestamp.tsecr',
  'frame.comment',
] as const;

export function hasTshark(): boolean {
  try {
    execFileSync('tshark', ['--version'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

/** tshark's TCP packets as tab-separated field text (the same text a fixture .tsv stores). */
export function tsharkFieldText(file: string): string {
  const args = ['-r', file, '-n', '-Y', 'tcp', '-o', 'tcp.relative_sequence_numbers:FALSE', '-T', 'fields'];
  for (const f of TSHARK_FIELDS) args.push('-e', f);
  args.push('-E', 'separator=/t', '-E', 'occurrence=a', '-E', 'aggregator=,');
  return execFileSync('tshark', args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] });
}

/** What `ftcp decode --json` must print for each tshark row. */
export function expectedFromTshark(text: string): DecodedTcp[] {
  const rows = text.split('\n').filter((l) => l.trim() !== '');
  return rows.map((line) => {
    const c = line.split('\t');
    const f = (name: (typeof TSHARK_FIELDS)[number]): string => c[TSHARK_FIELDS.indexOf(name)] ?? '';
    const num = (name: (typeof TSHARK_FIELDS)[number]): number => Number(f(name));
    // Tunnelled or ICMP-quoted packets carry several values; the first is the outer one.
    const first = (name: (typeof TSHARK_FIELDS)[number]): string => f(name).split(',')[0] ?? '';
    const d: DecodedTcp = {
      ts: num('frame.time_epoch'),
      src: first('ip.src') || first('ipv6.src'),
      dst: first('ip.dst') || first('ipv6.dst'),
      sport: num('tcp.srcport'),
      dport: num('tcp.dstport'),
      seq: num('tcp.seq_raw'),
      ack: num('tcp.ack_raw'),
      flags: parseInt(f('tcp.flags'), 16) & 0xff,
      win: num('tcp.window_size_value'),
      len: num('tcp.len'),
    };
    if (f('tcp.options.mss_val') !== '') d.mss = num('tcp.options.mss_val');
    if (f('tcp.options.wscale.shift') !== '') d.wscale = num('tcp.options.wscale.shift');
    if (f('tcp.options.sack_perm') !== '') d.sackPermitted = true;
    if (f('tcp.options.sack_le') !== '') {
      const le = f('tcp.options.sack_le').split(',').map(Number);
      const re = f('tcp.options.sack_re').split(',').map(Number);
      d.sack = le.map((l, i) => [l, re[i]!] as [number, number]);
    }
    if (f('tcp.options.timestamp.tsval') !== '') {
      d.tsval = num('tcp.options.timestamp.tsval');
      d.tsecr = num('tcp.options.timestamp.tsecr');
    }
    if (f('frame.comment') !== '') d.comment = f('frame.comment');
    return d;
  });
}

/** Compare decode output with tshark's rows; timestamps to the microsecond. */
export function compareWithTshark(actual: DecodedTcp[], expected: DecodedTcp[]): void {
  if (actual.length !== expected.length) {
    throw new Error(`decode printed ${actual.length} TCP packets, tshark ${expected.length}`);
  }
  for (let i = 0; i < actual.length; i++) {
    const a = actual[i]!;
    const e = expected[i]!;
    if (Math.abs((a.ts ?? NaN) - (e.ts ?? NaN)) > 1e-6) throw new Error(`packet ${i + 1}: ts ${a.ts} vs tshark ${e.ts}`);
    const strip = (d: DecodedTcp): string => JSON.stringify({ ...d, ts: 0 }, Object.keys({ ...d }).sort());
    if (strip(a) !== strip(e)) {
      throw new Error(`packet ${i + 1} differs:\n  decode ${JSON.stringify(a)}\n  tshark ${JSON.stringify(e)}`);
    }
  }
}
