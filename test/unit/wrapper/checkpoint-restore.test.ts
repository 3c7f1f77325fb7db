// Restores from the shim's checkpoint: the forged SYN starts at irs + clientOffset, the replay
// carries only client bytes past it, and the restarted stack's output is taken to start at
// serverOffset (delta and verification follow).
import { describe, expect, it } from 'vitest';
import { shimConnId } from '../../../src/log/conn-key.js';
import type { CheckpointInfo } from '../../../src/log/gen/ftcp/v1/log.js';
import { seqAdd } from '../../../src/wire/seq.js';
import { TCP_ACK, TCP_PSH, TCP_RST, TCP_SYN } from '../../../src/wire/tcp.js';
import { TUPLE, bytes, harness, type Harness } from './wrapper-harness.js';

const IRS = 0xffffff00;
const ISS0 = 0xffffff80;
const ISSK = 77;
const REQ1 = bytes(300, 1);
const REQ2 = bytes(200, 2);
const RESP = bytes(5000, 3); // crosses a 4 KiB hash block

/** A connection that carried REQ1, RESP (all acked by the client), then REQ2. */
function busyConn(h: Harness): void {
  h.feed('inbound', { flags: TCP_SYN, seq: IRS, mss: 1460 });
  h.feed('outbound', { flags: TCP_SYN | TCP_ACK, seq: ISS0, ack: seqAdd(IRS, 1), mss: 1460 });
  h.log.makeDurable();
  h.feed('inbound', { flags: TCP_ACK | TCP_PSH, seq: seqAdd(IRS, 1), ack: seqAdd(ISS0, 1), payload: REQ1 });
  h.log.makeDurable();
  h.feed('outbound', { flags: TCP_ACK | TCP_PSH, seq: seqAdd(ISS0, 1), ack: seqAdd(IRS, 301), payload: RESP.subarray(0, 3000) });
  h.feed('outbound', { flags: TCP_ACK | TCP_PSH, seq: seqAdd(ISS0, 3001), ack: seqAdd(IRS, 301), payload: RESP.subarray(3000) });
  h.feed('inbound', { flags: TCP_ACK | TCP_PSH, seq: seqAdd(IRS, 301), ack: seqAdd(ISS0, 5001), payload: REQ2 });
  h.log.makeDurable();
  h.feed('outbound', { flags: TCP_ACK, seq: seqAdd(ISS0, 5001), ack: seqAdd(IRS, 501) });
  h.injected('outbound');
  h.injected('inbound');
}

function checkpoint(clientOffset: number, serverOffset: number, createdUnixMs = Date.now()): CheckpointInfo {
  return {
    service: 'svc',
    epoch: 0,
    lsn: 10,
    state: Buffer.from('state'),
    positions: [{ connId: shimConnId(TUPLE, 1), clientOffset, serverOffset }],
    createdUnixMs,
  };
}

describe('SecondWrapper restore from a checkpoint', () => {
  it('forges the SYN at irs + clientOffset, replays the rest, and takes regenerated output from serverOffset', async () => {
    const h = harness();
    busyConn(h);
    h.ckpt.v = checkpoint(300, 4500);
    h.w.appCrashed('test');
    h.injected('outbound');
    h.injected('inbound');
    h.w.appListening();
    const syn = h.injected('inbound').filter((p) => p.flags & TCP_SYN);
    expect(syn.map((p) => p.seq)).toEqual([seqAdd(IRS, 300)]);
    expect(h.w.counters.restoredFromCheckpoint).toBe(1);

    h.feed('outbound', { flags: TCP_SYN | TCP_ACK, seq: ISSK, ack: seqAdd(IRS, 301), mss: 1460 });
    await new Promise((r) => setImmediate(r)); // the replay reads the log
    const toStack = h.injected('inbound');
    expect(toStack[0]).toMatchObject({ flags: TCP_ACK, seq: seqAdd(IRS, 301), ack: ISSK + 1 });
    expect(toStack.filter((p) => p.payloadLen > 0).map((p) => [p.seq, p.payloadLen])).toEqual([[seqAdd(IRS, 301), 200]]);

    // The stack takes the replay and regenerates the server stream from offset 4500 (the client has
    // it all): acknowledged by the daemon, nothing resent, the connection is NORMAL again.
    h.feed('outbound', { flags: TCP_ACK, seq: ISSK + 1, ack: seqAdd(IRS, 501), window: 4000 });
    h.feed('outbound', { flags: TCP_ACK | TCP_PSH, seq: ISSK + 1, ack: seqAdd(IRS, 501), window: 4000, payload: RESP.subarray(4500) });
    expect(h.injected('inbound').some((p) => p.flags === TCP_ACK && p.ack === ISSK + 501)).toBe(true);
    const reopen = h.injected('outbound');
    expect(reopen.every((p) => p.payloadLen === 0)).toBe(true);
    expect(h.w.counters.recovered).toBe(1);
    expect(h.w.counters.divergences).toBe(0);

    // New output continues the client's view of the server stream at 5000.
    const more = h.feed('outbound', { flags: TCP_ACK | TCP_PSH, seq: ISSK + 501, ack: seqAdd(IRS, 501), window: 4000, payload: bytes(10, 4) });
    expect(more.passed).toBe(true);
    expect(more.facts.seq).toBe(seqAdd(ISS0, 5001));
    h.w.close();
  });

  it('regenerated output that differs after serverOffset is still a divergence', async () => {
    const h = harness();
    busyConn(h);
    h.ckpt.v = checkpoint(300, 0);
    h.w.appCrashed('test');
    h.w.appListening();
    h.feed('outbound', { flags: TCP_SYN | TCP_ACK, seq: ISSK, ack: seqAdd(IRS, 301), mss: 1460 });
    await new Promise((r) => setImmediate(r));
    h.injected('outbound');
    const wrong = Buffer.from(RESP);
    wrong[10]! ^= 1;
    h.feed('outbound', { flags: TCP_ACK | TCP_PSH, seq: ISSK + 1, ack: seqAdd(IRS, 501), window: 8000, payload: wrong });
    expect(h.w.counters.divergences).toBe(1);
    expect(h.injected('outbound').some((p) => p.flags & TCP_RST)).toBe(true);
    h.w.close();
  });

  it('a position past what the client acknowledged resets the connection cleanly', () => {
    const h = harness();
    busyConn(h);
    h.ckpt.v = checkpoint(300, 5001);
    h.w.appCrashed('test');
    h.injected('outbound');
    h.w.appListening();
    expect(h.injected('outbound').some((p) => p.flags & TCP_RST)).toBe(true);
    expect(h.injected('inbound').some((p) => p.flags & TCP_SYN)).toBe(false);
    h.w.close();
  });

  it('ignores a position older than the connection (same 4-tuple, earlier connection)', () => {
    const h = harness();
    busyConn(h);
    h.ckpt.v = checkpoint(300, 4500, Date.now() - 60_000);
    h.w.appCrashed('test');
    h.w.appListening();
    expect(h.injected('inbound').filter((p) => p.flags & TCP_SYN).map((p) => p.seq)).toEqual([IRS]);
    expect(h.w.counters.restoredFromCheckpoint).toBe(0);
    h.w.close();
  });

  it('resets a connection whose logged bytes the log no longer has, instead of stalling', async () => {
    const h = harness();
    busyConn(h);
    // The first request is gone from the log (as if dropped below a checkpoint not applied here).
    h.log.records = h.log.records.filter((r) => !(r.kind?.$case === 'clientData' && r.kind.value.offset === 0));
    h.w.appCrashed('test');
    h.w.appListening();
    h.injected('outbound');
    h.feed('outbound', { flags: TCP_SYN | TCP_ACK, seq: ISSK, ack: seqAdd(IRS, 1), mss: 1460 });
    for (let i = 0; i < 5; i++) await new Promise((r) => setImmediate(r));
    expect(h.injected('outbound').some((p) => p.flags & TCP_RST)).toBe(true);
    expect(h.w.conns.byTuple(TUPLE)!.state).toBe('CLOSED');
    h.w.close();
  });

  it('waits for a checkpoint read that is asynchronous (remote log server)', async () => {
    const h = harness({ checkpoints: { latest: async () => checkpoint(300, 4500) } });
    busyConn(h);
    h.w.appCrashed('test');
    h.injected('inbound');
    h.w.appListening();
    await new Promise((r) => setImmediate(r));
    expect(h.injected('inbound').filter((p) => p.flags & TCP_SYN).map((p) => p.seq)).toEqual([seqAdd(IRS, 300)]);
    h.w.close();
  });
});
