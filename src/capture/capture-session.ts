// One `ftcp capture NAME` inside the daemon: a CaptureSink that streams pcapng over the control
// connection it was asked on. The daemon never opens a file for it: the file is the client's (its
// permissions, its working directory, `-w -`), and a member of the ftcp group cannot make the
// root daemon write where it pleases. The packet path never waits for the client: past
// MAX_BUFFERED bytes not yet taken by the client, packets are dropped and counted (written in the
// Interface Statistics Block at the end).
import type { Socket } from 'node:net';
import type { Logger } from '../util/logger.js';
import { enhancedPacketBlock, interfaceDescriptionBlock, interfaceStatisticsBlock, sectionHeaderBlock } from '../pcap/pcapng-writer.js';
import { LINKTYPE_RAW } from '../pcap/link.js';
import type { CaptureRequest, CaptureStarted } from '../status/control-protocol.js';
import type { CapturePath, CaptureSide, CaptureSink } from './capture-path.js';

const TS_RESOLUTION = 9;
const SNAP_LEN = 262_144;
const MAX_BUFFERED = 16 << 20;

/** Where the bytes go: a net.Socket in the daemon, any stream in tests. */
export interface CaptureOutput {
  readonly writableLength: number;
  write(chunk: Buffer): boolean;
  end(cb?: () => void): unknown;
  cork(): void;
  uncork(): void;
}

export interface CaptureInterfaces {
  outer: { name: string; description: string };
  inner: { name: string; description: string };
}

export interface CaptureSummary {
  packets: number;
  dropped: number;
  why: string;
}

export class CaptureSession implements CaptureSink {
  private readonly ifaceId: Record<CaptureSide, number>;
  private readonly seen: [number, number] = [0, 0];
  private readonly written: [number, number] = [0, 0];
  private readonly drops: [number, number] = [0, 0];
  private readonly startTs: bigint;
  private corked = false;
  private stopped: CaptureSummary | undefined;
  private readonly onStop: ((s: CaptureSummary) => void)[] = [];
  packets = 0;

  constructor(
    private readonly out: CaptureOutput,
    readonly req: CaptureRequest,
    ifaces: CaptureInterfaces,
    private readonly service: string,
    private readonly now: () => bigint,
    private readonly maxBuffered = MAX_BUFFERED,
  ) {
    this.startTs = now();
    const sides: CaptureSide[] = req.side === 'both' ? ['outer', 'inner'] : [req.side];
    this.ifaceId = { outer: sides.indexOf('outer'), inner: sides.indexOf('inner') };
    const started: CaptureStarted = { capture: { side: req.side, interfaces: sides.map((s) => ifaces[s].name) } };
    out.write(Buffer.from(`${JSON.stringify(started)}\n`));
    const blocks = [
      sectionHeaderBlock(
        `ftcp capture ${service}`,
        `ftcp capture of service ${service} (side ${req.side}): each packet's comment is the daemon's decision (docs/TROUBLESHOOTING.md)`,
      ),
    ];
    for (const s of sides) {
      blocks.push(interfaceDescriptionBlock({ linkType: LINKTYPE_RAW, snapLen: SNAP_LEN, name: ifaces[s].name, description: ifaces[s].description, tsResolution: TS_RESOLUTION }));
    }
    out.write(Buffer.concat(blocks));
  }

  wants(side: CaptureSide): boolean {
    return this.ifaceId[side] >= 0 && this.stopped === undefined;
  }

  record(side: CaptureSide, ts: bigint, data: Uint8Array, comment: string): void {
    const id = this.ifaceId[side];
    if (id < 0 || this.stopped !== undefined) return;
    this.seen[id]!++;
    if (this.out.writableLength > this.maxBuffered) {
      this.drops[id]!++;
      return;
    }
    if (!this.corked) {
      // Packets of one relay batch leave in one write.
      this.corked = true;
      this.out.cork();
      process.nextTick(() => {
        this.corked = false;
        this.out.uncork();
      });
    }
    this.out.write(enhancedPacketBlock({ interfaceId: id, ts, data, comment }, TS_RESOLUTION));
    this.written[id]!++;
    this.packets++;
    if (this.req.count !== undefined && this.packets >= this.req.count) this.stop('count reached');
  }

  get dropped(): number {
    return this.drops[0] + this.drops[1];
  }

  /** Called once when the session stops (at once if it has). */
  onStopped(fn: (s: CaptureSummary) => void): void {
    if (this.stopped) fn(this.stopped);
    else this.onStop.push(fn);
  }

  /**
   * Ends the capture: statistics blocks, then the end of the stream. `writable` false when the
   * client is gone (nothing more is written).
   */
  stop(why: string, writable = true): CaptureSummary {
    if (this.stopped) return this.stopped;
    const summary: CaptureSummary = { packets: this.packets, dropped: this.dropped, why };
    this.stopped = summary;
    if (writable) {
      const ts = this.now();
      const blocks: Buffer[] = [];
      for (const side of ['outer', 'inner'] as const) {
        const id = this.ifaceId[side];
        if (id < 0) continue;
        const dropText = this.drops[id]! > 0 ? `, ${this.drops[id]} dropped: the capture client did not keep up` : '';
        blocks.push(
          interfaceStatisticsBlock(
            {
              interfaceId: id,
              ts,
              startTs: this.startTs,
              received: this.seen[id]!,
              delivered: this.written[id]!,
              osDropped: this.drops[id]!,
              comment: `capture of ${this.service} ended: ${why}${dropText}`,
            },
            TS_RESOLUTION,
          ),
        );
      }
      this.out.write(Buffer.concat(blocks));
      this.out.end();
    }
    for (const fn of this.onStop.splice(0)) fn(summary);
    return summary;
  }
}

/**
 * Serves a capture request on a control connection: attaches a session to the daemon's capture
 * path until the client half-closes or goes, the count or the time is reached, or stopAll().
 * Returns an error message when it cannot start.
 */
export class CaptureService {
  private readonly sessions = new Set<{ session: CaptureSession; sock: Socket }>();

  constructor(
    private readonly path: () => CapturePath | undefined,
    private readonly ifaces: CaptureInterfaces,
    private readonly service: string,
    private readonly log?: Logger,
    private readonly now: () => bigint = epochNanos(),
  ) {}

  start(req: CaptureRequest, sock: Socket): string | undefined {
    const path = this.path();
    if (path === undefined) return 'the daemon is still starting: try again in a moment';
    if (path.capturing) return `a capture of ${this.service} is already running (one at a time)`;
    const session = new CaptureSession(sock, req, this.ifaces, this.service, this.now);
    path.attach(session);
    const entry = { session, sock };
    this.sessions.add(entry);
    const timer = req.seconds !== undefined ? setTimeout(() => session.stop('time reached'), Math.round(req.seconds * 1000)) : undefined;
    session.onStopped((s) => {
      path.detach(session);
      if (timer) clearTimeout(timer);
      this.sessions.delete(entry);
      this.log?.info({ packets: s.packets, dropped: s.dropped, why: s.why }, 'capture ended');
    });
    sock.on('end', () => session.stop('the capture client stopped'));
    sock.on('close', () => session.stop('the capture client went away', false));
    sock.on('error', () => sock.destroy());
    this.log?.info({ side: req.side, count: req.count, seconds: req.seconds }, 'capture started');
    return undefined;
  }

  /** Ends every capture (the daemon is stopping); resolves once their streams are flushed. */
  async stopAll(why: string, timeoutMs = 1000): Promise<void> {
    const flushed = [...this.sessions].map(
      ({ session, sock }) =>
        new Promise<void>((resolve) => {
          const t = setTimeout(resolve, timeoutMs);
          sock.once('close', () => {
            clearTimeout(t);
            resolve();
          });
          session.stop(why);
        }),
    );
    await Promise.all(flushed);
  }
}

/** Nanoseconds since the epoch from the monotonic clock, anchored once. */
export function epochNanos(): () => bigint {
  const offset = BigInt(Date.now()) * 1_000_000n - process.hrtime.bigint();
  return () => offset + process.hrtime.bigint();
}
