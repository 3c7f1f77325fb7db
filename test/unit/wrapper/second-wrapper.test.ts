// The second wrapper's decisions on synthetic segments (no TUN, no kernel): a connection whose
// sequence numbers cross 2^32 in both directions, logged, clamped, crashed and restored.
import { describe, expect, it } from 'vitest';
import type { Direction } from '../../../src/relay/packet-path.js';
import { silentLogger } from '../../../src/util/logger.js';
import { buildSegment, type SegmentSpec } from '../../../src/wire/builder.js';
import { parsePacket } from '../../../src/wire/packet-parser.js';
import { seqAdd } from '../../../src/wire/seq.js';
import { TCP_ACK, TCP_FIN, TCP_PSH, TCP_RST, TCP_SYN } from '../../../src/wire/tcp.js';
import { SecondWrapper, restoresAtOnce } from '../../../src/wrapper/second-wrapper.js';
import { CLIENT, CPORT, MemoryLog, PORT, VIP, bytes, harness } from './wrapper-harness.js';

const IRS = 0xffffff00; // the client's stream crosses 2^32 after 255 bytes
const ISS0 = 0xffffff80; // the server's after 127 bytes

const TS = (tsval: number, tsecr: number) => ({ timestamps: { tsval, tsecr } });

describe('SecondWrapper on a connection crossing 2^32', () => {
  it('logs, clamps, holds, and restores across a crash with exact rewriting', async () => {
    const h = harness();
    const { feed, log } = h;

    // Handshake: the SYN-ACK waits for the opened record (claim 3).
    expect(feed('inbound', { flags: TCP_SYN, seq: IRS, mss: 1460, wscale: 7, sackPermitted: true, ...TS(1000, 0) }).passed).toBe(true);
    expect(feed('outbound', { flags: TCP_SYN | TCP_ACK, seq: ISS0, ack: seqAdd(IRS, 1), mss: 1460, wscale: 7, sackPermitted: true, ...TS(5000, 1000) }).passed).toBe(false);
    expect(log.records[0]!.kind?.$case).toBe('opened');
    expect(h.injected('outbound')).toEqual([]);
    log.makeDurable();
    const synAck = h.injected('outbound');
    expect(synAck).toHaveLength(1);
    expect(synAck[0]!.seq).toBe(ISS0);

    // 300 client bytes crossing the wrap: logged at offset 0, passed to the stack.
    const req = bytes(300, 1);
    expect(feed('inbound', { flags: TCP_ACK | TCP_PSH, seq: seqAdd(IRS, 1), ack: seqAdd(ISS0, 1), payload: req, ...TS(1001, 5000) }).passed).toBe(true);
    const data = log.records.filter((r) => r.kind?.$case === 'clientData');
    expect(data).toHaveLength(1);
    expect(data[0]!.kind?.$case === 'clientData' && data[0]!.kind.value.offset).toBe(0);

    // The stack acks them before they are durable: the pure ACK is held (claims 2-3) ...
    expect(feed('outbound', { flags: TCP_ACK, seq: seqAdd(ISS0, 1), ack: seqAdd(IRS, 301), ...TS(5001, 1001) }).passed).toBe(false);
    // ... and a response carries the ack clamped to the durable point, window widened.
    const resp = bytes(300, 2);
    const r1 = feed('outbound', { flags: TCP_ACK | TCP_PSH, seq: seqAdd(ISS0, 1), ack: seqAdd(IRS, 301), payload: resp, ...TS(5002, 1001) });
    expect(r1.passed).toBe(true);
    expect(r1.facts.ack).toBe(seqAdd(IRS, 1));
    // Durable: a synthesized ACK releases the client's bytes.
    log.makeDurable();
    const acks = h.injected('outbound');
    expect(acks.map((a) => a.ack)).toEqual([seqAdd(IRS, 301)]);
    expect(acks[0]!.seq).toBe(seqAdd(ISS0, 301));

    // The client acknowledges the response.
    expect(feed('inbound', { flags: TCP_ACK, seq: seqAdd(IRS, 301), ack: seqAdd(ISS0, 301), ...TS(1002, 5002) }).passed).toBe(true);

    // Crash: FIN from the dying stack is discarded, the client held at window 0 (claim 6).
    h.alive.v = false;
    expect(feed('outbound', { flags: TCP_FIN | TCP_ACK, seq: seqAdd(ISS0, 301), ack: seqAdd(IRS, 301), ...TS(5003, 1002) }).passed).toBe(false);
    expect(h.w.appDown).toBe(true);
    const hold = h.injected('outbound');
    expect(hold).toHaveLength(1);
    expect(hold[0]).toMatchObject({ ack: seqAdd(IRS, 301), window: 0, seq: seqAdd(ISS0, 301) });
    expect(hold[0]!.tsval).toBeGreaterThanOrEqual(5002);
    const purge = h.injected('inbound');
    expect(purge.map((p) => [p.flags, p.seq])).toEqual([[TCP_RST, seqAdd(IRS, 301)]]);

    // The app is back: forged SYN with the client's ISN and options.
    h.alive.v = true;
    h.w.appListening();
    const syn = h.injected('inbound').filter((p) => p.flags & TCP_SYN);
    expect(syn).toHaveLength(1);
    expect(syn[0]).toMatchObject({ seq: IRS, mss: 1460, wscale: 7, sackPermitted: true });

    // New stack's SYN-ACK (issK = 77) is captured, never forwarded; forged ACK, then the replay.
    const ISSK = 77;
    expect(feed('outbound', { flags: TCP_SYN | TCP_ACK, seq: ISSK, ack: seqAdd(IRS, 1), mss: 1460, wscale: 7, sackPermitted: true, ...TS(90000, 1002) }).passed).toBe(false);
    await new Promise((r) => setImmediate(r)); // the replay reads the log
    const toStack = h.injected('inbound');
    expect(toStack[0]).toMatchObject({ flags: TCP_ACK, seq: seqAdd(IRS, 1), ack: ISSK + 1 });
    const replay = toStack.filter((p) => p.payloadLen > 0);
    expect(replay.map((p) => [p.seq, p.payloadLen])).toEqual([[seqAdd(IRS, 1), 300]]);
    expect(h.injected('outbound')).toEqual([]); // nothing reaches the client yet

    // The stack acks the replay and regenerates the response: identical, below sndUna → acked by
    // the daemon, not resent; the replay completes and the window reopens.
    feed('outbound', { flags: TCP_ACK, seq: ISSK + 1, ack: seqAdd(IRS, 301), window: 4000, ...TS(90001, 1002) });
    feed('outbound', { flags: TCP_ACK | TCP_PSH, seq: ISSK + 1, ack: seqAdd(IRS, 301), window: 4000, payload: resp, ...TS(90002, 1002) });
    const stackAck = h.injected('inbound');
    expect(stackAck.some((p) => p.flags === TCP_ACK && p.ack === ISSK + 301)).toBe(true);
    const reopen = h.injected('outbound');
    expect(reopen).toHaveLength(1);
    expect(reopen[0]!.window).toBeGreaterThan(0);
    expect(reopen[0]!.ack).toBe(seqAdd(IRS, 301));
    expect(h.w.counters.recovered).toBe(1);

    // NORMAL again, with delta: the stack's seq/TSval are shown in the client's space ...
    const more = bytes(100, 3);
    const out2 = feed('outbound', { flags: TCP_ACK | TCP_PSH, seq: ISSK + 301, ack: seqAdd(IRS, 301), window: 4000, payload: more, ...TS(90010, 1002) });
    expect(out2.passed).toBe(true);
    expect(out2.facts.seq).toBe(seqAdd(ISS0, 301));
    expect(out2.facts.tsval! - hold[0]!.tsval!).toBeGreaterThan(0);
    // ... and the client's ack/TSecr in the stack's.
    const in2 = feed('inbound', { flags: TCP_ACK, seq: seqAdd(IRS, 301), ack: seqAdd(ISS0, 401), ...TS(1003, out2.facts.tsval!) });
    expect(in2.passed).toBe(true);
    expect(in2.facts.ack).toBe(ISSK + 401);
    expect(in2.facts.tsecr).toBe(90010);
  });

  it('resets the client (never a wrong byte) when regenerated output differs', async () => {
    const h = harness();
    const { feed, log } = h;
    feed('inbound', { flags: TCP_SYN, seq: IRS, mss: 1460 });
    feed('outbound', { flags: TCP_SYN | TCP_ACK, seq: ISS0, ack: seqAdd(IRS, 1), mss: 1460 });
    log.makeDurable();
    feed('inbound', { flags: TCP_ACK | TCP_PSH, seq: seqAdd(IRS, 1), ack: seqAdd(ISS0, 1), payload: bytes(10, 1) });
    feed('outbound', { flags: TCP_ACK | TCP_PSH, seq: seqAdd(ISS0, 1), ack: seqAdd(IRS, 11), payload: bytes(10, 2) });
    log.makeDurable();
    feed('inbound', { flags: TCP_ACK, seq: seqAdd(IRS, 11), ack: seqAdd(ISS0, 11) });
    h.w.appCrashed('test');
    h.w.appListening();
    feed('outbound', { flags: TCP_SYN | TCP_ACK, seq: 5, ack: seqAdd(IRS, 1), mss: 1460 });
    await new Promise((r) => setImmediate(r));
    h.injected('outbound');
    feed('outbound', { flags: TCP_ACK | TCP_PSH, seq: 6, ack: seqAdd(IRS, 11), window: 1000, payload: bytes(10, 99) });
    const toClient = h.injected('outbound');
    expect(toClient.every((p) => p.payloadLen === 0)).toBe(true);
    expect(toClient.some((p) => p.flags & TCP_RST)).toBe(true);
    expect(h.w.counters.divergences).toBe(1);
  });
});

describe('SecondWrapper restores at once', () => {
  it('restores at most restoresAtOnce connections at a time, the next as soon as one is back', async () => {
    const restoring: boolean[] = [];
    const h = harness({ restoresAtOnce: 1, onRestoring: (on) => restoring.push(on) });
    const { feed, log } = h;
    const ports = [CPORT, CPORT + 1];
    for (const p of ports) {
      feed('inbound', { flags: TCP_SYN, seq: IRS, mss: 1460 }, p);
      feed('outbound', { flags: TCP_SYN | TCP_ACK, seq: ISS0, ack: seqAdd(IRS, 1), mss: 1460 }, p);
      log.makeDurable();
      feed('inbound', { flags: TCP_ACK | TCP_PSH, seq: seqAdd(IRS, 1), ack: seqAdd(ISS0, 1), payload: bytes(10, 1) }, p);
      feed('outbound', { flags: TCP_ACK | TCP_PSH, seq: seqAdd(ISS0, 1), ack: seqAdd(IRS, 11), payload: bytes(10, 2) }, p);
      log.makeDurable();
      feed('inbound', { flags: TCP_ACK, seq: seqAdd(IRS, 11), ack: seqAdd(ISS0, 11) }, p);
    }
    expect(restoring).toEqual([]);
    h.w.appCrashed('test');
    expect(restoring).toEqual([true]);
    h.injected('inbound');
    h.w.appListening();
    expect(h.w.restoring).toBe(true); // one restoring, one waiting
    const synsOf = (): number[] => h.injected('inbound').filter((x) => x.flags & TCP_SYN).map((x) => x.srcPort);
    expect(synsOf()).toEqual([CPORT]); // the second waits for the slot
    feed('outbound', { flags: TCP_SYN | TCP_ACK, seq: 5, ack: seqAdd(IRS, 1), mss: 1460 }, CPORT);
    await new Promise((r) => setImmediate(r)); // the replay reads the log
    expect(synsOf()).toEqual([]); // the first is still restoring
    feed('outbound', { flags: TCP_ACK, seq: 6, ack: seqAdd(IRS, 11), window: 1000 }, CPORT); // the replay is in
    expect(h.w.counters.recovered).toBe(1);
    expect(synsOf()).toEqual([CPORT + 1]); // its turn
    feed('outbound', { flags: TCP_ACK | TCP_PSH, seq: 6, ack: seqAdd(IRS, 11), window: 1000, payload: bytes(10, 2) }, CPORT);
    feed('outbound', { flags: TCP_SYN | TCP_ACK, seq: 50, ack: seqAdd(IRS, 1), mss: 1460 }, CPORT + 1);
    await new Promise((r) => setImmediate(r));
    feed('outbound', { flags: TCP_ACK, seq: 51, ack: seqAdd(IRS, 11), window: 1000 }, CPORT + 1);
    feed('outbound', { flags: TCP_ACK | TCP_PSH, seq: 51, ack: seqAdd(IRS, 11), window: 1000, payload: bytes(10, 2) }, CPORT + 1);
    expect(h.w.counters.recovered).toBe(2);
    expect(h.w.counters.divergences).toBe(0);
    // Told once when the restores began (the app's crash) and once when the last one ended.
    expect(restoring).toEqual([true, false]);
    expect(h.w.restoring).toBe(false);

    // A second crash: both restore again, from the log, one at a time.
    h.w.appCrashed('test');
    h.injected('inbound');
    h.w.appListening();
    expect(synsOf()).toEqual([CPORT]);
    feed('outbound', { flags: TCP_SYN | TCP_ACK, seq: 500, ack: seqAdd(IRS, 1), mss: 1460 }, CPORT);
    await new Promise((r) => setImmediate(r));
    const replay = h.injected('inbound').filter((x) => x.payloadLen > 0);
    expect(replay.map((x) => [x.srcPort, x.payloadLen])).toEqual([[CPORT, 10]]);
    feed('outbound', { flags: TCP_ACK, seq: 501, ack: seqAdd(IRS, 11), window: 1000 }, CPORT);
    expect(h.w.counters.recovered).toBe(3);
    expect(synsOf()).toEqual([CPORT + 1]);
    feed('outbound', { flags: TCP_SYN | TCP_ACK, seq: 900, ack: seqAdd(IRS, 1), mss: 1460 }, CPORT + 1);
    await new Promise((r) => setImmediate(r));
    expect(h.injected('inbound').filter((x) => x.payloadLen > 0).map((x) => [x.srcPort, x.payloadLen])).toEqual([[CPORT + 1, 10]]);
    feed('outbound', { flags: TCP_ACK, seq: 901, ack: seqAdd(IRS, 11), window: 1000 }, CPORT + 1);
    expect(h.w.counters.recovered).toBe(4);
  });

  it('refuses a bad FTCP_RESTORES_AT_ONCE with a message that says what to set', () => {
    expect(restoresAtOnce(undefined)).toBe(64);
    expect(restoresAtOnce('8')).toBe(8);
    expect(() => restoresAtOnce('0')).toThrow(/FTCP_RESTORES_AT_ONCE must be a whole number from 1/);
    expect(() => restoresAtOnce('many')).toThrow(/FTCP_RESTORES_AT_ONCE/);
  });
});

describe('SecondWrapper limits', () => {
  it('a connection past --max-replay-bytes is unprotected and reset cleanly at a crash', () => {
    const log = new MemoryLog();
    const sent: { dir: Direction; pkt: Buffer }[] = [];
    const w = new SecondWrapper({
      vip: Uint8Array.from([10, 77, 0, 2]),
      ports: [PORT],
      log,
      vnetHdrLen: 0,
      inject: (dir, pkt) => sent.push({ dir, pkt: Buffer.from(pkt) }),
      liveness: { isAlive: () => true },
      logger: silentLogger(),
      maxReplayBytes: 100,
      holdIntervalMs: 1_000_000,
    });
    const feed = (dir: Direction, spec: Partial<SegmentSpec> & { flags: number; seq: number }): void => {
      const inbound = dir === 'inbound';
      const pkt = buildSegment({ src: inbound ? CLIENT : VIP, dst: inbound ? VIP : CLIENT, srcPort: inbound ? CPORT : PORT, dstPort: inbound ? PORT : CPORT, window: 500, ...spec });
      w.process({ buffer: pkt, offsets: Uint32Array.of(0), lengths: Uint32Array.of(pkt.length), count: 1 }, dir, { transmit: () => undefined, transmitAll: () => undefined, send: () => undefined });
    };
    feed('inbound', { flags: TCP_SYN, seq: 1000 });
    feed('outbound', { flags: TCP_SYN | TCP_ACK, seq: 2000, ack: 1001 });
    log.makeDurable();
    feed('inbound', { flags: TCP_ACK | TCP_PSH, seq: 1001, ack: 2001, payload: bytes(150, 0) });
    // Nothing more is logged for it, so its ACKs are not held for the log (they would wait forever).
    const ack = buildSegment({ src: VIP, dst: CLIENT, srcPort: PORT, dstPort: CPORT, seq: 2001, ack: 1151, flags: TCP_ACK, window: 500 });
    let passed = false;
    w.process({ buffer: ack, offsets: Uint32Array.of(0), lengths: Uint32Array.of(ack.length), count: 1 }, 'outbound', { transmit: () => (passed = true), transmitAll: () => undefined, send: () => undefined });
    expect(passed).toBe(true);
    const seen = parsePacket(ack);
    expect(seen.ok && seen.ack).toBe(1151);
    w.appCrashed('test');
    const rst = sent.filter((s) => s.dir === 'outbound').map((s) => parsePacket(s.pkt)).filter((f) => f.ok && f.flags & TCP_RST);
    expect(rst).toHaveLength(1);
    expect(w.counters.unprotectedResets).toBe(1);
    w.close();
  });
});

describe('SecondWrapper handshakes cut by a crash', () => {
  it('a SYN-ACK still held for the log when the app dies never reaches the client', () => {
    const h = harness();
    h.feed('inbound', { flags: TCP_SYN, seq: 1000, mss: 1460 });
    expect(h.feed('outbound', { flags: TCP_SYN | TCP_ACK, seq: 2000, ack: 1001, mss: 1460 }).passed).toBe(false);
    h.alive.v = false;
    h.w.appCrashed('test');
    // The opened record becomes durable after the crash: the dead stack's SYN-ACK stays held, else
    // the client's ACK would reach a stack without the socket and draw an RST.
    h.log.makeDurable();
    expect(h.injected('outbound')).toEqual([]);
    expect(h.w.conns.byTuple(`${CLIENT}:${CPORT}>${PORT}`)).toBeUndefined();
    // Its SYN again, while the app is down: dropped (the client retries), never a reset.
    expect(h.feed('inbound', { flags: TCP_SYN, seq: 1000, mss: 1460 }).passed).toBe(false);
    h.w.close();
  });

  it('a SYN that reaches the stack as the app dies is not refused: the client retries it', () => {
    let t = 1000;
    const h = harness({ now: () => t });
    // The crash is not detected yet (no exit event): the SYN passes, the dying stack resets it.
    expect(h.feed('inbound', { flags: TCP_SYN, seq: 1000, mss: 1460 }).passed).toBe(true);
    h.alive.v = false;
    expect(h.feed('outbound', { flags: TCP_RST | TCP_ACK, seq: 0, ack: 1001 }).passed).toBe(false);
    expect(h.w.conns.byTuple(`${CLIENT}:${CPORT}>${PORT}`)).toBeUndefined();
    // With the app alive, nothing listening on the port is a refusal the client must see.
    h.alive.v = true;
    t += 5; // the wrapper looks at the app at most once per millisecond
    expect(h.feed('inbound', { flags: TCP_SYN, seq: 2000, mss: 1460 }).passed).toBe(true);
    expect(h.feed('outbound', { flags: TCP_RST | TCP_ACK, seq: 0, ack: 2001 }).passed).toBe(true);
    h.w.close();
  });
});
