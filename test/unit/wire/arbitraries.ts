// fast-check generators shared by the wire tests.
import fc from 'fast-check';
import type { TcpOption } from '../../../src/wire/tcp-options.js';
import { tcpOptionsLen } from '../../../src/wire/tcp-options.js';
import type { TcpRepr } from '../../../src/wire/tcp.js';
import type { SegmentSpec } from '../../../src/wire/builder.js';

const u32 = fc.integer({ min: 0, max: 0xffffffff });
const u16 = fc.integer({ min: 0, max: 0xffff });

export const optionArb: fc.Arbitrary<TcpOption> = fc.oneof(
  fc.constant<TcpOption>({ kind: 'nop' }),
  u16.map<TcpOption>((mss) => ({ kind: 'mss', mss })),
  fc.integer({ min: 0, max: 255 }).map<TcpOption>((shift) => ({ kind: 'wscale', shift })),
  fc.constant<TcpOption>({ kind: 'sack-permitted' }),
  fc
    .array(fc.tuple(u32, u32), { minLength: 1, maxLength: 4 })
    .map<TcpOption>((blocks) => ({ kind: 'sack', blocks: blocks as Array<[number, number]> })),
  fc.tuple(u32, u32).map<TcpOption>(([tsval, tsecr]) => ({ kind: 'timestamps', tsval, tsecr })),
  fc
    .tuple(fc.integer({ min: 6, max: 255 }).filter((k) => k !== 8), fc.uint8Array({ maxLength: 12 }))
    .map<TcpOption>(([type, data]) => ({ kind: 'unknown', type, data: Buffer.from(data) })),
  // Known kinds with a wrong length stay unknown, byte-exact.
  fc.constant<TcpOption>({ kind: 'unknown', type: 2, data: Buffer.from([1, 2, 3]) }),
);

/** Option lists that fit in 40 bytes, padded to a multiple of 4 with an explicit EOL when needed. */
export const optionListArb: fc.Arbitrary<TcpOption[]> = fc
  .array(optionArb, { maxLength: 8 })
  .map((opts) => {
    const out: TcpOption[] = [];
    for (const o of opts) if (tcpOptionsLen([...out, o]) <= 40) out.push(o);
    const len = tcpOptionsLen(out);
    if (len % 4 !== 0) out.push({ kind: 'eol', padding: Buffer.alloc(3 - (len % 4)) });
    return out;
  });

export const tcpReprArb: fc.Arbitrary<TcpRepr> = fc.record({
  srcPort: u16,
  dstPort: u16,
  seq: u32,
  ack: u32,
  flags: fc.integer({ min: 0, max: 255 }),
  window: u16,
  urgent: u16,
  reserved: fc.integer({ min: 0, max: 15 }),
  options: optionListArb,
  payload: fc.uint8Array({ maxLength: 64 }).map((b) => Buffer.from(b) as Uint8Array),
});

export const ipv4Arb = fc.tuple(fc.nat(255), fc.nat(255), fc.nat(255), fc.nat(255)).map((a) => a.join('.'));
export const ipv6Arb = fc
  .array(fc.integer({ min: 0, max: 0xffff }), { minLength: 8, maxLength: 8 })
  .map((w) => w.map((x) => x.toString(16)).join(':'));

/** The fields of a forged TCP segment (both IP versions), kept for checking what a parser reads. */
export interface SegmentFields {
  v6: boolean;
  a4: [string, string];
  a6: [string, string];
  srcPort: number;
  dstPort: number;
  seq: number;
  ack: number;
  flags: number;
  window: number;
  mss: number | undefined;
  wscale: number | undefined;
  sackPermitted: boolean;
  sack: Array<[number, number]> | undefined;
  ts: [number, number] | undefined;
  payload: Uint8Array;
}

export function segmentFieldsArb(o: { minPort?: number; maxSackBlocks?: number; maxPayload?: number } = {}): fc.Arbitrary<SegmentFields> {
  const port = fc.integer({ min: o.minPort ?? 0, max: 0xffff });
  return fc.record({
    v6: fc.boolean(),
    a4: fc.tuple(ipv4Arb, ipv4Arb),
    a6: fc.tuple(ipv6Arb, ipv6Arb),
    srcPort: port,
    dstPort: port,
    seq: u32,
    ack: u32,
    flags: fc.nat(255),
    window: fc.nat(0xffff),
    mss: fc.option(fc.nat(0xffff), { nil: undefined }),
    wscale: fc.option(fc.nat(14), { nil: undefined }),
    sackPermitted: fc.boolean(),
    sack: fc.option(fc.array(fc.tuple(u32, u32), { minLength: 1, maxLength: o.maxSackBlocks ?? 4 }), { nil: undefined }),
    ts: fc.option(fc.tuple(u32, u32), { nil: undefined }),
    payload: fc.uint8Array({ maxLength: o.maxPayload ?? 100 }),
  });
}

/** The builder spec for those fields (options laid out the way Linux does). */
export function toSegmentSpec(s: SegmentFields): SegmentSpec {
  const [src, dst] = s.v6 ? s.a6 : s.a4;
  return {
    src,
    dst,
    srcPort: s.srcPort,
    dstPort: s.dstPort,
    seq: s.seq,
    ack: s.ack,
    flags: s.flags,
    window: s.window,
    sackPermitted: s.sackPermitted,
    payload: s.payload,
    ...(s.mss !== undefined ? { mss: s.mss } : {}),
    ...(s.wscale !== undefined ? { wscale: s.wscale } : {}),
    ...(s.sack !== undefined ? { sack: s.sack } : {}),
    ...(s.ts !== undefined ? { timestamps: { tsval: s.ts[0], tsecr: s.ts[1] } } : {}),
  };
}
