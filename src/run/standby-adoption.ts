// Hot standby: the connections a takeover will adopt, kept current as the follower applies the
// primary's records (src/wrapper/adopt.ts AdoptionFold), so that a takeover starts from them and
// not from a read of the whole log. Seeded once from the follower's store; frames applied meanwhile
// wait and are folded after the seed, in order (a record folded twice changes nothing).
import { framesOf } from '../log/frame.js';
import type { LogStore } from '../log/store.js';
import { decodeStored } from '../log/stored-record.js';
import type { Logger } from '../util/logger.js';
import { AdoptionFold } from '../wrapper/adopt.js';
import { recordOfStored } from '../wrapper/wrapper-log.js';

export interface FrameSource {
  on(event: 'frames', listener: (data: Buffer) => void): unknown;
  off(event: 'frames', listener: (data: Buffer) => void): unknown;
}

export class StandbyAdoption {
  private readonly fold = new AdoptionFold();
  private pending: Buffer[] | undefined = [];
  private broken: Error | undefined;
  private readonly listener = (data: Buffer): void => {
    if (this.pending) this.pending.push(data);
    else this.foldFrames(data);
  };

  private constructor(
    private readonly source: FrameSource,
    private readonly service: string,
    private readonly log: Logger,
  ) {
    source.on('frames', this.listener);
  }

  /** Starts folding: listens to the source at once, then reads the store it fills. */
  static start(source: FrameSource, store: LogStore, service: string, log: Logger): StandbyAdoption {
    const s = new StandbyAdoption(source, service, log);
    void s.seed(store);
    return s;
  }

  private async seed(store: LogStore): Promise<void> {
    try {
      for await (const batch of store.readStored(this.service)) {
        for (const body of batch) this.fold.add(recordOfStored(body));
        await new Promise((r) => setImmediate(r));
      }
      const pending = this.pending ?? [];
      this.pending = undefined;
      for (const data of pending) this.foldFrames(data);
      this.log.debug({ open: this.fold.size }, 'standby: connections to adopt kept current from here on');
    } catch (err) {
      this.fail(err);
    }
  }

  private foldFrames(data: Buffer): void {
    if (this.broken) return;
    try {
      for (const [, body] of framesOf(data, 0, data.length)) {
        if (decodeStored(body).service === this.service) this.fold.add(recordOfStored(body));
      }
    } catch (err) {
      this.fail(err);
    }
  }

  private fail(err: unknown): void {
    this.broken = err instanceof Error ? err : new Error(String(err));
    this.pending = undefined;
    this.source.off('frames', this.listener);
    this.log.warn({ err: this.broken }, 'standby: cannot keep the connections to adopt current; a takeover will read the whole log');
  }

  /** The fold, once complete (seeded, nothing failed); undefined: read the whole log instead. */
  current(): AdoptionFold | undefined {
    return this.pending === undefined && !this.broken ? this.fold : undefined;
  }

  stop(): void {
    this.source.off('frames', this.listener);
  }
}
