// A capture over the control socket (real Unix sockets in a temp dir): the daemon's CaptureService
// hands the connection to a session on a CapturePath; the client gets the answer line, then pcapng
// until it half-closes; refusals come back as errors naming the cause.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { CapturePath } from '../../../src/capture/capture-path.js';
import { CaptureService } from '../../../src/capture/capture-session.js';
import { PcapngBlockScanner } from '../../../src/capture/pcapng-stream.js';
import type { PacketBatch } from '../../../src/tun/tun-device.js';
import { PassThroughPath, type PacketOutput } from '../../../src/relay/packet-path.js';
import { ControlError, openCaptureStream, requestStatus } from '../../../src/status/control-client.js';
import { startControlServer, type ControlServer } from '../../../src/status/control-server.js';
import { buildSegment } from '../../../src/wire/builder.js';
import { TCP_ACK } from '../../../src/wire/tcp.js';

const dir = mkdtempSync(join(tmpdir(), 'ftcp-capctl-'));
const servers: ControlServer[] = [];
afterEach(async () => {
  for (const s of servers.splice(0)) await s.close();
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const IFACES = { outer: { name: 'ft-t', description: '' }, inner: { name: 'ftcp0', description: '' } };
const nullOut: PacketOutput = { transmit: () => undefined, transmitAll: () => undefined, send: () => undefined };

function packetBatch(n: number): PacketBatch {
  const pkt = buildSegment({ src: '10.0.0.1', dst: '10.77.0.2', srcPort: 4000, dstPort: 9000, seq: 1, ack: 1, flags: TCP_ACK });
  const buffer = Buffer.concat(Array.from({ length: n }, () => pkt));
  const offsets = Uint32Array.from({ length: n }, (_, i) => i * pkt.length);
  const lengths = new Uint32Array(n).fill(pkt.length);
  return { buffer, offsets, lengths, count: n };
}

async function daemon(name: string, path: CapturePath | undefined): Promise<CaptureService> {
  const svc = new CaptureService(() => path, IFACES, name);
  servers.push(await startControlServer({ name, dir, status: () => ({ version: 1, service: { name } }), capture: (req, sock) => svc.start(req, sock) }));
  return svc;
}

function collect(sock: NodeJS.ReadableStream, first: Buffer): Promise<PcapngBlockScanner> {
  const scanner = new PcapngBlockScanner();
  scanner.push(first);
  return new Promise((resolve) => {
    sock.on('data', (c: Buffer) => scanner.push(c));
    sock.on('close', () => resolve(scanner));
    sock.resume();
  });
}

describe('capture over the control socket', () => {
  it('streams pcapng after the answer line until the client half-closes; status still works beside it', async () => {
    const path = new CapturePath(new PassThroughPath(), { vnetHdrLen: 0 });
    await daemon('cap', path);
    const stream = await openCaptureStream('cap', { side: 'both' }, { dir });
    expect(stream.started).toEqual({ capture: { side: 'both', interfaces: ['ft-t', 'ftcp0'] } });
    expect(path.capturing).toBe(true);
    const got = collect(stream.socket, stream.first);
    path.process(packetBatch(3), 'inbound', nullOut);
    expect(await requestStatus('cap', { dir })).toMatchObject({ version: 1 });
    stream.socket.end();
    const scanner = await got;
    expect(scanner.packets).toBe(6); // each packet as read (outer) and as written (inner)
    expect(scanner.endComment).toBe('capture of cap ended: the capture client stopped');
    expect(path.capturing).toBe(false);
  });

  it('ends by itself after count packets; a second capture at once is refused', async () => {
    const path = new CapturePath(new PassThroughPath(), { vnetHdrLen: 0 });
    await daemon('cnt', path);
    const stream = await openCaptureStream('cnt', { side: 'outer', count: 2 }, { dir });
    await expect(openCaptureStream('cnt', { side: 'both' }, { dir })).rejects.toThrow(/a capture of cnt is already running/);
    const got = collect(stream.socket, stream.first);
    path.process(packetBatch(5), 'inbound', nullOut);
    const scanner = await got;
    expect(scanner.packets).toBe(2);
    expect(scanner.endComment).toMatch(/ended: count reached/);
  });

  it('a client that goes away ends the capture; a daemon still starting or stopping says so', async () => {
    const path = new CapturePath(new PassThroughPath(), { vnetHdrLen: 0 });
    const svc = await daemon('gone', path);
    const stream = await openCaptureStream('gone', { side: 'inner' }, { dir });
    stream.socket.destroy();
    for (let k = 0; k < 200 && path.capturing; k++) await new Promise((r) => setTimeout(r, 10));
    expect(path.capturing).toBe(false);

    const again = await openCaptureStream('gone', { side: 'inner' }, { dir });
    const got = collect(again.socket, again.first);
    await svc.stopAll('the daemon is stopping');
    expect((await got).endComment).toBe('capture of gone ended: the daemon is stopping');

    await daemon('early', undefined);
    const err = await openCaptureStream('early', { side: 'both' }, { dir }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ControlError);
    expect((err as ControlError).message).toMatch(/still starting/);
    const none = await openCaptureStream('nosuch', { side: 'both' }, { dir }).catch((e: unknown) => e);
    expect((none as ControlError).kind).toBe('no-service');
  });
});
