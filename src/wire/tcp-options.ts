// TCP options (RFC 9293 §3.2, RFC 7323, RFC 2018): a non-allocating cursor for the hot path and a
// plain representation whose parse→emit keeps every byte (unknown options, padding after EOL).

export const TCP_OPT_EOL = 0;
export const TCP_OPT_NOP = 1;
export const TCP_OPT_MSS = 2;
export const TCP_OPT_WSCALE = 3;
export const TCP_OPT_SACK_PERM = 4;
export const TCP_OPT_SACK = 5;
export const TCP_OPT_TIMESTAMPS = 8;

export type TcpOptionError = 'option-overrun' | 'bad-option-length';

/**
 * Walks the options between `start` and `end` (absolute offsets). After `next()` returns true, `kind`,
 * `off` (offset of the kind byte) and `len` (whole option length) describe one option; EOL ends the
 * walk with `len` covering the rest of the area. `error` is set when a length byte is missing, below 2,
 * or runs past `end`: nothing past the header is ever read.
 */
export class TcpOptionCursor {
  kind = -1;
  off = 0;
  len = 0;
  error: TcpOptionError | null = null;
  private buf: Uint8Array = new Uint8Array(0);
  private pos = 0;
  private end = 0;

  reset(buf: Uint8Array, start: number, end: number): this {
    this.buf = buf;
    this.pos = start;
    this.end = Math.min(end, buf.length);
    this.kind = -1;
    this.error = null;
    return this;
  }

  next(): boolean {
    const p = this.pos;
    if (p >= this.end || this.error !== null) return false;
    const kind = this.buf[p]!;
    this.kind = kind;
    this.off = p;
    if (kind === TCP_OPT_EOL) {
      this.len = this.end - p;
      this.pos = this.end;
      return true;
    }
    if (kind === TCP_OPT_NOP) {
      this.len = 1;
      this.pos = p + 1;
      return true;
    }
    if (p + 1 >= this.end) {
      this.error = 'option-overrun';
      return false;
    }
    const len = this.buf[p + 1]!;
    if (len < 2) {
      this.error = 'bad-option-length';
      return false;
    }
    if (p + len > this.end) {
      this.error = 'option-overrun';
      return false;
    }
    this.len = len;
    this.pos = p + len;
    return true;
  }
}

/** Known options are recognised only with their RFC length; anything else stays `unknown`, byte-exact. */
export function isWellFormed(kind: number, len: number): boolean {
  switch (kind) {
    case TCP_OPT_MSS:
      return len === 4;
    case TCP_OPT_WSCALE:
      return len === 3;
    case TCP_OPT_SACK_PERM:
      return len === 2;
    case TCP_OPT_SACK:
      return len >= 10 && len <= 34 && (len - 2) % 8 === 0;
    case TCP_OPT_TIMESTAMPS:
      return len === 10;
    default:
      return true;
  }
}

export type TcpOption =
  | { kind: 'eol'; /** bytes after the EOL byte up to the end of the header (normally zeros) */ padding: Buffer }
  | { kind: 'nop' }
  | { kind: 'mss'; mss: number }
  | { kind: 'wscale'; shift: number }
  | { kind: 'sack-permitted' }
  | { kind: 'sack'; blocks: Array<[number, number]> }
  | { kind: 'timestamps'; tsval: number; tsecr: number }
  | { kind: 'unknown'; type: number; data: Buffer };

/** Parse the option area; returns an error code when the area is malformed. */
export function parseTcpOptions(buf: Buffer, start: number, end: number): TcpOption[] | TcpOptionError {
  const out: TcpOption[] = [];
  const c = new TcpOptionCursor().reset(buf, start, end);
  while (c.next()) {
    const o = c.off;
    const k = c.kind;
    if (k === TCP_OPT_EOL) {
      out.push({ kind: 'eol', padding: Buffer.from(buf.subarray(o + 1, o + c.len)) });
    } else if (k === TCP_OPT_NOP) {
      out.push({ kind: 'nop' });
    } else if (!isWellFormed(k, c.len)) {
      out.push({ kind: 'unknown', type: k, data: Buffer.from(buf.subarray(o + 2, o + c.len)) });
    } else if (k === TCP_OPT_MSS) {
      out.push({ kind: 'mss', mss: buf.readUInt16BE(o + 2) });
    } else if (k === TCP_OPT_WSCALE) {
      out.push({ kind: 'wscale', shift: buf[o + 2]! });
    } else if (k === TCP_OPT_SACK_PERM) {
      out.push({ kind: 'sack-permitted' });
    } else if (k === TCP_OPT_SACK) {
      const blocks: Array<[number, number]> = [];
      for (let p = o + 2; p < o + c.len; p += 8) blocks.push([buf.readUInt32BE(p), buf.readUInt32BE(p + 4)]);
      out.push({ kind: 'sack', blocks });
    } else if (k === TCP_OPT_TIMESTAMPS) {
      out.push({ kind: 'timestamps', tsval: buf.readUInt32BE(o + 2), tsecr: buf.readUInt32BE(o + 6) });
    } else {
      out.push({ kind: 'unknown', type: k, data: Buffer.from(buf.subarray(o + 2, o + c.len)) });
    }
  }
  return c.error ?? out;
}

export function tcpOptionLen(o: TcpOption): number {
  switch (o.kind) {
    case 'eol':
      return 1 + o.padding.length;
    case 'nop':
      return 1;
    case 'mss':
      return 4;
    case 'wscale':
      return 3;
    case 'sack-permitted':
      return 2;
    case 'sack':
      return 2 + 8 * o.blocks.length;
    case 'timestamps':
      return 10;
    case 'unknown':
      return 2 + o.data.length;
  }
}

/** Unpadded byte length of an option list. */
export function tcpOptionsLen(opts: readonly TcpOption[]): number {
  let n = 0;
  for (const o of opts) n += tcpOptionLen(o);
  return n;
}

/** Write options at `off`; returns bytes written (unpadded). */
export function emitTcpOptions(opts: readonly TcpOption[], buf: Buffer, off: number): number {
  let p = off;
  for (const o of opts) {
    switch (o.kind) {
      case 'eol':
        buf[p] = TCP_OPT_EOL;
        buf.set(o.padding, p + 1);
        p += 1 + o.padding.length;
        break;
      case 'nop':
        buf[p++] = TCP_OPT_NOP;
        break;
      case 'mss':
        buf[p] = TCP_OPT_MSS;
        buf[p + 1] = 4;
        buf.writeUInt16BE(o.mss & 0xffff, p + 2);
        p += 4;
        break;
      case 'wscale':
        buf[p] = TCP_OPT_WSCALE;
        buf[p + 1] = 3;
        buf[p + 2] = o.shift;
        p += 3;
        break;
      case 'sack-permitted':
        buf[p] = TCP_OPT_SACK_PERM;
        buf[p + 1] = 2;
        p += 2;
        break;
      case 'sack': {
        if (o.blocks.length < 1 || o.blocks.length > 4) throw new RangeError('SACK option carries 1 to 4 blocks');
        buf[p] = TCP_OPT_SACK;
        buf[p + 1] = 2 + 8 * o.blocks.length;
        let q = p + 2;
        for (const [l, r] of o.blocks) {
          buf.writeUInt32BE(l >>> 0, q);
          buf.writeUInt32BE(r >>> 0, q + 4);
          q += 8;
        }
        p = q;
        break;
      }
      case 'timestamps':
        buf[p] = TCP_OPT_TIMESTAMPS;
        buf[p + 1] = 10;
        buf.writeUInt32BE(o.tsval >>> 0, p + 2);
        buf.writeUInt32BE(o.tsecr >>> 0, p + 6);
        p += 10;
        break;
      case 'unknown':
        if (o.data.length > 253) throw new RangeError('TCP option longer than 255 bytes');
        buf[p] = o.type;
        buf[p + 1] = 2 + o.data.length;
        buf.set(o.data, p + 2);
        p += 2 + o.data.length;
        break;
    }
  }
  return p - off;
}
