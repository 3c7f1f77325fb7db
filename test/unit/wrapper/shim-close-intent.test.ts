// Close intents of the shim: a FIN/RST the app asked for passes at once (no liveness judgment),
// a held one is released when its intent arrives, and an unexplained one is still held.
import { describe, expect, it } from 'vitest';
import { CloseIntent_How } from '../../../src/log/gen/ftcp/v1/log.js';
import { seqAdd } from '../../../src/wire/seq.js';
import { TCP_ACK, TCP_FIN, TCP_RST, TCP_SYN } from '../../../src/wire/tcp.js';
import { CLIENT, PORT, TUPLE, harness, type Harness } from './wrapper-harness.js';

const IRS = 0xffffff00;
const ISS0 = 0xffffff80;

/** Opens a connection from client port `cport` (handshake released). */
function open(h: Harness, cport: number): void {
  h.feed('inbound', { flags: TCP_SYN, seq: IRS, mss: 1460 }, cport);
  h.feed('outbound', { flags: TCP_SYN | TCP_ACK, seq: ISS0, ack: seqAdd(IRS, 1), mss: 1460 }, cport);
  h.log.makeDurable();
  h.feed('inbound', { flags: TCP_ACK, seq: seqAdd(IRS, 1), ack: seqAdd(ISS0, 1) }, cport);
  h.injected('outbound');
}

const fin = { flags: TCP_FIN | TCP_ACK, seq: seqAdd(ISS0, 1), ack: seqAdd(IRS, 1) };
const rst = { flags: TCP_RST | TCP_ACK, seq: seqAdd(ISS0, 1), ack: seqAdd(IRS, 1) };

describe('SecondWrapper close intents', () => {
  it('keeps the daemon id format: tuple key, "/", irs', () => {
    const h = harness();
    open(h, 40000);
    expect(h.log.records[0]!.connId).toBe(`${TUPLE}/${IRS}`);
    h.w.close();
  });

  it('an intent logged before the FIN lets it pass at once, even while the app looks dead', () => {
    const h = harness({ closeGraceMs: 1_000_000 });
    open(h, 40000);
    h.w.closeIntent(TUPLE, CloseIntent_How.END, 0);
    h.alive.v = false; // the liveness judgment is not consulted
    expect(h.feed('outbound', fin).passed).toBe(true);
    expect(h.w.appDown).toBe(false);
    expect(h.w.counters).toMatchObject({ closeIntents: 1, closeIntentsHonoured: 1 });
    // A retransmitted FIN passes too and is not counted twice.
    expect(h.feed('outbound', fin).passed).toBe(true);
    expect(h.w.counters.closeIntentsHonoured).toBe(1);
    h.w.close();
  });

  it('a FIN held for the verdict is released when its intent arrives', () => {
    const h = harness({ closeGraceMs: 1_000_000 });
    open(h, 40001);
    expect(h.feed('outbound', fin, 40001).passed).toBe(false);
    expect(h.injected('outbound')).toEqual([]);
    h.w.closeIntent(`${CLIENT}:40001>${PORT}`, CloseIntent_How.DESTROY, 0);
    const out = h.injected('outbound');
    expect(out).toHaveLength(1);
    expect(out[0]!.flags & TCP_FIN).toBeTruthy();
    expect(out[0]!.seq).toBe(seqAdd(ISS0, 1));
    expect(h.w.counters.closeIntentsHonoured).toBe(1);
    h.w.close();
  });

  it('END does not explain an RST; DESTROY and RESET do; unknown tuples are counted', () => {
    const h = harness({ closeGraceMs: 1_000_000 });
    open(h, 40000);
    h.w.closeIntent(TUPLE, CloseIntent_How.END, 0);
    expect(h.feed('outbound', rst).passed).toBe(false);
    h.w.closeIntent(TUPLE, CloseIntent_How.RESET, 0);
    const out = h.injected('outbound');
    expect(out).toHaveLength(1);
    expect(out[0]!.flags & TCP_RST).toBeTruthy();
    h.w.closeIntent('10.9.9.9:1>9000', CloseIntent_How.END, 0);
    expect(h.w.counters.closeIntentsUnmatched).toBe(1);
    h.w.close();
  });

  it('a close whose last ACK waited for the log completes once the client FIN is durable', () => {
    const h = harness();
    open(h, 40000);
    h.w.closeIntent(TUPLE, CloseIntent_How.END, 0);
    expect(h.feed('outbound', fin).passed).toBe(true);
    h.feed('inbound', { flags: TCP_FIN | TCP_ACK, seq: seqAdd(IRS, 1), ack: seqAdd(ISS0, 2) });
    expect(h.feed('outbound', { flags: TCP_ACK, seq: seqAdd(ISS0, 2), ack: seqAdd(IRS, 2) }).passed).toBe(false); // held
    expect(h.w.conns.byTuple(TUPLE)!.state).toBe('NORMAL');
    h.log.makeDurable();
    expect(h.injected('outbound').map((p) => p.ack)).toEqual([seqAdd(IRS, 2)]);
    expect(h.w.conns.byTuple(TUPLE)!.state).toBe('CLOSED');
    expect(h.log.records.at(-1)!.kind?.$case).toBe('closed');
    h.w.close();
  });

  it('without an intent the FIN is held and judged by liveness as before', async () => {
    const h = harness({ closeGraceMs: 5 });
    open(h, 40000);
    expect(h.feed('outbound', fin).passed).toBe(false);
    await new Promise((r) => setTimeout(r, 30));
    expect(h.injected('outbound').some((p) => p.flags & TCP_FIN)).toBe(true);
    expect(h.w.counters.closeIntentsHonoured).toBe(0);
    h.w.close();
  });

  it('a stop on purpose releases the FINs held for a verdict at once; the app dying then is no crash', async () => {
    const h = harness({ closeGraceMs: 5 });
    open(h, 40000);
    expect(h.feed('outbound', fin).passed).toBe(false); // the client closed, the app answered
    h.w.shutdown();
    const out = h.injected('outbound');
    expect(out).toHaveLength(1);
    expect(out[0]!.flags & TCP_FIN).toBeTruthy();
    h.alive.v = false; // the daemon stops the app
    await new Promise((r) => setTimeout(r, 30));
    expect(h.w.appDown).toBe(false);
    h.w.appCrashed('the app exited');
    expect(h.w.appDown).toBe(false);
    expect(h.w.counters.recoveries).toBe(0);
    h.w.close();
  });

  it('a lost shim session is a crash only when the app is not alive', () => {
    const h = harness();
    open(h, 40000);
    h.w.shimSessionLost('shim-1-a');
    expect(h.w.appDown).toBe(false);
    h.alive.v = false;
    h.w.shimSessionLost('shim-1-a');
    expect(h.w.appDown).toBe(true);
    expect(h.w.counters.shimSessionsLost).toBe(1);
    h.w.close();
  });

  it('many FINs at once: one look at the app per millisecond, and the verdict looks again', async () => {
    let t = 100;
    let looks = 0;
    let alive = true;
    const h = harness({ closeGraceMs: 5, now: () => t, liveness: { isAlive: () => (looks++, alive) } });
    for (let p = 41000; p < 41010; p++) open(h, p);
    for (let p = 41000; p < 41010; p++) expect(h.feed('outbound', fin, p).passed).toBe(false);
    expect(looks).toBe(1);
    // The app dies before the verdict: the held FINs are a crash, not closes.
    alive = false;
    t += 10;
    await new Promise((r) => setTimeout(r, 20));
    expect(looks).toBe(2);
    expect(h.w.appDown).toBe(true);
    expect(h.injected('outbound').filter((x) => x.flags & TCP_FIN)).toEqual([]);
    h.w.close();
  });
});
