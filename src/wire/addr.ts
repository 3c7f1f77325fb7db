// IP address text <-> bytes. Formatting follows RFC 5952 (lowercase, longest zero run compressed),
// which is also how tshark prints addresses.
import { isIPv4, isIPv6 } from 'node:net';

export type IpAddr = string | Uint8Array;

export function formatIpv4(buf: Uint8Array, off: number): string {
  return `${buf[off]}.${buf[off + 1]}.${buf[off + 2]}.${buf[off + 3]}`;
}

export function formatIpv6(buf: Uint8Array, off: number): string {
  const w: number[] = [];
  for (let i = 0; i < 8; i++) w.push((buf[off + 2 * i]! << 8) | buf[off + 2 * i + 1]!);
  // IPv4-mapped addresses keep the dotted quad (RFC 5952 §5).
  if (w[0] === 0 && w[1] === 0 && w[2] === 0 && w[3] === 0 && w[4] === 0 && w[5] === 0xffff) {
    return `::ffff:${formatIpv4(buf, off + 12)}`;
  }
  let bestStart = -1;
  let bestLen = 1; // a single zero group is never compressed
  for (let i = 0; i < 8; ) {
    if (w[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && w[j] === 0) j++;
    if (j - i > bestLen) {
      bestStart = i;
      bestLen = j - i;
    }
    i = j;
  }
  const hex = (a: number[]): string => a.map((x) => x.toString(16)).join(':');
  if (bestStart < 0) return hex(w);
  return `${hex(w.slice(0, bestStart))}::${hex(w.slice(bestStart + bestLen))}`;
}

/** Parse an IPv4 or IPv6 address into 4 or 16 bytes; throws on bad text (not for the packet path). */
export function parseIpAddr(text: string): Uint8Array {
  if (isIPv4(text)) return Uint8Array.from(text.split('.').map(Number));
  if (!isIPv6(text)) throw new Error(`not an IP address: ${text}`);
  let s = text;
  const pct = s.indexOf('%');
  if (pct >= 0) s = s.slice(0, pct);
  const out = new Uint8Array(16);
  const tailV4 = /(\d+\.\d+\.\d+\.\d+)$/.exec(s);
  const words: number[] = [];
  const parseGroups = (part: string): number[] => (part === '' ? [] : part.split(':').map((g) => parseInt(g, 16)));
  let v4: number[] | null = null;
  if (tailV4) {
    v4 = tailV4[1]!.split('.').map(Number);
    s = s.slice(0, s.length - tailV4[1]!.length);
    if (s.endsWith(':') && !s.endsWith('::')) s = s.slice(0, -1);
  }
  const need = v4 ? 6 : 8;
  const dbl = s.indexOf('::');
  if (dbl >= 0) {
    const head = parseGroups(s.slice(0, dbl));
    const tail = parseGroups(s.slice(dbl + 2));
    words.push(...head, ...new Array<number>(need - head.length - tail.length).fill(0), ...tail);
  } else {
    words.push(...parseGroups(s));
  }
  for (let i = 0; i < need; i++) {
    out[2 * i] = words[i]! >>> 8;
    out[2 * i + 1] = words[i]! & 0xff;
  }
  if (v4) out.set(v4, 12);
  return out;
}

export function toAddrBytes(a: IpAddr): Uint8Array {
  return typeof a === 'string' ? parseIpAddr(a) : a;
}

export function formatAddr(bytes: Uint8Array): string {
  return bytes.length === 4 ? formatIpv4(bytes, 0) : formatIpv6(bytes, 0);
}
