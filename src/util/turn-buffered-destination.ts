// The daemon's log lines of one event-loop turn, written to their file descriptor together at the
// end of the turn. A takeover of 1000 connections logs a line per restored connection within
// ~0.5 s, many per turn, and with a synchronous destination each line was a write(2) of its own
// on the thread that relays the packets. Nothing waits longer than the turn it was logged in; a
// daemon killed mid-turn loses that turn's lines, as it would lose the lines it had not reached.
import { pino } from 'pino';

/** Where the joined lines go: written at once (a synchronous destination). */
export interface LineSink {
  write(data: string): unknown;
}

export class TurnBufferedDestination {
  private pending: string[] = [];
  private bytes = 0;
  private scheduled = false;
  private readonly flushTurn = (): void => {
    this.scheduled = false;
    this.flush();
  };

  /** `maxBytes`: a turn that logs more is written in pieces of about this size. */
  constructor(
    private readonly sink: LineSink,
    private readonly maxBytes = 64 * 1024,
  ) {}

  /**
   * On `fd`, through pino's synchronous destination (it retries EAGAIN and partial writes, and
   * stops writing when the reader went away); what is pending is written at exit.
   */
  static onFd(fd: number): TurnBufferedDestination {
    const d = new TurnBufferedDestination(pino.destination({ fd, sync: true }));
    process.on('exit', () => d.flushSync());
    return d;
  }

  /** pino's stream interface: one serialized line (with its newline). */
  write(line: string): boolean {
    this.pending.push(line);
    this.bytes += line.length;
    if (this.bytes >= this.maxBytes) this.flush();
    else if (!this.scheduled) {
      this.scheduled = true;
      setImmediate(this.flushTurn);
    }
    return true;
  }

  /** Writes what is pending now (pino calls it for fatal lines; the daemon at exit). */
  flushSync(): void {
    this.flush();
  }

  private flush(): void {
    if (this.pending.length === 0) return;
    const data = this.pending.length === 1 ? this.pending[0]! : this.pending.join('');
    this.pending = [];
    this.bytes = 0;
    this.sink.write(data);
  }
}
