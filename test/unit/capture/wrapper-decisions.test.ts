// The real SecondWrapper (synthetic segments, in-memory log) behind a CapturePath: the comments it
// produces for a handshake, output commit, a crash and the start of a restore.
import { describe, expect, it } from 'vitest';
import { CapturePath, type CaptureSide, type CaptureSink } from '../../../src/capture/capture-path.js';
import type { Direction, PacketOutput } from '../../../src/relay/packet-path.js';
import { buildSegment, type SegmentSpec } from '../../../src/wire/builder.js';
import { TCP_ACK, TCP_PSH, TCP_SYN } from '../../../src/wire/tcp.js';
import { CLIENT, CPORT, PORT, VIP, bytes, harness } from '../wrapper/wrapper-harness.js';

class MemorySink implements CaptureSink {
  rows: Array<[CaptureSide, string]> = [];
  wants(): boolean {
    return true;
  }
  record(side: CaptureSide, _ts: bigint, _data: Uint8Array, comment: string): void {
    this.rows.push([side, comment]);
  }
  take(): Array<[CaptureSide, string]> {
    return this.rows.splice(0);
  }
}

describe('decisions of the second wrapper as capture comments', () => {
  it('handshake, stored bytes, a held ACK, a crash, the forged restore handshake', async () => {
    let t = 1000;
    const h = harness({ now: () => t });
    const path = new CapturePath(h.w, { vnetHdrLen: 0, wrapper: h.w });
    const sink = new MemorySink();
    path.attach(sink);
    const out: PacketOutput = { transmit: () => undefined, transmitAll: () => undefined, send: () => undefined };
    const feed = (dir: Direction, spec: Partial<SegmentSpec> & { flags: number; seq: number }): void => {
      const inbound = dir === 'inbound';
      const pkt = buildSegment({ src: inbound ? CLIENT : VIP, dst: inbound ? VIP : CLIENT, srcPort: inbound ? CPORT : PORT, dstPort: inbound ? PORT : CPORT, window: 500, ...spec });
      path.process({ buffer: pkt, offsets: Uint32Array.of(0), lengths: Uint32Array.of(pkt.length), count: 1 }, dir, out);
    };

    feed('inbound', { flags: TCP_SYN, seq: 100 });
    expect(sink.take()).toEqual([['outer', 'passed'], ['inner', 'passed']]);
    feed('outbound', { flags: TCP_SYN | TCP_ACK, seq: 5000, ack: 101 });
    expect(sink.take()).toEqual([['inner', 'stored: the connection record (handshake parameters); delayed: SYN-ACK held until the connection record is durable']]);
    h.log.makeDurable();
    expect(sink.take()).toEqual([['outer', 'released: SYN-ACK held until the connection record was durable']]);

    feed('inbound', { flags: TCP_ACK | TCP_PSH, seq: 101, ack: 5001, payload: bytes(10, 1) });
    expect(sink.take()).toEqual([
      ['outer', 'stored: client bytes 0-10 (10 B); passed'],
      ['inner', 'stored: client bytes 0-10 (10 B); passed'],
    ]);
    feed('outbound', { flags: TCP_ACK, seq: 5001, ack: 111 });
    expect(sink.take()).toEqual([['inner', 'delayed: pure ACK held, it would acknowledge client bytes not yet durable (stack ack at client offset 10, durable 0)']]);
    h.log.makeDurable();
    expect(sink.take()).toEqual([['outer', 'forged: synthesized ACK, client bytes became durable']]);

    h.w.appCrashed('test');
    expect(sink.take().map(([s, c]) => [s, c.split(' (')[0]])).toEqual([
      ['inner', "forged: RST purging the dead app's socket"],
      ['outer', 'forged: zero-window hold ACK at the durable point'],
    ]);
    t += 60;
    feed('inbound', { flags: TCP_ACK | TCP_PSH, seq: 111, ack: 5001, payload: bytes(5, 2) });
    const held = sink.take();
    // New bytes: their hold ACK comes when they are durable.
    expect(held.map(([s, c]) => [s, c.split(';')[0]])).toEqual([['outer', 'stored: client bytes 10-15 (5 B)']]);
    expect(held[0]![1]).toMatch(/^stored: client bytes 10-15 \(5 B\); discarded: the app is down, the client is held/);
    feed('outbound', { flags: TCP_ACK | TCP_PSH, seq: 5001, ack: 111, payload: bytes(3, 3) });
    expect(sink.take()).toEqual([['inner', "discarded: output of the crashed app's stack"]]);

    h.log.makeDurable();
    expect(sink.take().map(([s, c]) => [s, c.split(' (')[0]])).toEqual([['outer', 'forged: zero-window hold ACK at the durable point']]);
    // A pure ACK right after that hold ACK is not answered (it said it all); 50 ms later it is.
    feed('inbound', { flags: TCP_ACK, seq: 116, ack: 5001 });
    expect(sink.take().filter(([, c]) => c.startsWith('forged'))).toEqual([]);
    t += 60;
    feed('inbound', { flags: TCP_ACK, seq: 116, ack: 5001 });
    expect(sink.take().filter(([, c]) => c.startsWith('forged')).map(([s, c]) => [s, c.split(' (')[0]])).toEqual([['outer', 'forged: zero-window hold ACK at the durable point']]);
    h.w.appListening();
    const restore = sink.take().map(([s, c]) => [s, c.split(' (')[0]]);
    expect(restore).toContainEqual(['inner', "forged: SYN from the client's address to the restarted stack"]);
    feed('outbound', { flags: TCP_SYN | TCP_ACK, seq: 9000, ack: 101 });
    const handshake = sink.take();
    expect(handshake[0]).toEqual(['inner', "discarded: the restarted stack's SYN-ACK (restore handshake, never sent to the client)"]);
    expect(handshake[1]).toEqual(['inner', 'forged: ACK completing the restore handshake']);
    path.detach(sink);
    h.w.close();
  });
});
