// `ftcp capture`: write packets to a pcapng file for debugging.
//   ftcp capture --iface IFACE [--filter BPF] -w FILE   any host interface, through libpcap
//   ftcp capture NAME -w FILE [--side outer|inner|both]  what the daemon of service NAME sees on
//                                                        its TUNs, each packet's decision as comment
import { closeSync, fsyncSync, openSync } from 'node:fs';
import { Command, CommanderError, Option } from 'commander';
import { CaptureError, IfaceCapture } from '../capture/iface-capture.js';
import { PcapngFileSink, writeAllSync } from '../capture/pcapng-file-sink.js';
import { PcapngBlockScanner, PcapngStreamError } from '../capture/pcapng-stream.js';
import { NAME_PATTERN } from '../run/run-config.js';
import { ControlError, openCaptureStream } from '../status/control-client.js';
import type { CaptureRequest } from '../status/control-protocol.js';

export interface CaptureFlags {
  iface?: string;
  filter?: string;
  write?: string;
  count?: string;
  duration?: string;
  seconds?: string;
  side: 'outer' | 'inner' | 'both';
}

/** A usage mistake: exit 2 with one line naming the fix. */
class UsageError extends Error {}

interface Limits {
  count: number | undefined;
  durationMs: number | undefined;
}

function parseLimits(f: CaptureFlags): Limits {
  let count: number | undefined;
  if (f.count !== undefined) {
    count = Number(f.count);
    if (!Number.isSafeInteger(count) || count < 1) throw new UsageError(`--count ${f.count}: expected a number of packets >= 1, e.g. --count 100`);
  }
  let durationMs: number | undefined;
  if (f.duration !== undefined && f.seconds !== undefined) throw new UsageError('--seconds is another name for --duration: give one of them');
  const duration = f.duration ?? f.seconds;
  if (duration !== undefined) {
    const flag = f.duration !== undefined ? '--duration' : '--seconds';
    const s = Number(duration);
    if (!Number.isFinite(s) || s <= 0 || s > 2_000_000) throw new UsageError(`${flag} ${duration}: expected seconds > 0, e.g. ${flag} 30`);
    durationMs = Math.round(s * 1000);
  }
  return { count, durationMs };
}

const status = (line: string): void => {
  process.stderr.write(`ftcp capture: ${line}\n`);
};

/** Captures IFACE into FILE until --count, --duration, SIGINT or SIGTERM. Returns the exit code. */
export async function captureIface(iface: string, file: string, f: CaptureFlags, limits: Limits): Promise<number> {
  let sink: PcapngFileSink | undefined;
  let cap: IfaceCapture | undefined;
  let truncated = 0;
  let finish!: (why: string) => void;
  const done = new Promise<string>((resolve) => (finish = resolve));
  try {
    cap = IfaceCapture.start({ iface, ...(f.filter !== undefined ? { filter: f.filter } : {}) }, (p) => {
      if (sink === undefined || (limits.count !== undefined && sink.packets >= limits.count)) return;
      sink.add(p.ts, p.data);
      if (p.truncated) truncated++;
      if (limits.count !== undefined && sink.packets >= limits.count) finish('count reached');
    });
    try {
      sink = new PcapngFileSink(file, { linkType: cap.linkType, snapLen: cap.snapLen, name: iface });
    } catch (err) {
      throw new UsageError(`-w ${file}: cannot write: ${(err as NodeJS.ErrnoException).code ?? String(err)}`);
    }
  } catch (err) {
    cap?.close();
    throw err;
  }
  const filterText = f.filter ? ` filter ${JSON.stringify(f.filter)}` : '';
  status(`capturing on ${iface} (link type ${cap.linkType})${filterText} to ${file === '-' ? 'stdout' : file}`);
  const onSignal = (sig: NodeJS.Signals): void => finish(sig);
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  const timer = limits.durationMs !== undefined ? setTimeout(() => finish('duration reached'), limits.durationMs) : undefined;
  const why = await done;
  if (timer) clearTimeout(timer);
  process.off('SIGINT', onSignal);
  process.off('SIGTERM', onSignal);
  cap.close();
  sink!.close();
  const cut = truncated > 0 ? `, ${truncated} cut at ${cap.snapLen} bytes` : '';
  status(`${sink!.packets} packets written${file === '-' ? '' : ` to ${file}`} (${why}${cut})`);
  return 0;
}

/** Writes to FILE (or stdout for -), whole blocks only. */
class CaptureFile {
  private readonly fd: number;
  constructor(readonly path: string) {
    try {
      this.fd = path === '-' ? 1 : openSync(path, 'w', 0o640);
    } catch (err) {
      throw new UsageError(`-w ${path}: cannot write: ${(err as NodeJS.ErrnoException).code ?? String(err)}`);
    }
  }

  write(chunk: Buffer): void {
    writeAllSync(this.fd, chunk);
  }

  close(): void {
    if (this.fd === 1) return;
    try {
      fsyncSync(this.fd);
    } catch (err) {
      // /dev/null, a FIFO: nothing to make durable.
      if ((err as NodeJS.ErrnoException).code !== 'EINVAL' && (err as NodeJS.ErrnoException).code !== 'ENOTSUP') throw err;
    }
    closeSync(this.fd);
  }
}

/** How long the daemon gets to end the stream once asked to stop. */
const STOP_GRACE_MS = 5_000;

/**
 * Asks the daemon of service NAME for its annotated view and writes the pcapng it streams to FILE
 * until SIGINT/SIGTERM (or --count, --duration, which the daemon applies). Returns the exit code.
 */
export async function captureService(name: string, file: string, f: CaptureFlags, limits: Limits, opts: { dir?: string } = {}): Promise<number> {
  if (!NAME_PATTERN.test(name)) throw new UsageError(`${JSON.stringify(name)} is not a service name (1-12 characters of a-z, 0-9, _ or -)`);
  const req: CaptureRequest = { side: f.side };
  if (limits.count !== undefined) req.count = limits.count;
  if (limits.durationMs !== undefined) req.seconds = limits.durationMs / 1000;
  let stream;
  try {
    stream = await openCaptureStream(name, req, opts.dir !== undefined ? { dir: opts.dir } : {});
  } catch (err) {
    if (err instanceof ControlError) {
      status(err.kind === 'no-service' ? err.message.replace(/^no ftcp service (\S+) is running/, 'no running ftcp named $1') : err.message);
      return 1;
    }
    throw err;
  }
  const sock = stream.socket;
  let out: CaptureFile;
  try {
    out = new CaptureFile(file);
  } catch (err) {
    sock.destroy(); // the daemon ends the capture
    throw err;
  }
  const scanner = new PcapngBlockScanner();
  const ifaces = stream.started.capture.interfaces.join(', ');
  status(`capturing ${name} (side ${stream.started.capture.side}: ${ifaces}) to ${file === '-' ? 'stdout' : file}`);
  let failure: string | undefined;
  const feed = (chunk: Buffer): void => {
    if (failure !== undefined) return;
    try {
      out.write(scanner.push(chunk));
    } catch (err) {
      failure = err instanceof PcapngStreamError ? err.message : `-w ${file}: ${(err as NodeJS.ErrnoException).code ?? String(err)}`;
      sock.destroy();
    }
  };
  feed(stream.first);
  let stopTimer: NodeJS.Timeout | undefined;
  const onSignal = (): void => {
    if (stopTimer !== undefined) {
      sock.destroy(); // a second signal: do not wait for the daemon
      return;
    }
    sock.end(); // half-close: the daemon ends the capture and the stream
    stopTimer = setTimeout(() => sock.destroy(), STOP_GRACE_MS);
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  await new Promise<void>((resolve) => {
    sock.on('data', feed);
    sock.on('error', (err: NodeJS.ErrnoException) => {
      failure ??= `connection to the daemon of ${name} failed: ${err.code ?? err.message}`;
    });
    sock.once('close', () => resolve());
    sock.resume();
  });
  if (stopTimer) clearTimeout(stopTimer);
  process.off('SIGINT', onSignal);
  process.off('SIGTERM', onSignal);
  out.close();
  const why = scanner.endComment?.replace(/^capture of \S+ ended: /, '') ?? 'the daemon closed the stream without ending the capture';
  const cut = scanner.partialBytes > 0 ? `; an incomplete last block (${scanner.partialBytes} B) was left out` : '';
  const drops = scanner.dropped > 0 && !why.includes('dropped') ? `; ${scanner.dropped} dropped` : '';
  status(`${scanner.packets} packets written${file === '-' ? '' : ` to ${file}`} (${why}${drops}${cut})`);
  if (scanner.packets > 0) status(`by decision: ${scanner.decisionSummary()}`);
  if (failure !== undefined) {
    status(failure);
    return 1;
  }
  return 0;
}

export function registerCapture(program: Command): void {
  program
    .command('capture')
    .description("write packets to a pcapng file: a protected service as its daemon sees it, each packet annotated with the daemon's decision (NAME), or a host interface (--iface)")
    .usage('NAME -w FILE [--side outer|inner|both] [--count N] [--duration S]\n       ftcp capture --iface IFACE [--filter BPF] -w FILE [--count N] [--duration S]')
    .argument('[name]', 'protected service (ftcp run --name NAME) whose daemon writes its annotated view')
    .option('-i, --iface <iface>', 'host interface to capture through libpcap (in the current network namespace)')
    .option('-f, --filter <bpf>', 'BPF filter expression, as for tcpdump (pcap-filter(7))')
    .option('-w, --write <file>', 'pcapng file to write (- for stdout)')
    .option('-c, --count <n>', 'stop after N packets')
    .option('--duration <seconds>', 'stop after this many seconds')
    .addOption(new Option('--seconds <seconds>', 'the same as --duration').hideHelp())
    .addOption(
      new Option('--side <side>', 'with NAME: outer (ft-NAME, what clients see), inner (ftcp0, what the app sees) or both')
        .choices(['outer', 'inner', 'both'])
        .default('both'),
    )
    .exitOverride((err) => {
      throw new CommanderError(err.exitCode === 0 ? 0 : 2, err.code, err.message);
    })
    .action(async (name: string | undefined, f: CaptureFlags, cmd: Command) => {
      try {
        if (name === undefined && f.iface === undefined) {
          throw new UsageError('say what to capture: --iface IFACE (a host interface) or NAME (a protected service)');
        }
        if (name !== undefined && f.iface !== undefined) {
          throw new UsageError(`give either NAME (${name}) or --iface (${f.iface}), not both`);
        }
        if (f.write === undefined) throw new UsageError('-w FILE is required (the pcapng file to write, or - for stdout)');
        const limits = parseLimits(f);
        if (name !== undefined) {
          if (f.filter !== undefined) throw new UsageError('--filter applies to --iface; the capture of a service records all its packets (filter the file with tshark -Y)');
          process.exitCode = await captureService(name, f.write, f, limits);
          return;
        }
        if (cmd.getOptionValueSource('side') === 'cli') throw new UsageError('--side applies to NAME (a protected service), not to --iface');
        process.exitCode = await captureIface(f.iface!, f.write, f, limits);
      } catch (err) {
        if (err instanceof UsageError || err instanceof CaptureError) {
          process.stderr.write(`ftcp capture: ${err.message}\n`);
          process.exitCode = 2;
          return;
        }
        throw err;
      }
    });
}
