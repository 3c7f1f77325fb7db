// Turning capture records into decode output: one JSON object or one human line per TCP packet.
import { PacketParser, tcpFacts, type TcpFacts } from '../wire/packet-parser.js';
import { ipOffset } from './link.js';
import type { CaptureItem } from './reader.js';

/** One line of `ftcp decode --json`. Optional fields appear only when the option is present. */
export interface DecodedTcp {
  ts: number | null;
  src: string;
  dst: string;
  sport: number;
  dport: number;
  seq: number;
  ack: number;
  flags: number;
  win: number;
  len: number;
  mss?: number;
  wscale?: number;
  sackPermitted?: true;
  sack?: Array<[number, number]>;
  tsval?: number;
  tsecr?: number;
  comment?: string;
}

export interface DecodeFailure {
  ts: number | null;
  error: string;
  comment?: string;
}

export type DecodeLine = DecodedTcp | DecodeFailure;

const parser = new PacketParser({ allowShortPayload: true });

/** Decode one capture item; null when it is not TCP (skipped). */
export function decodeItem(item: CaptureItem): DecodeLine | null {
  if ('error' in item) return { ts: item.ts, error: item.error };
  const comment = item.comments.length > 0 ? item.comments.join('\n') : undefined;
  const fail = (error: string): DecodeFailure => (comment === undefined ? { ts: item.ts, error } : { ts: item.ts, error, comment });
  const link = ipOffset(item.linkType, item.data);
  if (!link.ok) return link.error === 'not-ip' ? null : fail(link.error);
  const st = parser.parse(item.data, link.off, item.data.length - link.off);
  if (st === 'not-tcp') return null;
  if (st === 'fragment') return parser.protocol === 6 ? fail('fragment') : null;
  if (st !== 'ok') return fail(st);
  return toLine(item.ts, tcpFacts(parser), comment);
}

function toLine(ts: number | null, f: TcpFacts, comment: string | undefined): DecodedTcp {
  const d: DecodedTcp = {
    ts,
    src: f.src,
    dst: f.dst,
    sport: f.srcPort,
    dport: f.dstPort,
    seq: f.seq,
    ack: f.ack,
    flags: f.flags,
    win: f.window,
    len: f.payloadLen,
  };
  if (f.mss !== undefined) d.mss = f.mss;
  if (f.wscale !== undefined) d.wscale = f.wscale;
  if (f.sackPermitted) d.sackPermitted = true;
  if (f.sack !== undefined) d.sack = f.sack;
  if (f.tsval !== undefined) {
    d.tsval = f.tsval;
    d.tsecr = f.tsecr!;
  }
  if (comment !== undefined) d.comment = comment;
  return d;
}

// tcpdump's letters and order.
const FLAG_CHARS: Array<[number, string]> = [
  [1, 'F'],
  [2, 'S'],
  [4, 'R'],
  [8, 'P'],
  [16, '.'],
  [32, 'U'],
  [64, 'E'],
  [128, 'W'],
];

export function flagString(flags: number): string {
  let s = '';
  for (const [bit, ch] of FLAG_CHARS) if (flags & bit) s += ch;
  return s || 'none';
}

function endpoint(addr: string, port: number): string {
  return addr.includes(':') ? `[${addr}]:${port}` : `${addr}:${port}`;
}

function tsText(ts: number | null): string {
  return ts === null ? '-' : ts.toFixed(6);
}

/**
 * tcpdump-like human line with raw sequence numbers; `iface` (the capture interface, in a capture
 * of several such as `ftcp capture NAME --side both`) follows the time.
 */
export function humanLine(d: DecodeLine, iface?: string): string {
  const note = d.comment !== undefined ? `  # ${d.comment.replace(/\n/g, ' | ')}` : '';
  if ('error' in d) return `${tsText(d.ts)} error: ${d.error}${note}`;
  const opts: string[] = [];
  if (d.mss !== undefined) opts.push(`mss ${d.mss}`);
  if (d.sackPermitted) opts.push('sackOK');
  if (d.tsval !== undefined) opts.push(`TS val ${d.tsval} ecr ${d.tsecr}`);
  if (d.wscale !== undefined) opts.push(`wscale ${d.wscale}`);
  if (d.sack !== undefined) opts.push(`sack ${d.sack.map(([l, r]) => `{${l}:${r}}`).join('')}`);
  const optText = opts.length > 0 ? `, options [${opts.join(',')}]` : '';
  const on = iface !== undefined ? ` ${iface}` : '';
  return (
    `${tsText(d.ts)}${on} ${endpoint(d.src, d.sport)} > ${endpoint(d.dst, d.dport)}: Flags [${flagString(d.flags)}], ` +
    `seq ${d.seq}, ack ${d.ack}, win ${d.win}${optText}, length ${d.len}${note}`
  );
}
