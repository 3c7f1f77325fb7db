// Adoption: a daemon that starts with connections open in the log (its own crash, or a host taken
// over) rebuilds them from their records, probes each client, learns from its answer how much of
// the server stream it has and the last TSval it saw, and restores the connection once the app
// listens — the new wrapper never saw a packet of the connection before.
import { describe, expect, it, vi } from 'vitest';
import type { Record as LogRecord } from '../../../src/log/gen/ftcp/v1/log.js';
import { seqAdd } from '../../../src/wire/seq.js';
import { TCP_ACK, TCP_PSH, TCP_RST, TCP_SYN } from '../../../src/wire/tcp.js';
import { AdoptionFold, collectAdoptable, mergePieces } from '../../../src/wrapper/adopt.js';
import { nudgesFor } from '../../../src/wrapper/second-wrapper.js';
import { bytes, CLIENT, CPORT, harness, PORT, VIP, type Harness } from './wrapper-harness.js';

const IRS = 0xfffffff0; // the client stream crosses 2^32
const ISS0 = 0x7ffffff0;
const ISSK = 1234;
const REQ = bytes(300, 1);
const RESP = bytes(5000, 3);
const TS0 = 1000; // the server's TSval at the handshake

/** On wrapper A: a connection that carried REQ and RESP (all acked by the client). */
function carry(h: Harness, cport = CPORT): void {
  h.feed('inbound', { flags: TCP_SYN, seq: IRS, mss: 1460, timestamps: { tsval: 50, tsecr: 0 } }, cport);
  h.feed('outbound', { flags: TCP_SYN | TCP_ACK, seq: ISS0, ack: seqAdd(IRS, 1), mss: 1460, timestamps: { tsval: TS0, tsecr: 50 } }, cport);
  h.log.makeDurable();
  h.feed('inbound', { flags: TCP_ACK | TCP_PSH, seq: seqAdd(IRS, 1), ack: seqAdd(ISS0, 1), payload: REQ, timestamps: { tsval: 60, tsecr: TS0 } }, cport);
  h.log.makeDurable();
  h.feed('outbound', { flags: TCP_ACK | TCP_PSH, seq: seqAdd(ISS0, 1), ack: seqAdd(IRS, 301), payload: RESP, timestamps: { tsval: TS0 + 500, tsecr: 60 } }, cport);
  h.feed('inbound', { flags: TCP_ACK, seq: seqAdd(IRS, 301), ack: seqAdd(ISS0, 5001), timestamps: { tsval: 70, tsecr: TS0 + 500 } }, cport);
  h.log.makeDurable();
}

async function adoptInto(records: LogRecord[], extra: Parameters<typeof harness>[0] = {}): Promise<Harness> {
  const b = harness(extra);
  b.log.records = records.map((r) => structuredClone(r));
  b.log.makeDurable();
  b.w.adopt(await collectAdoptable(b.log.records));
  return b;
}

describe('collectAdoptable', () => {
  it('keeps connections with an opened record and no closed one, with their client stream and FIN', async () => {
    const opened = (id: string): LogRecord => ({
      connId: id,
      kind: { $case: 'opened', value: { ipVersion: 4, client: { addr: Buffer.from([10, 0, 0, 1]), port: 5 }, server: { addr: Buffer.from([10, 0, 0, 2]), port: 80 }, irs: 1, iss0: 2, options: undefined, clientWindow: 100 } },
    });
    const data = (id: string, offset: number, n: number): LogRecord => ({ connId: id, kind: { $case: 'clientData', value: { offset, data: new Uint8Array(n) } } });
    const recs: LogRecord[] = [
      opened('10.0.0.1:5>80/1'),
      data('10.0.0.1:5>80/1', 0, 10),
      data('10.0.0.1:5>80/1', 20, 5),
      data('10.0.0.1:5>80/1', 10, 10),
      { connId: '10.0.0.1:5>80/1', kind: { $case: 'clientFin', value: { offset: 25 } } },
      opened('10.0.0.1:6>80/7'),
      { connId: '10.0.0.1:6>80/7', kind: { $case: 'closed', value: { reason: 1 } } },
      { connId: '10.0.0.1:5>80#1', kind: { $case: 'shimAccept', value: { acceptOrder: 1, globalOrder: 1 } } },
    ];
    const found = await collectAdoptable(recs, { service: 's', epoch: 0, lsn: 1, state: new Uint8Array(), positions: [{ connId: '10.0.0.1:5>80#1', clientOffset: 4, serverOffset: 9 }], createdUnixMs: 0 });
    expect(found).toHaveLength(1);
    expect(found[0]).toMatchObject({ id: '10.0.0.1:5>80/1', clientStart: 4, serverStart: 9, pieces: [[4, 25]], finOff: 25 });
  });

  it('merges pieces and cuts them at the start offset', () => {
    expect(mergePieces([[10, 20], [0, 5], [5, 8], [30, 40], [15, 25]], 3)).toEqual([[3, 8], [10, 25], [30, 40]]);
  });
});

describe('SecondWrapper.adopt', () => {
  it('holds the client, learns from its answer to a probe, and restores into the new stack', async () => {
    const a = harness();
    carry(a);
    a.w.close();

    const b = await adoptInto(a.log.records);
    expect(b.w.counters.adopted).toBe(1);
    expect(b.w.appDown).toBe(true);

    // The probe: zero window, ack at the durable point, seq one below anything the client expects.
    b.w.probeHeld();
    const probe = b.injected('outbound');
    expect(probe).toHaveLength(1);
    expect(probe[0]).toMatchObject({ flags: TCP_ACK, ack: seqAdd(IRS, 301), window: 0, seq: seqAdd(ISS0, 0), payloadLen: 1 });

    // The client answers where it stands: it has the 5000 bytes, and saw TSval TS0 + 500 last.
    const ans = b.feed('inbound', { flags: TCP_ACK, seq: seqAdd(IRS, 301), ack: seqAdd(ISS0, 5001), timestamps: { tsval: 90, tsecr: TS0 + 500 } });
    expect(ans.passed).toBe(false);
    expect(b.w.counters.adoptedLearned).toBe(1);
    expect(b.injected('outbound')).toHaveLength(0); // the probe just said it all
    b.w.probeHeld();
    const hold = b.injected('outbound');
    expect(hold.at(-1)).toMatchObject({ seq: seqAdd(ISS0, 5001), ack: seqAdd(IRS, 301), window: 0 });
    expect(hold.at(-1)!.tsval! - (TS0 + 500)).toBeGreaterThanOrEqual(0);

    // The app listens: forged SYN with the client's ISN, replay of REQ.
    b.w.appListening();
    const syn = b.injected('inbound').filter((p) => p.flags & TCP_SYN);
    expect(syn.map((p) => p.seq)).toEqual([IRS]);
    b.feed('outbound', { flags: TCP_SYN | TCP_ACK, seq: ISSK, ack: seqAdd(IRS, 1), mss: 1460, timestamps: { tsval: 7, tsecr: 90 } });
    await new Promise((r) => setImmediate(r));
    const replay = b.injected('inbound').filter((p) => p.payloadLen > 0);
    expect(replay.map((p) => [p.seq, p.payloadLen])).toEqual([[seqAdd(IRS, 1), 300]]);

    // The stack regenerates RESP (the client has it): the daemon acks it, nothing reaches the client.
    b.feed('outbound', { flags: TCP_ACK, seq: ISSK + 1, ack: seqAdd(IRS, 301), window: 4000, timestamps: { tsval: 8, tsecr: 90 } });
    b.feed('outbound', { flags: TCP_ACK | TCP_PSH, seq: ISSK + 1, ack: seqAdd(IRS, 301), window: 4000, payload: RESP, timestamps: { tsval: 9, tsecr: 90 } });
    expect(b.injected('inbound').some((p) => p.flags === TCP_ACK && p.ack === ISSK + 5001)).toBe(true);
    expect(b.injected('outbound').every((p) => p.payloadLen === 0)).toBe(true);
    expect(b.w.counters.recovered).toBe(1);
    expect(b.w.appDown).toBe(false);

    // New output continues the client's view: seq and a TSval above what it saw.
    const more = b.feed('outbound', { flags: TCP_ACK | TCP_PSH, seq: ISSK + 5001, ack: seqAdd(IRS, 301), window: 4000, payload: bytes(10, 4), timestamps: { tsval: 10, tsecr: 90 } });
    expect(more.passed).toBe(true);
    expect(more.facts.seq).toBe(seqAdd(ISS0, 5001));
    expect(more.facts.tsval! - (TS0 + 500)).toBeGreaterThan(0);
    b.w.close();
  });

  it('logs what the client sends while held (its retransmissions of bytes lost with the old host) and replays it', async () => {
    const a = harness();
    carry(a);
    a.w.close();
    const b = await adoptInto(a.log.records);
    const more = bytes(200, 9);
    // The client's answer carries 200 bytes it had sent to the dead host.
    b.feed('inbound', { flags: TCP_ACK | TCP_PSH, seq: seqAdd(IRS, 301), ack: seqAdd(ISS0, 5001), payload: more, timestamps: { tsval: 90, tsecr: TS0 + 500 } });
    expect(b.log.records.at(-1)).toMatchObject({ kind: { $case: 'clientData', value: { offset: 300 } } });
    b.log.makeDurable();
    expect(b.injected('outbound').at(-1)).toMatchObject({ ack: seqAdd(IRS, 501), window: 0 });
    b.w.appListening();
    b.feed('outbound', { flags: TCP_SYN | TCP_ACK, seq: ISSK, ack: seqAdd(IRS, 1), mss: 1460, timestamps: { tsval: 7, tsecr: 90 } });
    await new Promise((r) => setImmediate(r));
    const replay = b.injected('inbound').filter((p) => p.payloadLen > 0);
    expect(replay.map((p) => [p.seq, p.payloadLen])).toEqual([
      [seqAdd(IRS, 1), 300],
      [seqAdd(IRS, 301), 200],
    ]);
    b.w.close();
  });

  it('restores a connection whose client answers only after the app listens', async () => {
    const a = harness();
    carry(a);
    a.w.close();
    const b = await adoptInto(a.log.records);
    b.w.appListening();
    expect(b.injected('inbound').filter((p) => p.flags & TCP_SYN)).toHaveLength(0);
    b.feed('inbound', { flags: TCP_ACK, seq: seqAdd(IRS, 301), ack: seqAdd(ISS0, 5001), timestamps: { tsval: 90, tsecr: TS0 + 500 } });
    expect(b.injected('inbound').filter((p) => p.flags & TCP_SYN).map((p) => p.seq)).toEqual([IRS]);
    b.w.close();
  });

  it("reads the replay of clients that answer after the app listens in the restores' one pass, not a read each", async () => {
    for (const answerWhile of ['pass under way', 'pass done'] as const) {
      const a = harness();
      carry(a);
      carry(a, CPORT + 1);
      a.w.close();
      const b = await adoptInto(a.log.records);
      const read = b.log.readClientStream.bind(b.log);
      const own = vi.fn(read);
      const passes = vi.fn();
      const records = b.log.records;
      b.log.readAllClientStreams = async function* () {
        passes();
        for (const connId of new Set(records.map((r) => r.connId))) {
          const batch = [];
          for await (const item of read(connId, 0)) batch.push({ connId, item });
          yield batch;
        }
      };
      b.log.readClientStream = own;
      b.w.appListening();
      if (answerWhile === 'pass done') await new Promise((r) => setImmediate(r));
      for (const cport of [CPORT, CPORT + 1]) {
        b.feed('inbound', { flags: TCP_ACK, seq: seqAdd(IRS, 301), ack: seqAdd(ISS0, 5001), timestamps: { tsval: 90, tsecr: TS0 + 500 } }, cport);
        b.feed('outbound', { flags: TCP_SYN | TCP_ACK, seq: ISSK, ack: seqAdd(IRS, 1), mss: 1460, timestamps: { tsval: 7, tsecr: 90 } }, cport);
      }
      await new Promise((r) => setImmediate(r));
      const replay = b.injected('inbound').filter((p) => p.payloadLen > 0);
      expect(replay.map((p) => [p.dstPort, p.srcPort, p.seq, p.payloadLen]), answerWhile).toEqual([
        [PORT, CPORT, seqAdd(IRS, 1), 300],
        [PORT, CPORT + 1, seqAdd(IRS, 1), 300],
      ]);
      expect(passes, answerWhile).toHaveBeenCalledTimes(1);
      expect(own, answerWhile).not.toHaveBeenCalled();
      b.w.close();
    }
  });

  it('drops a connection whose client answers with a reset (it is gone)', async () => {
    const a = harness();
    carry(a);
    a.w.close();
    const b = await adoptInto(a.log.records);
    b.feed('inbound', { flags: TCP_RST, seq: seqAdd(IRS, 301) });
    expect(b.w.counters.adoptedDropped).toBe(1);
    expect(b.log.records.at(-1)?.kind?.$case).toBe('closed');
    b.w.close();
  });

  it('adopts nothing from a log whose connections were closed at a stop on purpose', async () => {
    const a = harness();
    carry(a);
    a.w.logShutdownCloses();
    a.w.close();
    const b = await adoptInto(a.log.records);
    expect(b.w.counters.adopted).toBe(0);
    expect(b.w.appDown).toBe(false);
    b.w.close();
  });

  it('a SYN-ACK slower than the replay timeout still gets the replay from the stream start', async () => {
    vi.useFakeTimers();
    try {
      let t = 0;
      const a = harness();
      carry(a);
      a.w.close();
      const b = harness({ now: () => t, holdIntervalMs: 100 });
      b.log.records = a.log.records.map((r) => structuredClone(r));
      b.log.makeDurable();
      b.w.adopt(await collectAdoptable(b.log.records));
      b.feed('inbound', { flags: TCP_ACK, seq: seqAdd(IRS, 301), ack: seqAdd(ISS0, 5001), timestamps: { tsval: 90, tsecr: TS0 + 500 } });
      b.w.appListening();
      t += 450; // the new stack is slow to answer the forged SYN (past REPLAY_RTO_MS)
      vi.advanceTimersByTime(100);
      b.injected('inbound');
      b.feed('outbound', { flags: TCP_SYN | TCP_ACK, seq: ISSK, ack: seqAdd(IRS, 1), mss: 1460, timestamps: { tsval: 7, tsecr: 90 } });
      await vi.advanceTimersByTimeAsync(0);
      const replay = b.injected('inbound').filter((p) => p.payloadLen > 0);
      expect(replay.map((p) => [p.seq, p.payloadLen])).toEqual([[seqAdd(IRS, 1), 300]]);
      expect(b.w.counters.adoptedDropped).toBe(0);
      b.w.close();
    } finally {
      vi.useRealTimers();
    }
  });

  it('with icmpNudge, a client whose answer shows bytes in flight gets ICMP unreachable errors about the oldest', async () => {
    const a = harness();
    carry(a);
    a.w.close();
    // An idle client (its answer's seq is the durable point): no error.
    const idle = await adoptInto(a.log.records, { icmpNudge: true });
    idle.w.probeHeld(1200);
    expect(idle.injectedRaw('outbound')).toHaveLength(1); // the probe
    idle.feed('inbound', { flags: TCP_ACK, seq: seqAdd(IRS, 301), ack: seqAdd(ISS0, 5001), timestamps: { tsval: 90, tsecr: TS0 + 500 } });
    expect(idle.injectedRaw('outbound')).toHaveLength(0);
    expect(idle.w.counters.clientNudges).toBe(0);
    idle.w.close();

    let t = 5000;
    const b = await adoptInto(a.log.records, { icmpNudge: true, now: () => t });
    b.w.probeHeld(1200); // a takeover 1.2 s after the old host's last renewal
    expect(b.injectedRaw('outbound')).toHaveLength(1);
    // Its answer's seq is one byte past the durable point: that byte is in flight, lost with the old host.
    b.feed('inbound', { flags: TCP_ACK, seq: seqAdd(IRS, 302), ack: seqAdd(ISS0, 5001), timestamps: { tsval: 90, tsecr: TS0 + 500 } });
    const out = b.injectedRaw('outbound');
    expect(out).toHaveLength(4);
    expect(b.w.counters.clientNudges).toBe(4);
    for (const p of out) {
      expect(p[9]).toBe(1); // ICMP
      expect(`${p[12]}.${p[13]}.${p[14]}.${p[15]}`).toBe(VIP);
      expect(`${p[16]}.${p[17]}.${p[18]}.${p[19]}`).toBe(CLIENT);
      expect([p[20], p[21]]).toEqual([3, 1]); // host unreachable
      // The quoted segment: client → VIP, its ports, seq = the durable point the probe acknowledged.
      expect(`${p[40]}.${p[41]}.${p[42]}.${p[43]}`).toBe(CLIENT);
      expect(`${p[44]}.${p[45]}.${p[46]}.${p[47]}`).toBe(VIP);
      expect([p.readUInt16BE(48), p.readUInt16BE(50), p.readUInt32BE(52)]).toEqual([CPORT, PORT, seqAdd(IRS, 301)]);
    }

    // It resends the byte: logged, acknowledged once durable; resent again at once, not answered;
    // later it is.
    const resend = { flags: TCP_ACK | TCP_PSH, seq: seqAdd(IRS, 301), ack: seqAdd(ISS0, 5001), payload: Buffer.from('y'), timestamps: { tsval: 91, tsecr: TS0 + 500 } };
    b.feed('inbound', resend);
    expect(b.injected('outbound')).toHaveLength(0);
    b.log.makeDurable();
    expect(b.injected('outbound').map((p) => [p.ack, p.window])).toEqual([[seqAdd(IRS, 302), 0]]);
    b.feed('inbound', resend);
    expect(b.injected('outbound')).toHaveLength(0);
    t += 60;
    b.feed('inbound', resend);
    expect(b.injected('outbound')).toHaveLength(1);
  });

  it('probes a still-silent client again soon (its answer to the first probe may have gone to the old host)', async () => {
    const a = harness();
    carry(a);
    a.w.close();
    const b = await adoptInto(a.log.records);
    b.w.probeHeld(1000);
    expect(b.injected('outbound')).toHaveLength(1);
    await new Promise((r) => setTimeout(r, 40));
    const again = b.injected('outbound');
    expect(again).toHaveLength(1);
    expect(again[0]).toMatchObject({ window: 0, payloadLen: 1 }); // the learning probe again
    // Answered now: the later re-probe finds nothing to ask.
    b.feed('inbound', { flags: TCP_ACK, seq: seqAdd(IRS, 301), ack: seqAdd(ISS0, 5001), timestamps: { tsval: 90, tsecr: TS0 + 500 } });
    b.injected('outbound');
    await new Promise((r) => setTimeout(r, 220));
    expect(b.injected('outbound')).toHaveLength(0);
    b.w.close();
  });

  it('does not answer the answer to a probe, even one that comes late (a busy takeover)', async () => {
    const a = harness();
    carry(a);
    a.w.close();
    const b = await adoptInto(a.log.records);
    b.w.probeHeld(1000);
    await new Promise((r) => setTimeout(r, 60)); // past the re-probe and the 50 ms no-repeat window
    expect(b.injected('outbound')).toHaveLength(2); // the probe and the re-probe
    b.feed('inbound', { flags: TCP_ACK, seq: seqAdd(IRS, 301), ack: seqAdd(ISS0, 5001), timestamps: { tsval: 90, tsecr: TS0 + 500 } });
    expect(b.w.counters.adoptedLearned).toBe(1);
    expect(b.injected('outbound')).toHaveLength(0); // the probe was the hold ACK
    // A later bare segment from the client (e.g. its window probe) is answered as before.
    await new Promise((r) => setTimeout(r, 60));
    b.feed('inbound', { flags: TCP_ACK, seq: seqAdd(IRS, 301), ack: seqAdd(ISS0, 5001), timestamps: { tsval: 91, tsecr: TS0 + 500 } });
    expect(b.injected('outbound')).toHaveLength(1);
    b.w.close();
  });

  it('re-probes only once the answers have stopped coming in (the relay is still reading them)', async () => {
    const a = harness();
    carry(a);
    carry(a, CPORT + 1);
    a.w.close();
    vi.useFakeTimers();
    try {
      let t = 0;
      const b = harness({ now: () => t });
      b.log.records = a.log.records.map((r) => structuredClone(r));
      b.log.makeDurable();
      b.w.adopt(await collectAdoptable(b.log.records));
      expect(b.w.counters.adopted).toBe(2);
      b.w.probeHeld(1000);
      expect(b.injected('outbound')).toHaveLength(2);
      const step = (ms: number): void => {
        t += ms;
        vi.advanceTimersByTime(ms);
      };
      step(12);
      // One client's answer comes in just before the re-probe is due: the other's may be queued.
      b.feed('inbound', { flags: TCP_ACK, seq: seqAdd(IRS, 301), ack: seqAdd(ISS0, 5001), timestamps: { tsval: 90, tsecr: TS0 + 500 } });
      step(10); // the 20 ms re-probe is due, but an answer came 10 ms ago
      expect(b.injected('outbound')).toHaveLength(0);
      step(10); // 20 ms without an answer: the silent one is asked again, only it
      const again = b.injected('outbound');
      expect(again).toHaveLength(1);
      expect(again[0]).toMatchObject({ window: 0, payloadLen: 1, dstPort: CPORT + 1 });
      b.w.close();
    } finally {
      vi.useRealTimers();
    }
  });

  it('sends as many errors as the outage can have caused backoff steps, 2 to 8', () => {
    expect(nudgesFor(undefined)).toBe(8);
    expect(nudgesFor(0)).toBe(2);
    expect(nudgesFor(200)).toBe(2); // one step (0.2 s) + 1
    expect(nudgesFor(1000)).toBe(4); // 0.2 + 0.4 (+0.8 not yet): ceil(log2(6)) = 3, + 1
    expect(nudgesFor(1500)).toBe(5);
    expect(nudgesFor(3000)).toBe(5);
    expect(nudgesFor(60_000)).toBe(8);
  });
});

describe('AdoptionFold (a hot standby folds records as they come)', () => {
  const id = '10.0.0.1:5000>80/7';
  const opened: LogRecord = { connId: id, kind: { $case: 'opened', value: { client: { addr: new Uint8Array([10, 0, 0, 1]), port: 5000 }, server: { addr: new Uint8Array([10, 0, 0, 2]), port: 80 }, irs: 7, iss0: 9, options: undefined, clientWindow: 100, ipVersion: 0 } } as unknown as LogRecord['kind'] };
  const data = (offset: number, n: number): LogRecord => ({ connId: id, kind: { $case: 'clientData', value: { offset, data: new Uint8Array(n) } } });
  it('gives what collectAdoptable gives over the same records, whatever the order of the pieces, and twice changes nothing', async () => {
    const recs = [opened, data(0, 10), data(10, 5), data(30, 5), data(15, 15), data(0, 10), data(40, 2)];
    const fold = new AdoptionFold();
    for (const r of [...recs, ...recs]) fold.add(r);
    const want = await collectAdoptable(recs);
    expect(fold.result()).toEqual(want);
    expect(want[0]!.pieces).toEqual([[0, 35], [40, 42]]);
  });
  it('forgets a closed connection, and never adopts one without its opened record', () => {
    const fold = new AdoptionFold();
    fold.add(data(0, 3));
    expect(fold.result()).toEqual([]);
    fold.add(opened);
    expect(fold.result()).toHaveLength(1);
    fold.add({ connId: id, kind: { $case: 'closed', value: { reason: 0 } } } as LogRecord);
    expect(fold.result()).toEqual([]);
    expect(fold.size).toBe(0);
  });
});
