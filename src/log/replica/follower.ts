// Hot standby of a replicated log: reads the service's stream from its first message (an ordered
// consumer) and applies it to a local LogStore — record batches ingested with their original
// lsn/epoch/stream id/seq, checkpoints taken as the store's own, epoch markers raising its epoch —
// so the store reads exactly as the primary's. promote() turns the same store into the writable
// primary of a new epoch, fencing the old primary through the stream's sequence chain.
import { EventEmitter } from 'node:events';
import { DeliverPolicy, type Consumer, type ConsumerMessages, type JsMsg } from '@nats-io/jetstream';
import type { Logger } from '../../util/logger.js';
import { LogError } from '../errors.js';
import { CheckpointFile } from '../gen/ftcp/v1/log.js';
import type { NatsSecurity } from './nats-security.js';
import { LogStore } from '../store.js';
import { PartAssembler } from './chunk.js';
import { PART_HEADER, decodeEpochMarker, encodeEpochMarker, kindOfSubject, msgId, parseMsgId, parsePartHeader } from './names.js';
import { ReplicatedBackend, type Replica } from './replicated-backend.js';
import { StreamLink, retryTransient } from './stream-link.js';

export interface FollowerOptions {
  /** NATS servers, `host:port` (see parseNatsTarget). */
  servers: string[];
  /** Token, TLS or credentials for the NATS servers (log-credentials.ts). */
  security?: NatsSecurity;
  service: string;
  /** Replicas of the stream if it has to be created (default 3). */
  replicas?: number;
  /** Local copy in `fsync` mode under this directory (emptied at start: rebuilt from the stream); default in memory. */
  dataDir?: string;
  /** Local segment size (default 64 MiB); the stream is purged a segment at a time. */
  segmentBytes?: number;
  log: Logger;
}

interface CatchUpWaiter {
  target: number;
  resolve: () => void;
  reject: (err: Error) => void;
}

const API_BUDGET_MS = 30_000;
/** No message applied for this long while the stream has more: the consumer is re-created. */
const WATCHDOG_STUCK_MS = 3000;
/** Chained epoch-marker attempts lost to another writer before the marker is forced in. */
const FORCE_AFTER = 5;

export class LogFollower extends EventEmitter {
  /** Stream sequence of the last message applied to the store. */
  appliedSeq = 0;
  private knownLast = 0;
  /** Highest epoch seen in markers and message ids (a promotion must not go below it). */
  private maxEpoch = 0;
  private idEpoch = 0;
  private idCounter = 0;
  private readonly parts = new PartAssembler();
  private msgs: ConsumerMessages | undefined;
  private consumer: Consumer | undefined;
  private watchdog: NodeJS.Timeout | undefined;
  private waiters: CatchUpWaiter[] = [];
  private applying: Promise<void> = Promise.resolve();
  private stopped = false;
  private promoted = false;
  private promoting = false;
  /** Stream sequence of our own epoch marker once stored: it and what follows are not applied. */
  private stopAt = Number.POSITIVE_INFINITY;
  private failure: Error | undefined;

  private constructor(
    private readonly link: StreamLink,
    private readonly backend: ReplicatedBackend,
    /** The local store being filled (read it; do not append to it before promote()). */
    readonly store: LogStore,
    private readonly service: string,
    private readonly log: Logger,
  ) {
    super();
  }

  static async start(opts: FollowerOptions): Promise<LogFollower> {
    const link = await StreamLink.open({
      servers: opts.servers,
      ...(opts.security ? { security: opts.security } : {}),
      service: opts.service,
      ...(opts.replicas !== undefined ? { replicas: opts.replicas } : {}),
      name: `ftcp ${opts.service} replica`,
      log: opts.log,
    });
    let backend: ReplicatedBackend | undefined;
    let store: LogStore;
    try {
      store = await LogStore.open({
        durability: opts.dataDir !== undefined ? 'fsync' : 'memory',
        ...(opts.dataDir !== undefined ? { dataDir: opts.dataDir, discardExisting: true } : {}),
        ...(opts.segmentBytes !== undefined ? { segmentBytes: opts.segmentBytes } : {}),
        log: opts.log,
        wrapBackend: (b) => (backend = new ReplicatedBackend(b, link, opts.log)),
      });
    } catch (err) {
      await link.close();
      throw err;
    }
    // Until promoted the store only mirrors the stream.
    store.setReadOnly(`replicated log ${link.stream}: this store follows the primary and takes no appends or checkpoints until promoted`);
    const f = new LogFollower(link, backend!, store, opts.service, opts.log);
    try {
      await f.follow(1);
      f.startWatchdog();
    } catch (err) {
      await store.close().catch(() => undefined);
      throw err;
    }
    return f;
  }

  /** Messages in the stream not applied yet (as of the last message or catch-up seen). */
  lag(): number {
    return Math.max(0, this.knownLast - this.appliedSeq);
  }

  /** Resolves once everything stored in the stream when called is applied. */
  async catchUp(): Promise<void> {
    if (this.failure) throw this.failure;
    const info = await retryTransient(() => this.link.info(), API_BUDGET_MS);
    const target = info.state.last_seq;
    if (target > this.knownLast) this.knownLast = target;
    if (info.state.messages === 0 || target <= this.appliedSeq) return;
    await new Promise<void>((resolve, reject) => this.waiters.push({ target, resolve, reject }));
  }

  /**
   * Takes over as the primary of `epoch`: catches up, appends the epoch marker chained on the
   * stream's last message, applies everything before the marker, stops following and makes the
   * same store a writable replicated store. While the old primary still writes, the marker's
   * expected sequence is refreshed from the "wrong last sequence" answer and the marker retried
   * (so a zombie writing flat out cannot starve the takeover); the old primary's next publish
   * then fails and it is fenced. Appends to the store must use an epoch >= `epoch`.
   */
  async promote(epoch: number): Promise<Replica> {
    if (this.promoted || this.promoting) throw new Error('LogFollower: already promoted (or being promoted)');
    this.promoting = true;
    try {
      return await this.promoteOnce(epoch);
    } finally {
      this.promoting = false;
    }
  }

  private async promoteOnce(epoch: number): Promise<Replica> {
    if (!Number.isSafeInteger(epoch) || epoch < 0) throw new LogError('INVALID_ARGUMENT', `epoch must be a non-negative integer, got ${epoch}`);
    await this.catchUp();
    let expect = this.appliedSeq;
    let delay = 50;
    let markerSeq: number | undefined;
    let counter = 0;
    let chainedLosses = 0;
    while (markerSeq === undefined) {
      if (this.failure) throw this.failure;
      if (epoch < this.maxEpoch) {
        throw new LogError('FAILED_PRECONDITION', `replicated log ${this.link.stream}: epoch ${epoch} is older than the stream's epoch ${this.maxEpoch} (fenced)`);
      }
      counter = (this.idEpoch === epoch ? this.idCounter : 0) + 1;
      const id = msgId(epoch, counter);
      // A chained marker keeps concurrent takeovers apart; but an old primary still writing flat
      // out wins every race for the stream's tail, so after a few lost rounds the marker goes in
      // unconditionally: it breaks the old primary's chain just the same (that is the fence).
      const forced = chainedLosses >= FORCE_AFTER;
      const r = await this.link.publish('e', encodeEpochMarker(this.service, epoch), id, forced ? undefined : expect);
      if (r.ok) {
        if (forced) this.log.warn({ stream: this.link.stream, epoch, markerSeq: r.seq }, 'replicated log: the old primary kept writing; epoch marker appended without the chain check');
        if (r.duplicate && !forced && r.seq !== expect + 1) throw new LogError('FAILED_PRECONDITION', `replicated log ${this.link.stream}: marker id ${id} names message ${r.seq} already (epoch ${epoch} reused?)`);
        markerSeq = r.seq;
        break;
      }
      if (r.kind === 'fatal') throw new LogError('FAILED_PRECONDITION', `replicated log ${this.link.stream}: ${r.error}`);
      if (r.kind === 'wrong-last-seq') {
        const own = await this.link.msgIdAt(expect + 1).catch(() => undefined);
        if (own === id) {
          markerSeq = expect + 1;
          break;
        }
        const actual = /wrong last sequence: (\d+)/i.exec(r.error);
        expect = actual ? Number(actual[1]) : (await retryTransient(() => this.link.info(), API_BUDGET_MS)).state.last_seq;
        chainedLosses++;
        continue; // at once, on the tail the answer named
      } else {
        this.log.info({ stream: this.link.stream, epoch, err: r.error }, 'replicated log: epoch marker publish failed; retrying');
      }
      await new Promise((res) => setTimeout(res, delay));
      delay = Math.min(delay * 2, 1000);
    }
    // Everything before the marker is the old primary's and belongs in this store; nothing after it.
    this.stopAt = markerSeq;
    if (this.appliedSeq < markerSeq - 1) await new Promise<void>((resolve, reject) => this.waiters.push({ target: markerSeq - 1, resolve, reject }));
    if (epoch < this.maxEpoch) {
      // Our marker is in the stream but not ours to follow: this follower is done (start a new one).
      const err = new LogError('FAILED_PRECONDITION', `replicated log ${this.link.stream}: a marker of epoch ${this.maxEpoch} came before ours (epoch ${epoch}); two takeovers at once — the lease must prevent that`);
      this.fail(err);
      throw err;
    }
    this.finishPromotion(epoch, counter, markerSeq);
    return this.backend;
  }

  private finishPromotion(epoch: number, counter: number, markerSeq: number): void {
    this.promoted = true;
    this.stopped = true;
    clearInterval(this.watchdog);
    this.msgs?.stop();
    // Else it lingers until its inactivity timeout (5 min), holding back the primary's purges.
    const consumer = this.consumer;
    if (consumer) retryTransient(() => consumer.delete(), API_BUDGET_MS).catch((err: unknown) => this.log.warn({ stream: this.link.stream, err: String(err) }, 'replicated log: could not delete the follower consumer; purges wait for its inactivity timeout'));
    this.store.raiseEpoch(this.service, epoch);
    this.appliedSeq = markerSeq;
    this.backend.becomePrimary(epoch, counter, markerSeq);
    this.store.setCheckpointPublisher((file) => this.backend.publishCheckpoint(file));
    this.store.setReadOnly(undefined);
    this.log.info({ stream: this.link.stream, epoch, markerSeq, lastLsn: this.store.stats().lastLsn }, 'replicated log: primary from here on');
    // Older markers say nothing the new one does not.
    this.link.purgeBelow('e', markerSeq).catch((err: unknown) => this.log.warn({ stream: this.link.stream, err: String(err) }, 'replicated log: purging older epoch markers failed'));
    for (const w of this.waiters.splice(0)) w.resolve();
  }

  /** Stops following; closes the store and the connection unless promoted (then the store is the caller's). */
  async stop(): Promise<void> {
    if (this.promoted) return;
    this.stopped = true;
    clearInterval(this.watchdog);
    this.msgs?.stop();
    await this.applying.catch(() => undefined);
    const err = new LogError('UNAVAILABLE', 'log follower stopped');
    for (const w of this.waiters.splice(0)) w.reject(err);
    await this.store.close();
  }

  // ---- Following -----------------------------------------------------------------------------

  private async follow(fromSeq: number): Promise<void> {
    const consumer = await retryTransient(
      () =>
        // Unfiltered: the stream holds only this service's subjects (filter_subjects needs 2.10).
        this.link.js.consumers.get(this.link.stream, fromSeq > 1 ? { deliver_policy: DeliverPolicy.StartSequence, opt_start_seq: fromSeq } : {}),
      API_BUDGET_MS,
    );
    // Short heartbeats: an ordered consumer lives on one node; when that node dies the client
    // only waits for it (its info requests time out), so missed heartbeats make us re-create it.
    const msgs = await consumer.consume({ expires: 5000, idle_heartbeat: 1000 });
    this.msgs = msgs;
    this.consumer = consumer;
    void this.watch(msgs);
    void this.loop(msgs);
  }

  /**
   * Re-creates the consumer when the stream has messages we have not applied and none arrived
   * for a while. Missed heartbeats do not cover every case: after the client's own connection
   * moved to another server (the one it used died), the consumer's recovery waits on the dead
   * node (info requests time out) with the heartbeat monitor stopped.
   */
  private startWatchdog(): void {
    let lastApplied = this.appliedSeq;
    let stuckSince = Date.now();
    let checking = false;
    this.watchdog = setInterval(() => {
      if (this.stopped || checking) return;
      if (this.appliedSeq !== lastApplied) {
        lastApplied = this.appliedSeq;
        stuckSince = Date.now();
        return;
      }
      if (Date.now() - stuckSince < WATCHDOG_STUCK_MS) return;
      checking = true;
      this.link
        .info()
        .then((info) => {
          if (info.state.last_seq > this.knownLast) this.knownLast = info.state.last_seq;
          if (this.stopped || this.appliedSeq !== lastApplied || info.state.last_seq <= this.appliedSeq || this.appliedSeq + 1 >= this.stopAt) return;
          this.log.warn({ stream: this.link.stream, appliedSeq: this.appliedSeq, lastSeq: info.state.last_seq }, 'replicated log: follower receives nothing while behind; re-creating its consumer');
          stuckSince = Date.now();
          this.msgs?.stop();
        })
        .catch(() => undefined)
        .finally(() => (checking = false));
    }, 1000);
    this.watchdog.unref();
  }

  private async watch(msgs: ConsumerMessages): Promise<void> {
    try {
      for await (const s of msgs.status()) {
        this.log.debug({ stream: this.link.stream, status: s }, 'replicated log: follower consumer status');
        if (s.type === 'heartbeats_missed' && s.count >= 2 && this.msgs === msgs && !this.stopped) {
          this.log.warn({ stream: this.link.stream, appliedSeq: this.appliedSeq }, 'replicated log: follower consumer silent (its node lost?); re-creating it');
          msgs.stop();
          return;
        }
      }
    } catch {
      // the iterator ends with the consumer
    }
  }

  private async loop(msgs: ConsumerMessages): Promise<void> {
    try {
      for await (const m of msgs) {
        if (m.seq >= this.stopAt) return; // our own marker: promotion takes it from here
        if (this.stopped) break;
        if (m.seq <= this.appliedSeq) continue; // a re-created consumer may deliver again
        this.applying = this.apply(m);
        await this.applying;
      }
    } catch (err) {
      if (this.stopped) return;
      if (err instanceof LogError) return this.fail(err);
      this.log.warn({ stream: this.link.stream, err: String(err), appliedSeq: this.appliedSeq }, 'replicated log: follower consumer failed; re-creating it');
    }
    // The consumer ended without being stopped: follow again from the next message, until it works.
    this.consumer?.delete().catch(() => undefined);
    while (!this.stopped && !this.failure) {
      await new Promise((r) => setTimeout(r, 200));
      if (this.stopped) return;
      try {
        await this.follow(this.appliedSeq + 1);
        return;
      } catch (err) {
        this.log.warn({ stream: this.link.stream, err: String(err) }, 'replicated log: cannot re-create the follower consumer yet; retrying');
        await new Promise((r) => setTimeout(r, 1000));
      }
    }
  }

  private async apply(m: JsMsg): Promise<void> {
    const kind = kindOfSubject(this.service, m.subject);
    const id = parseMsgId(m.headers?.get('Nats-Msg-Id') ?? '');
    if (id) {
      if (id.epoch > this.idEpoch) {
        this.idEpoch = id.epoch;
        this.idCounter = id.counter;
      } else if (id.epoch === this.idEpoch && id.counter > this.idCounter) this.idCounter = id.counter;
      if (id.epoch > this.maxEpoch) this.maxEpoch = id.epoch;
    }
    const data = Buffer.from(m.data.buffer, m.data.byteOffset, m.data.byteLength);
    if (kind === 'r') {
      this.parts.reset();
      this.backend.ingestSeq = m.seq;
      this.backend.ingesting = true;
      try {
        await this.store.ingestFrames(data);
      } finally {
        this.backend.ingesting = false;
      }
      // A hot standby folds them into the connections it would adopt (run/standby-adoption.ts).
      this.emit('frames', data);
    } else if (kind === 'k') {
      const part = parsePartHeader(m.headers?.get(PART_HEADER) ?? '');
      if (!part) throw new LogError('DATA_LOSS', `replicated log ${this.link.stream}: checkpoint message ${m.seq} without a valid ${PART_HEADER} header`);
      const whole = this.parts.add(part.i, part.n, data);
      if (whole) await this.store.ingestCheckpoint(CheckpointFile.decode(whole));
    } else if (kind === 'e') {
      this.parts.reset();
      const marker = decodeEpochMarker(data);
      if (!marker) throw new LogError('DATA_LOSS', `replicated log ${this.link.stream}: malformed epoch marker at ${m.seq}`);
      this.store.raiseEpoch(marker.service, marker.epoch);
      if (marker.epoch > this.maxEpoch) this.maxEpoch = marker.epoch;
    } else {
      this.log.warn({ stream: this.link.stream, subject: m.subject, seq: m.seq }, 'replicated log: skipped a message on an unknown subject');
    }
    this.appliedSeq = m.seq;
    const last = m.seq + (m.info.pending ?? 0);
    if (last > this.knownLast) this.knownLast = last;
    this.emit('applied', m.seq);
    if (this.waiters.length > 0) {
      this.waiters = this.waiters.filter((w) => {
        if (w.target > this.appliedSeq) return true;
        w.resolve();
        return false;
      });
    }
  }

  private fail(err: Error): void {
    if (this.failure) return;
    this.failure = err;
    this.stopped = true;
    clearInterval(this.watchdog);
    this.msgs?.stop();
    this.log.error({ stream: this.link.stream, err: err.message, appliedSeq: this.appliedSeq }, 'replicated log: follower stopped');
    for (const w of this.waiters.splice(0)) w.reject(err);
    this.emit('failed', err);
  }
}
