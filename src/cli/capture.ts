// `ftcp capture`: write packets to a pcapng file for debugging.
//   ftcp capture --iface IFACE [--filter BPF] -w FILE   any host interface, through libpcap
//   ftcp capture NAME -w FILE [--side ...]              the daemon's annotated view (not yet available)
import { Command, CommanderError, Option } from 'commander';
import { CaptureError, IfaceCapture } from '../capture/iface-capture.js';
import { PcapngFileSink } from '../capture/pcapng-file-sink.js';

export interface CaptureFlags {
  iface?: string;
  filter?: string;
  write?: string;
  count?: string;
  duration?: string;
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
  if (f.duration !== undefined) {
    const s = Number(f.duration);
    if (!Number.isFinite(s) || s <= 0 || s > 2_000_000) throw new UsageError(`--duration ${f.duration}: expected seconds > 0, e.g. --duration 30`);
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

export function registerCapture(program: Command): void {
  program
    .command('capture')
    .description('write packets to a pcapng file: a host interface (--iface) or, later, a service as the daemon sees it (NAME)')
    .usage('--iface IFACE [--filter BPF] -w FILE [--count N] [--duration S]')
    .argument('[name]', 'protected service whose daemon should write its annotated view (not yet available)')
    .option('-i, --iface <iface>', 'host interface to capture through libpcap (in the current network namespace)')
    .option('-f, --filter <bpf>', 'BPF filter expression, as for tcpdump (pcap-filter(7))')
    .option('-w, --write <file>', 'pcapng file to write (- for stdout)')
    .option('-c, --count <n>', 'stop after N packets')
    .option('--duration <seconds>', 'stop after this many seconds')
    .addOption(new Option('--side <side>', 'with NAME: which TUN side to capture').choices(['outer', 'inner', 'both']).default('both'))
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
          throw new UsageError(`capture of service ${name} through its daemon is not available yet; capture its outer TUN with --iface ft-${name}`);
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
