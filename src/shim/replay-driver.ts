// Hands a restarted app what it was handed before the crash: the restored connections, then each
// logged chunk in the logged service-wide order, one event per turn of the event loop (so the app
// finishes with one before it sees the next), answering now()/random() from the log in between.
import type { PlannedConn, PlannedValue, ReplayPlan } from './replay-plan.js';
import type { ShimConn } from './shim-conn.js';

export interface ReplayHost {
  /** Hands the connection to the app ('connection' event); it stays held. */
  emit(conn: ShimConn): void;
  /** A planned connection did not come back in time: its log is abandoned. */
  abandon(planned: PlannedConn, conn: ShimConn | undefined, why: string): void;
  /** Every event is delivered: held connections go live. */
  done(): void;
  now(): number;
}

export class ReplayDriver {
  private readonly attached = new Map<string, ShimConn>();
  private readonly gone = new Set<PlannedConn>();
  private readonly restoredFirst: PlannedConn[];
  private next = 0;
  private valueNext = 0;
  private lastG = -1;
  private lastProgress: number;
  private timer: NodeJS.Timeout | undefined;
  private scheduled = false;
  private finished = false;
  /** Events delivered and values answered, for the log line at the end. */
  delivered = 0;
  answered = 0;

  constructor(
    private readonly plan: ReplayPlan,
    private readonly host: ReplayHost,
    private readonly timeoutMs: number,
  ) {
    // Connections whose accept is folded into the checkpoint come back first, in accept order.
    this.restoredFirst = [...plan.conns.values()].filter((c) => c.acceptG < 0).sort((a, b) => a.acceptOrder - b.acceptOrder);
    this.lastProgress = host.now();
  }

  get isFinished(): boolean {
    return this.finished;
  }

  start(): void {
    this.step();
  }

  /** A restored socket arrived for `planned`. */
  attach(planned: PlannedConn, conn: ShimConn): void {
    this.attached.set(planned.tuple, conn);
    conn.onHeldData = () => this.kick();
    this.lastProgress = this.host.now();
    this.kick();
  }

  /** now()/random() during the replay: the value drawn at this point before the crash, if any. */
  takeValue(name: string): Uint8Array | undefined {
    if (this.finished) return undefined;
    const nextG = this.plan.events[this.next]?.g ?? Infinity;
    const vals = this.plan.values;
    while (this.valueNext < vals.length && vals[this.valueNext]!.g < this.lastG) this.valueNext++;
    const v: PlannedValue | undefined = vals[this.valueNext];
    if (!v || v.g >= nextG || v.name !== name) return undefined;
    this.valueNext++;
    this.answered++;
    return v.value;
  }

  private kick(): void {
    if (this.scheduled || this.finished) return;
    this.scheduled = true;
    setImmediate(() => {
      this.scheduled = false;
      this.step();
    });
  }

  private expired(): boolean {
    return this.host.now() - this.lastProgress >= this.timeoutMs;
  }

  private armTimer(): void {
    if (this.timer) return;
    const wait = Math.max(1, this.timeoutMs - (this.host.now() - this.lastProgress));
    this.timer = setTimeout(() => {
      this.timer = undefined;
      this.step();
    }, wait);
  }

  private giveUp(p: PlannedConn, why: string): void {
    this.gone.add(p);
    this.host.abandon(p, this.attached.get(p.tuple), why);
    this.lastProgress = this.host.now();
  }

  private step(): void {
    if (this.finished) return;
    for (;;) {
      const first = this.restoredFirst[0];
      if (first) {
        const conn = this.attached.get(first.tuple);
        if (!conn) {
          if (this.expired()) {
            this.restoredFirst.shift();
            this.giveUp(first, 'the connection was not restored');
            continue;
          }
          this.armTimer();
          return;
        }
        this.restoredFirst.shift();
        this.progress();
        this.host.emit(conn);
        continue;
      }
      const e = this.plan.events[this.next];
      if (!e) {
        this.finish();
        return;
      }
      if (this.gone.has(e.conn)) {
        this.next++;
        continue;
      }
      const conn = this.attached.get(e.conn.tuple);
      if (!conn) {
        if (this.expired()) {
          this.giveUp(e.conn, 'the connection was not restored');
          continue;
        }
        this.armTimer();
        return;
      }
      if (e.kind === 'chunk' && conn.heldLength < e.chunk.length) {
        if (conn.heldEof || this.expired()) {
          this.giveUp(e.conn, conn.heldEof ? 'the client closed before its logged bytes came back' : 'the logged bytes did not come back');
          continue;
        }
        this.armTimer();
        return;
      }
      this.next++;
      this.lastG = e.g;
      this.progress();
      if (e.kind === 'accept') this.host.emit(conn);
      else conn.deliverHeld(e.chunk.length);
      this.delivered++;
      this.kick(); // the next event in the next turn of the loop
      return;
    }
  }

  private progress(): void {
    this.lastProgress = this.host.now();
    if (this.timer) {
      clearTimeout(this.timer);
      this.timer = undefined;
    }
  }

  private finish(): void {
    this.finished = true;
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    this.host.done();
  }
}
