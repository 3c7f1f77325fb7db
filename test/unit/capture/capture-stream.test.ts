// The capture's pcapng: packet comments and interface names as written, read back by our reader
// (and by tshark when present); a session streamed through CapturePath around a scripted packet
// path; the client-side block scanner cutting the stream at block boundaries.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { afterAll, describe, expect, it } from 'vitest';
import { CapturePath } from '../../../src/capture/capture-path.js';
import { CaptureSession } from '../../../src/capture/capture-session.js';
import { PcapngBlockScanner, PcapngStreamError } from '../../../src/capture/pcapng-stream.js';
import { enhancedPacketBlock, interfaceDescriptionBlock, interfaceStatisticsBlock, sectionHeaderBlock } from '../../../src/pcap/pcapng-writer.js';
import { readCapture, type CaptureRecord } from '../../../src/pcap/reader.js';
import type { Direction, PacketOutput, PacketPath } from '../../../src/relay/packet-path.js';
import type { PacketBatch } from '../../../src/tun/tun-device.js';
import { buildSegment } from '../../../src/wire/builder.js';
import { PacketParser } from '../../../src/wire/packet-parser.js';
import { TCP_ACK, TCP_SYN } from '../../../src/wire/tcp.js';
import type { DecisionObserver } from '../../../src/wrapper/second-wrapper.js';
import { hasTshark } from '../pcap/tshark.js';

const tmp = mkdtempSync(join(tmpdir(), 'ftcp-capunit-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

const CLIENT = '10.0.0.1';
const VIP = '10.77.0.2';
const seg = (seq: number, ack: number, flags: number, payload = 0): Buffer =>
  buildSegment({ src: CLIENT, dst: VIP, srcPort: 40000, dstPort: 9000, seq, ack, flags, window: 1000, ...(payload > 0 ? { payload: Buffer.alloc(payload, 1) } : {}) });

function batchOf(pkts: Buffer[]): PacketBatch {
  const buffer = Buffer.concat(pkts);
  const offsets = new Uint32Array(pkts.length);
  const lengths = new Uint32Array(pkts.length);
  let o = 0;
  pkts.forEach((p, i) => {
    offsets[i] = o;
    lengths[i] = p.length;
    o += p.length;
  });
  return { buffer, offsets, lengths, count: pkts.length };
}

/** Stands in for the second wrapper: stores packet 0, rewrites the ack of packet 1, holds packet 2 and answers it. */
class ScriptedWrapper implements PacketPath {
  observer: DecisionObserver | null = null;
  readonly parser = new PacketParser();
  injected: Buffer[] = [];
  setDecisionObserver(o: DecisionObserver | null): void {
    this.observer = o;
  }
  process(batch: PacketBatch, _direction: Direction, out: PacketOutput): void {
    for (let i = 0; i < batch.count; i++) {
      const st = this.parser.parse(batch.buffer, batch.offsets[i]!, batch.lengths[i]!);
      if (st !== 'ok') continue;
      const tcp = this.parser.tcp;
      if (tcp.seq === 1) {
        this.observer?.decided('stored-data', 0, tcp.payloadLen);
        out.transmit(batch, i);
      } else if (tcp.seq === 2) {
        tcp.setAck(tcp.ack - 100);
        out.transmit(batch, i);
      } else {
        this.observer?.decided('discarded-held', 0, 0);
        const ack = seg(500, 3, TCP_ACK);
        this.injected.push(ack);
        this.observer?.injected('outbound', ack, 'forged-hold-ack');
      }
    }
  }
}

class CollectingOutput implements PacketOutput {
  sent: Buffer[] = [];
  transmit(batch: PacketBatch, index: number): void {
    this.sent.push(Buffer.from(batch.buffer.subarray(batch.offsets[index]!, batch.offsets[index]! + batch.lengths[index]!)));
  }
  transmitAll(batch: PacketBatch): void {
    for (let i = 0; i < batch.count; i++) this.transmit(batch, i);
  }
  send(buffer: Buffer, offset: number, length: number): void {
    this.sent.push(Buffer.from(buffer.subarray(offset, offset + length)));
  }
}

function records(buf: Buffer): CaptureRecord[] {
  return [...readCapture(buf)].filter((r): r is CaptureRecord => !('error' in r));
}

describe('pcapng packet comments', () => {
  it('writes opt_comment (UTF-8, any length, padded) and if_name/if_description; the reader gets them back', () => {
    const comments = ['passed', 'modified seq 1→2', 'x'.repeat(1001), 'stored: client bytes 0-3 (3 B); modified ack 5→4'];
    const parts = [sectionHeaderBlock('ftcp capture t', 'section comment'), interfaceDescriptionBlock({ linkType: 101, name: 'ft-t', description: 'outer' }), interfaceDescriptionBlock({ linkType: 101, name: 'ftcp0' })];
    comments.forEach((c, i) => parts.push(enhancedPacketBlock({ interfaceId: i % 2, ts: 1_700_000_000_000_000_000n + BigInt(i), data: seg(i, 0, TCP_SYN), comment: c })));
    parts.push(interfaceStatisticsBlock({ interfaceId: 0, ts: 1_700_000_001_000_000_000n, received: 4, osDropped: 1, delivered: 3, comment: 'ended' }));
    const buf = Buffer.concat(parts);
    for (let p = 0; p < buf.length; ) {
      const len = buf.readUInt32LE(p + 4);
      expect(len % 4).toBe(0);
      expect(buf.readUInt32LE(p + len - 4)).toBe(len);
      p += len;
    }
    const recs = records(buf);
    expect(recs.map((r) => r.comments)).toEqual(comments.map((c) => [c]));
    expect(recs.map((r) => r.interfaceName)).toEqual(['ft-t', 'ftcp0', 'ft-t', 'ftcp0']);
    if (hasTshark()) {
      const file = join(tmp, 'comments.pcapng');
      writeFileSync(file, buf);
      const out = execFileSync('tshark', ['-r', file, '-T', 'fields', '-e', 'frame.interface_name', '-e', 'frame.comment'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] });
      expect(out.trim().split('\n')).toEqual(comments.map((c, i) => `${i % 2 === 0 ? 'ft-t' : 'ftcp0'}\t${c}`));
    }
  });
});

describe('CapturePath around a packet path', () => {
  it('costs nothing when no capture is attached: the batch goes through as it is', () => {
    const inner = new ScriptedWrapper();
    let seen: PacketBatch | undefined;
    const path = new CapturePath({ process: (b) => (seen = b) }, { vnetHdrLen: 0, wrapper: inner });
    const b = batchOf([seg(1, 0, TCP_ACK)]);
    path.process(b, 'inbound', new CollectingOutput());
    expect(seen).toBe(b);
    expect(inner.observer).toBeNull();
  });

  it('records each packet before and after, with the decisions; answers follow the packet; detach stops it', () => {
    const inner = new ScriptedWrapper();
    const path = new CapturePath(inner, { vnetHdrLen: 0, wrapper: inner, now: () => 1_700_000_000_000_000_000n });
    const stream = new PassThrough();
    const chunks: Buffer[] = [];
    stream.on('data', (c: Buffer) => chunks.push(c));
    const session = new CaptureSession(stream, { side: 'both' }, { outer: { name: 'ft-t', description: 'o' }, inner: { name: 'ftcp0', description: 'i' } }, 't', () => 1n);
    expect(path.attach(session)).toBe(true);
    expect(path.attach(session)).toBe(false);
    expect(inner.observer).toBe(path);
    const out = new CollectingOutput();
    path.process(batchOf([seg(1, 10, TCP_ACK, 5), seg(2, 300, TCP_ACK), seg(3, 0, TCP_ACK, 7)]), 'inbound', out);
    expect(out.sent.map((p) => p.readUInt32BE(28))).toEqual([10, 200]); // the rewrite reached the output
    session.stop('test');
    path.detach(session);
    expect(inner.observer).toBeNull();

    const all = Buffer.concat(chunks);
    const nl = all.indexOf(10);
    expect(JSON.parse(all.toString('utf8', 0, nl))).toEqual({ capture: { side: 'both', interfaces: ['ft-t', 'ftcp0'] } });
    const recs = records(all.subarray(nl + 1));
    expect(recs.map((r) => [r.interfaceName, r.comments[0]])).toEqual([
      ['ft-t', 'stored: client bytes 0-5 (5 B); passed'],
      ['ftcp0', 'stored: client bytes 0-5 (5 B); passed'],
      ['ft-t', 'modified ack 300→200'],
      ['ftcp0', 'modified ack 300→200'],
      ['ft-t', expect.stringMatching(/^discarded: the app is down/)],
      ['ft-t', 'forged: zero-window hold ACK at the durable point (the app is down)'],
    ]);
    // As read and as written: the ack differs between the two copies of packet 1.
    expect(recs[2]!.data.readUInt32BE(28)).toBe(300);
    expect(recs[3]!.data.readUInt32BE(28)).toBe(200);

    const scanner = new PcapngBlockScanner();
    const body = all.subarray(nl + 1);
    let whole = 0;
    for (let p = 0; p < body.length; p += 7) whole += scanner.push(body.subarray(p, p + 7)).length;
    expect(whole).toBe(body.length);
    expect(scanner.packets).toBe(6);
    expect(scanner.partialBytes).toBe(0);
    expect(scanner.endComment).toBe('capture of t ended: test');
    expect(scanner.decisionSummary()).toBe('stored 2, discarded 1, modified 2, forged 1');
  });

  it('--side outer keeps only the outer TUN; a slow reader loses packets (counted), never blocks the path', () => {
    const inner = new ScriptedWrapper();
    const path = new CapturePath(inner, { vnetHdrLen: 0, wrapper: inner });
    const stream = new PassThrough({ highWaterMark: 1 }); // nobody reads
    const session = new CaptureSession(stream, { side: 'outer' }, { outer: { name: 'ft-t', description: '' }, inner: { name: 'ftcp0', description: '' } }, 't', () => 1n, 2000);
    path.attach(session);
    for (let k = 0; k < 50; k++) path.process(batchOf([seg(2, 300, TCP_ACK)]), 'inbound', new CollectingOutput());
    expect(session.packets).toBeGreaterThan(0);
    expect(session.packets).toBeLessThan(50);
    expect(session.dropped).toBe(50 - session.packets);
  });
});

describe('PcapngBlockScanner', () => {
  it('holds back an incomplete block and rejects a corrupt stream', () => {
    const s = new PcapngBlockScanner();
    const blk = enhancedPacketBlock({ interfaceId: 0, ts: 1n, data: seg(1, 0, TCP_SYN), comment: 'passed' });
    expect(s.push(blk.subarray(0, 10)).length).toBe(0);
    expect(s.partialBytes).toBe(10);
    expect(s.push(blk.subarray(10)).length).toBe(blk.length);
    expect(s.packets).toBe(1);
    const bad = Buffer.alloc(12);
    bad.writeUInt32LE(6, 0);
    bad.writeUInt32LE(13, 4);
    expect(() => new PcapngBlockScanner().push(bad)).toThrow(PcapngStreamError);
  });
});
