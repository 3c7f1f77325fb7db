// Live capture of a host interface through libpcap (the `cap` binding). One packet at a time is
// copied out of cap's shared buffer and handed on with a nanosecond timestamp.
import { createRequire } from 'node:module';
import { linkTypeFromCapName } from './link-type.js';

const require = createRequire(import.meta.url);

interface CapHandle {
  open(device: string, filter: string, bufSize: number, buffer: Buffer): string;
  close(): boolean;
  on(event: 'packet', fn: (nbytes: number, truncated: boolean) => void): void;
}
interface CapModule {
  Cap: { new (): CapHandle; deviceList(): Array<{ name: string }> };
}

/** Why a capture could not start; the message says what to do. */
export class CaptureError extends Error {
  override name = 'CaptureError';
}

export interface CapturedPacket {
  /** Nanoseconds since the epoch when the packet reached this process (cap does not pass libpcap's). */
  ts: bigint;
  data: Buffer;
  /** The packet was longer than the snapshot length (65535) and was cut. */
  truncated: boolean;
}

export interface IfaceCaptureOptions {
  iface: string;
  /** BPF filter expression (pcap-filter(7)); empty captures everything. */
  filter?: string;
  /** Kernel ring buffer size in bytes. */
  bufferBytes?: number;
}

const SNAP_LEN = 65535;

/**
 * Handles whose open() failed. cap's destructor then stops a poll handle it never started, which
 * aborts the process; holding them keeps the destructor from ever running.
 */
const failedHandles: CapHandle[] = [];

function loadCap(): CapModule {
  try {
    return require('cap') as CapModule;
  } catch (err) {
    throw new CaptureError(`the libpcap binding (npm package cap) is not available: ${(err as Error).message.split('\n')[0]}; run \`npm rebuild cap\` (needs libpcap-dev)`);
  }
}

/** Names of the interfaces libpcap can open in this network namespace. */
export function captureInterfaces(): string[] {
  return loadCap().Cap.deviceList().map((d) => d.name);
}

function explainOpenError(iface: string, filter: string, message: string): CaptureError {
  if (/Operation not permitted|permission/i.test(message)) {
    return new CaptureError(`${iface}: ${message}: capturing needs root (CAP_NET_RAW and CAP_NET_ADMIN)`);
  }
  if (/filter|syntax/i.test(message) && filter !== '') {
    return new CaptureError(`--filter ${JSON.stringify(filter)}: ${message} (see pcap-filter(7), e.g. --filter "tcp port 80")`);
  }
  return new CaptureError(`${iface}: ${message}`);
}

export class IfaceCapture {
  readonly linkType: number;
  readonly snapLen = SNAP_LEN;
  private readonly cap: CapHandle;
  private open = true;

  private constructor(cap: CapHandle, linkType: number) {
    this.cap = cap;
    this.linkType = linkType;
  }

  /** Opens IFACE and calls onPacket for every packet the filter passes, until close(). */
  static start(opts: IfaceCaptureOptions, onPacket: (p: CapturedPacket) => void): IfaceCapture {
    const { Cap } = loadCap();
    const names = Cap.deviceList().map((d) => d.name);
    if (!names.includes(opts.iface)) {
      throw new CaptureError(
        `no interface ${JSON.stringify(opts.iface)} in this network namespace (have: ${names.join(', ')}); ` +
          'for one inside a namespace run `ip netns exec NS ftcp capture ...`',
      );
    }
    const filter = opts.filter ?? '';
    const buf = Buffer.alloc(SNAP_LEN);
    const cap = new Cap();
    let name: string;
    try {
      name = cap.open(opts.iface, filter, opts.bufferBytes ?? 16 << 20, buf);
    } catch (err) {
      failedHandles.push(cap);
      throw explainOpenError(opts.iface, filter, (err as Error).message);
    }
    const linkType = linkTypeFromCapName(name);
    if (linkType === undefined) {
      cap.close();
      throw new CaptureError(`${opts.iface}: link type ${name} is not supported`);
    }
    // hrtime is monotonic and fine-grained; anchor it to the wall clock once.
    const epochOffset = BigInt(Date.now()) * 1_000_000n - process.hrtime.bigint();
    cap.on('packet', (nbytes, truncated) => {
      onPacket({ ts: epochOffset + process.hrtime.bigint(), data: Buffer.from(buf.subarray(0, nbytes)), truncated });
    });
    return new IfaceCapture(cap, linkType);
  }

  close(): void {
    if (!this.open) return;
    this.open = false;
    this.cap.close();
  }
}
