// Streams a pcapng capture to a file (or stdout) as packets arrive: header blocks first, then one
// Enhanced Packet Block per packet, written in batches so a long capture never sits in memory.
import { closeSync, fsyncSync, openSync, writeSync } from 'node:fs';
import { enhancedPacketBlock, interfaceDescriptionBlock, sectionHeaderBlock, type PcapngInterface } from '../pcap/pcapng-writer.js';

const FLUSH_BYTES = 256 * 1024;
const FLUSH_MS = 200;
const TS_RESOLUTION = 9;

export class PcapngFileSink {
  private readonly fd: number;
  private readonly ownsFd: boolean;
  private pending: Buffer[] = [];
  private pendingBytes = 0;
  private readonly timer: NodeJS.Timeout;
  private closed = false;
  packets = 0;
  bytes = 0;

  /** `path` '-' writes to stdout. One interface (id 0) per file. */
  constructor(path: string, iface: PcapngInterface, userAppl = 'ftcp capture') {
    this.ownsFd = path !== '-';
    this.fd = this.ownsFd ? openSync(path, 'w', 0o640) : 1;
    this.push(sectionHeaderBlock(userAppl));
    this.push(interfaceDescriptionBlock({ ...iface, tsResolution: TS_RESOLUTION }));
    this.flush();
    // A reader (tshark -r, tail) sees packets within a fraction of a second even on a quiet link.
    this.timer = setInterval(() => this.flush(), FLUSH_MS);
    this.timer.unref();
  }

  add(ts: bigint, data: Uint8Array, origLen?: number, comment?: string): void {
    if (this.closed) return;
    this.push(enhancedPacketBlock({ interfaceId: 0, ts, data, ...(origLen !== undefined ? { origLen } : {}), ...(comment !== undefined ? { comment } : {}) }, TS_RESOLUTION));
    this.packets++;
    if (this.pendingBytes >= FLUSH_BYTES) this.flush();
  }

  private push(b: Buffer): void {
    this.pending.push(b);
    this.pendingBytes += b.length;
  }

  flush(): void {
    if (this.pendingBytes === 0) return;
    const chunk = Buffer.concat(this.pending);
    this.pending = [];
    this.pendingBytes = 0;
    writeAllSync(this.fd, chunk);
    this.bytes += chunk.length;
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    clearInterval(this.timer);
    this.flush();
    if (this.ownsFd) {
      fsyncSync(this.fd);
      closeSync(this.fd);
    }
  }
}

/** Writes all of `chunk` to `fd`, waiting out EAGAIN (a non-blocking stdout pipe that is full). */
export function writeAllSync(fd: number, chunk: Buffer): void {
  for (let off = 0; off < chunk.length; ) {
    try {
      off += writeSync(fd, chunk, off);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EAGAIN') throw err;
      Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 5);
    }
  }
}
