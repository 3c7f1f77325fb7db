// The daemon's VIP on a LAN (host failover, or --lan-if): checked at start, claimed once the host
// is ready to hold clients (proxy ARP + gratuitous ARP, src/failover/vip.ts), withdrawn while the
// primary's lease is not renewed — a client must not learn this host's MAC while another host may
// take over — and claimed again when it is, released at the stop.
import { checkAnnounceSocket, claimLinks, claimVip, lanIfFor, VipError, type ClaimLinks, type VipClaim } from '../failover/vip.js';
import type { Logger } from '../util/logger.js';
import { ConfigError, type RunConfig } from './run-config.js';

export class LanVip {
  private claim: VipClaim | undefined;
  private outerTun: string | undefined;
  /** Looked up ahead by a standby (lookUpLinks), used by its first claim. */
  private links: ClaimLinks | undefined;
  /** Claims and withdrawals in order (lease events can come faster than `ip` runs). */
  private chain: Promise<unknown> = Promise.resolve();
  private stopped = false;

  private constructor(
    private readonly vip: string,
    /** undefined: no link holds the VIP's subnet — the VIP is reachable from this host only. */
    readonly lanIf: string | undefined,
    private readonly log: Logger,
  ) {}

  /**
   * At start, before anything is built: undefined when the daemon is not on a LAN (no --lan-if, no
   * replicated log). Fails with a ConfigError when the daemon may not send the gratuitous ARP, or when the LAN link is in
   * doubt (two links, the VIP already a local address): an error to fix, not a reason to guess.
   */
  static async prepare(cfg: RunConfig, log: Logger): Promise<LanVip | undefined> {
    if (cfg.lanIf === undefined && cfg.natsServers === undefined) return undefined;
    try {
      checkAnnounceSocket();
    } catch (err) {
      throw new ConfigError((err as Error).message);
    }
    const lanIf =
      cfg.lanIf ??
      (await lanIfFor(cfg.vip).catch((err: unknown) => {
        if (err instanceof VipError && err.code === 'no-lan-link') return undefined;
        throw err instanceof VipError ? new ConfigError(`${err.message} (give --lan-if)`) : err;
      }));
    return new LanVip(cfg.vip, lanIf, log.child({ component: 'vip' }));
  }

  /**
   * A standby, once its outer TUN and the VIP's route exist: the claim's lookups made now, not on
   * the takeover's path. A failure here is left to the claim itself to report.
   */
  async lookUpLinks(outerTun: string): Promise<void> {
    if (this.lanIf === undefined) return;
    this.links = await claimLinks({ vip: this.vip, lanIf: this.lanIf, outerTun }).catch(() => undefined);
  }

  /** Answers ARP for the VIP on the LAN link from now on, forwarding into `outerTun`. */
  async claimOn(outerTun: string): Promise<void> {
    this.outerTun = outerTun;
    if (this.lanIf === undefined) {
      this.log.info({ vip: this.vip }, "no LAN link holds the VIP's subnet: the VIP is reachable from this host only (give --lan-if to claim it on a LAN)");
      return;
    }
    await this.doClaim('VIP claimed on the LAN (proxy ARP, gratuitous ARP sent)');
  }

  /** The lease lapsed (true) or was renewed (false). */
  suspend(on: boolean): void {
    this.chain = this.chain
      .then(() => (on ? this.withdraw() : this.doClaim('VIP claimed again (lease renewed)')))
      .catch((err: unknown) => this.log.warn({ err }, 'VIP change failed'));
  }

  async release(): Promise<void> {
    this.stopped = true;
    await this.chain;
    await this.withdraw().catch((err: unknown) => this.log.warn({ err }, 'releasing the VIP claim failed'));
  }

  private async doClaim(msg: string): Promise<void> {
    if (this.claim || this.stopped || this.lanIf === undefined || this.outerTun === undefined) return;
    // Links looked up ahead serve the first claim only: a later one (the lease renewed after a
    // lapse) looks again, the link may have changed since.
    const links = this.links?.outerTun === this.outerTun ? this.links : undefined;
    this.links = undefined;
    this.claim = await claimVip({ vip: this.vip, lanIf: this.lanIf, outerTun: this.outerTun, log: this.log, ...(links ? { links } : {}) });
    this.log.info({ vip: this.vip, lanIf: this.lanIf }, msg);
  }

  private async withdraw(): Promise<void> {
    const c = this.claim;
    this.claim = undefined;
    if (!c) return;
    await c.release();
    if (!this.stopped) this.log.warn({ vip: this.vip }, 'VIP withdrawn from the LAN while the lease is not renewed');
  }
}
