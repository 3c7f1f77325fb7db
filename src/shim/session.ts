// The shim's side of one app process: its log stream, the service-wide delivery order, the replay
// after a restart, nondeterministic values and checkpoints. One per process, shared by every
// server the app creates.
import type { Server, Socket } from 'node:net';
import { randomUUID } from 'node:crypto';
import { LogClient, type ReadItem } from '../log/client.js';
import { shimConnId, tupleKeyFromText } from '../log/conn-key.js';
import { CloseIntent_How, ConnectionClosed_Reason, type ConnPosition, type Record } from '../log/gen/ftcp/v1/log.js';
import { EnvelopeError, encodeEnvelope, type EnvelopeConn } from './checkpoint-envelope.js';
import type { LaterRecord, Need } from './output-gate.js';
import { ReplayDriver } from './replay-driver.js';
import { buildReplayPlan, type PlannedConn, type ReplayPlan } from './replay-plan.js';
import { ShimConn, type Boundaries, type ConnSession } from './shim-conn.js';
import type { ShimEnv } from './shim-env.js';

type Phase = 'loading' | 'replaying' | 'live';

/** Record kinds the replay plan is built from (Record.kind field numbers): not the client data. */
const PLAN_KINDS = [10 /* opened */, 14 /* shim_chunks */, 15 /* shim_accept */, 17 /* close_intent */, 18 /* nondeterministic */, 19 /* closed */];

interface Deferred {
  build: (g: number) => Record;
  /** Global order taken when the event happened; undefined = take it when appended. */
  g: number | undefined;
  later: LaterRecord & { resolve: () => void; ready: Promise<void> };
}

/** How a server hands a connection to the app. */
export interface ConnectionSink {
  emitConnection(socket: Socket): void;
}

export interface ShimStats {
  phase: Phase;
  replayedEvents: number;
  replayedValues: number;
  abandoned: number;
  checkpoints: number;
}

export class ShimSession implements ConnSession {
  private readonly client: LogClient;
  private phase: Phase = 'loading';
  private g = 0;
  private nextAccept = 0;
  private lastValueSeq = 0;
  /** Records held while the plan loads or a checkpoint is in flight (see checkpoint()). */
  private deferred: Deferred[] | undefined = [];
  private plan: ReplayPlan | undefined;
  private driver: ReplayDriver | undefined;
  private readonly conns = new Set<ShimConn>();
  private readonly sinks = new Map<ShimConn, ConnectionSink>();
  private readonly bySocket = new WeakMap<Socket, ShimConn>();
  /** Accepted while loading or replaying: handed to the app once live, in arrival order. */
  private waiting: ShimConn[] = [];
  private readonly claimed = new Set<PlannedConn>();
  private restoreHandlers: ((state: unknown) => void)[] = [];
  private restoredState: { state: unknown } | undefined;
  private checkpointChain: Promise<void> = Promise.resolve();
  private checkpointsPending = 0;
  retainOutput = false;
  private replayStartedAt = 0;
  readonly stats: ShimStats = { phase: 'loading', replayedEvents: 0, replayedValues: 0, abandoned: 0, checkpoints: 0 };

  constructor(private readonly env: ShimEnv) {
    this.client = new LogClient({ target: env.logTarget, service: env.service, epoch: env.epoch, streamId: `shim-${process.pid}-${randomUUID()}` });
    this.client.on('failed', (err: Error) => warn(`the log server refused the shim's records: ${err.message}`));
    void this.load();
  }

  // ------------------------------------------------------------------------------------------
  // Start: read the log once, then replay or go live

  private async load(): Promise<void> {
    let delay = 200;
    for (;;) {
      try {
        const t0 = Date.now();
        const items: ReadItem[] = [];
        for await (const it of this.client.read({ kinds: PLAN_KINDS })) items.push(it);
        const t1 = Date.now();
        try {
          this.plan = buildReplayPlan(items);
        } catch (err) {
          if (!(err instanceof EnvelopeError)) throw err;
          // Not ours (another writer's checkpoint state): replay what the log still has.
          warn(`${err.message}: ignoring it, restored connections may be reset as divergent`);
          this.plan = buildReplayPlan(items.filter((it) => it.type !== 'checkpoint'));
        }
        debug(`log read: ${items.length} items in ${t1 - t0} ms, plan built in ${Date.now() - t1} ms`);
        break;
      } catch (err) {
        warn(`cannot read the log yet (${(err as Error).message}); connections wait`);
        await new Promise((r) => setTimeout(r, delay));
        delay = Math.min(delay * 2, 5000);
      }
    }
    const plan = this.plan;
    debug(`plan: ${plan.conns.size} conns, ${plan.events.length} events, ${plan.values.length} values, ${plan.stale.length} stale, next g ${plan.nextGlobalOrder}, checkpoint ${plan.checkpoint ? 'yes' : 'no'}`);
    this.g = plan.nextGlobalOrder;
    this.nextAccept = plan.nextAcceptOrder;
    for (const id of plan.stale) this.client.append({ connId: id, kind: { $case: 'closed', value: { reason: ConnectionClosed_Reason.ABORTED } } });
    this.flushDeferred();
    if (plan.checkpoint) {
      this.restoredState = { state: plan.checkpoint.app };
      for (const h of this.restoreHandlers) this.callRestore(h, plan.checkpoint.app);
    }
    if (plan.conns.size === 0) {
      this.goLive();
      return;
    }
    this.phase = 'replaying';
    this.stats.phase = 'replaying';
    this.driver = new ReplayDriver(plan, this.replayHost(), this.env.restoreTimeoutMs);
    const arrived = this.waiting;
    this.waiting = [];
    for (const conn of arrived) this.place(conn);
    this.replayStartedAt = Date.now();
    this.driver.start();
  }

  private replayHost() {
    return {
      emit: (conn: ShimConn) => this.sinks.get(conn)?.emitConnection(conn.socket),
      abandon: (p: PlannedConn, conn: ShimConn | undefined, why: string) => {
        this.stats.abandoned++;
        warn(`replay of ${p.shimId} abandoned: ${why}`);
        if (!conn) this.client.append({ connId: p.shimId, kind: { $case: 'closed', value: { reason: ConnectionClosed_Reason.ABORTED } } });
      },
      done: () => this.goLive(),
      now: () => Date.now(),
    };
  }

  private goLive(): void {
    if (this.driver) debug(`live after ${this.driver.delivered} replayed events (${Date.now() - this.replayStartedAt} ms)`);
    else debug('live: nothing to replay');
    if (this.driver) {
      this.stats.replayedEvents = this.driver.delivered;
      this.stats.replayedValues = this.driver.answered;
    }
    this.phase = 'live';
    this.stats.phase = 'live';
    for (const conn of this.conns) if (conn.acceptOrder >= 0) conn.release();
    const waiting = this.waiting;
    this.waiting = [];
    for (const conn of waiting) this.acceptNew(conn);
  }

  // ------------------------------------------------------------------------------------------
  // Connections

  /** A server accepted `socket`; the session decides when the app sees it. */
  accepted(socket: Socket, sink: ConnectionSink, boundaries: Boundaries): void {
    if (socket.remoteAddress === undefined || socket.remotePort === undefined || socket.localPort === undefined) {
      sink.emitConnection(socket); // already gone: nothing to protect
      return;
    }
    const tuple = tupleKeyFromText(socket.remoteAddress, socket.remotePort, socket.localPort);
    const conn = new ShimConn(socket, this, '', tuple, boundaries, 0, 0);
    this.conns.add(conn);
    this.sinks.set(conn, sink);
    this.bySocket.set(socket, conn);
    if (this.phase === 'live') this.acceptNew(conn);
    else if (this.phase === 'loading') this.waiting.push(conn);
    else this.place(conn);
  }

  /** During a replay: a restored connection joins the replay, any other waits for it to end. */
  private place(conn: ShimConn): void {
    const planned = this.plan!.conns.get(conn.tuple);
    debug(`restored socket ${conn.tuple}: ${planned ? planned.shimId : 'not in the plan'}`);
    if (!planned || this.claimed.has(planned)) {
      this.waiting.push(conn);
      return;
    }
    this.claimed.add(planned);
    conn.id = planned.shimId;
    conn.acceptOrder = planned.acceptOrder;
    conn.rebase(planned.clientBase, planned.serverBase);
    conn.resend(planned.pending);
    this.driver!.attach(planned, conn);
  }

  private acceptNew(conn: ShimConn): void {
    conn.acceptOrder = this.nextAccept++;
    conn.id = shimConnId(conn.tuple, conn.acceptOrder);
    const g = this.g++;
    this.client.append({ connId: conn.id, kind: { $case: 'shimAccept', value: { acceptOrder: conn.acceptOrder, globalOrder: g } } });
    const sink = this.sinks.get(conn);
    sink?.emitConnection(conn.socket);
    conn.release();
  }

  logChunk(conn: ShimConn, length: number): void {
    this.client.append({ connId: conn.id, kind: { $case: 'shimChunks', value: { offset: conn.delivered, lengths: [length], globalOrder: this.g++ } } });
  }

  logCloseIntent(conn: ShimConn, how: 'end' | 'destroy'): void {
    if (conn.acceptOrder < 0 || this.phase === 'replaying') return; // a replayed close was logged before the crash
    this.client.append({
      connId: conn.id,
      kind: { $case: 'closeIntent', value: { how: how === 'end' ? CloseIntent_How.END : CloseIntent_How.DESTROY, serverOffset: conn.written, globalOrder: this.g++ } },
    });
  }

  connClosed(conn: ShimConn): void {
    this.conns.delete(conn);
    this.sinks.delete(conn);
    this.waiting = this.waiting.filter((c) => c !== conn);
    if (conn.acceptOrder < 0) return;
    this.client.append({ connId: conn.id, kind: { $case: 'closed', value: { reason: ConnectionClosed_Reason.FIN_BOTH } } });
  }

  // ------------------------------------------------------------------------------------------
  // Output commit

  needFor(boundaries: Boundaries): Need {
    const d = this.deferred;
    if (d && d.length > 0) return d[d.length - 1]!.later;
    return boundaries === 'exact' ? this.client.lastSeq : this.lastValueSeq;
  }

  isDurable(need: Need): boolean {
    const seq = typeof need === 'number' ? need : need.seq;
    return seq !== undefined && this.client.durableSeq >= seq;
  }

  async whenDurable(need: Need): Promise<void> {
    if (typeof need !== 'number') {
      await (need as Deferred['later']).ready;
      return this.client.waitDurable(need.seq);
    }
    return this.client.waitDurable(need);
  }

  // ------------------------------------------------------------------------------------------
  // Nondeterministic values (claim 1: the app routes them through the shim)

  value(name: string, draw: () => Buffer): Buffer {
    const replayed = this.phase === 'replaying' ? this.driver?.takeValue(name) : undefined;
    if (replayed) return Buffer.from(replayed);
    const v = draw();
    const build = (g: number): Record => ({ connId: '', kind: { $case: 'nondeterministic', value: { name, value: v, globalOrder: g } } });
    if (this.deferred) this.defer(build, this.phase === 'loading' ? undefined : this.g++);
    else this.lastValueSeq = this.client.append(build(this.g++));
    return v;
  }

  private defer(build: (g: number) => Record, g: number | undefined): void {
    let resolve!: () => void;
    const ready = new Promise<void>((r) => (resolve = r));
    this.deferred!.push({ build, g, later: { seq: undefined, resolve, ready } });
  }

  private flushDeferred(): void {
    const d = this.deferred ?? [];
    this.deferred = undefined;
    for (const it of d) {
      it.later.seq = this.client.append(it.build(it.g ?? this.g++));
      this.lastValueSeq = it.later.seq;
      it.later.resolve();
    }
  }

  // ------------------------------------------------------------------------------------------
  // Checkpoints (claim 7)

  onRestore(handler: (state: unknown) => void): void {
    this.retainOutput = true;
    this.restoreHandlers.push(handler);
    if (this.restoredState) {
      const s = this.restoredState.state;
      queueMicrotask(() => this.callRestore(handler, s));
    }
  }

  /** The app's restore hook throwing is the app's bug: say so on its stderr, keep serving. */
  private callRestore(handler: (state: unknown) => void, state: unknown): void {
    try {
      handler(state);
    } catch (err) {
      warn(`the onRestore() handler threw: ${(err as Error)?.stack ?? String(err)}`);
    }
  }

  /**
   * Stores `state` with the positions of every connection as they are now (synchronously: the
   * state the app hands over must match them). Resolves false without storing anything while a
   * replay is in progress: the state then covers a replay half done, which the log cannot express;
   * the app's next checkpoint will do.
   */
  checkpoint(state: unknown): Promise<boolean> {
    if (!this.retainOutput) {
      return Promise.reject(new Error('ftcp/shim: checkpoint() needs onRestore() registered at start-up (it also keeps unacknowledged output for the checkpoint)'));
    }
    if (this.phase !== 'live') {
      debug('checkpoint skipped: the replay is not over');
      return Promise.resolve(false);
    }
    const positions: ConnPosition[] = [];
    const conns: EnvelopeConn[] = [];
    for (const c of this.conns) {
      if (c.acceptOrder < 0) continue;
      const cut = c.serverCut();
      positions.push({ connId: c.id, clientOffset: c.delivered, serverOffset: cut.serverOffset });
      conns.push({ id: c.id, acceptOrder: c.acceptOrder, pending: cut.pending });
    }
    const bytes = encodeEnvelope({ nextGlobalOrder: this.g, nextAcceptOrder: this.nextAccept, conns, app: state });
    // Values drawn from now until every pending checkpoint is stored are held back: the store
    // folds the service-wide records it has into a checkpoint, and these are not in the state.
    this.deferred ??= [];
    this.checkpointsPending++;
    const run = this.checkpointChain.then(async () => {
      try {
        await this.client.checkpoint(bytes, positions);
        this.stats.checkpoints++;
        return true;
      } finally {
        if (--this.checkpointsPending === 0) this.flushDeferred();
      }
    });
    this.checkpointChain = run.then(
      () => {},
      () => {},
    );
    return run;
  }

  // ------------------------------------------------------------------------------------------

  /** The shim's id of the connection on `socket` (stable across restarts). */
  connectionId(socket: Socket): string | undefined {
    const id = this.bySocket.get(socket)?.id;
    return id === '' ? undefined : id;
  }

  get currentPhase(): Phase {
    return this.phase;
  }

  async close(): Promise<void> {
    await this.client.close(2000);
  }
}

const DEBUG = process.env.FTCP_SHIM_DEBUG === '1';
export function debug(msg: string): void {
  if (DEBUG) process.stderr.write(`ftcp/shim debug: ${msg}\n`);
}

let warned = new Set<string>();
export function warn(msg: string): void {
  if (warned.has(msg)) return;
  if (warned.size > 1000) warned = new Set();
  warned.add(msg);
  process.stderr.write(`ftcp/shim: ${msg}\n`);
}

export type { Server };
