import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { crc32c, portableCrc32c } from '../../../src/log/crc32c.js';
import { encodeFrames, validPrefix } from '../../../src/log/frame.js';
import { checkListenSecurity, isLoopback, parseListen } from '../../../src/log/listen.js';
import { Kind, decodeRecord } from '../../../src/log/record-meta.js';
import { isLive } from '../../../src/log/retention.js';
import { Record } from '../../../src/log/gen/ftcp/v1/log.js';
import { decodeStored, encodeIds, encodeStoredBatch } from '../../../src/log/stored-record.js';

describe('crc32c', () => {
  it('matches the standard check value, native and portable alike', () => {
    const v = Buffer.from('123456789');
    expect(crc32c.crc32c(v)).toBe(0xe3069283);
    expect(portableCrc32c.crc32c(v)).toBe(0xe3069283);
  });
  it('native and portable agree on random input and chaining', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 300 }), fc.nat(300), (bytes, cut) => {
        const k = Math.min(cut, bytes.length);
        const whole = portableCrc32c.crc32c(bytes);
        expect(crc32c.crc32c(bytes)).toBe(whole);
        expect(crc32c.crc32c(bytes.subarray(k), crc32c.crc32c(bytes.subarray(0, k)))).toBe(whole);
      }),
    );
  });
  it('frames seal and scan the same in both implementations; any flipped bit is caught', () => {
    fc.assert(
      fc.property(fc.array(fc.uint8Array({ maxLength: 64 }), { minLength: 1, maxLength: 8 }), fc.nat(), (payloads, flip) => {
        const { buf } = encodeFrames(payloads);
        expect(portableCrc32c.scanFrames(buf, 0, 1 << 20)).toBe(buf.length);
        expect(validPrefix(buf, 0)).toBe(buf.length);
        const bit = flip % (buf.length * 8);
        buf[bit >> 3] = buf[bit >> 3]! ^ (1 << (bit & 7));
        expect(validPrefix(buf, 0)).toBeLessThan(buf.length);
        expect(portableCrc32c.scanFrames(buf, 0, 1 << 20)).toBe(validPrefix(buf, 0));
      }),
    );
  });
});

describe('stored record body', () => {
  it('round-trips header, ids and record bytes', () => {
    const rec = Buffer.from([1, 2, 3]);
    const { buf, bodies, lens } = encodeStoredBatch([
      { lsn: 2 ** 40 + 5, epoch: 7, seq: 2 ** 33, ids: encodeIds('svc-é', 'stream'), record: rec },
    ]);
    const d = decodeStored(buf.subarray(bodies[0]!, bodies[0]! + lens[0]!));
    expect(d).toMatchObject({ lsn: 2 ** 40 + 5, epoch: 7, seq: 2 ** 33, service: 'svc-é', streamId: 'stream' });
    expect([...d.record]).toEqual([1, 2, 3]);
  });
});

describe('listen addresses', () => {
  it('parses unix, IPv4 and IPv6 forms and rejects junk', () => {
    expect(parseListen('unix:/run/x.sock')).toEqual({ kind: 'unix', path: '/run/x.sock' });
    expect(parseListen('127.0.0.1:7000')).toEqual({ kind: 'tcp', host: '127.0.0.1', port: 7000 });
    expect(parseListen('[::1]:0')).toEqual({ kind: 'tcp', host: '::1', port: 0 });
    expect(() => parseListen('unix:rel.sock')).toThrow(/absolute/);
    expect(() => parseListen('nohost')).toThrow(/HOST:PORT/);
    expect(() => parseListen('1.2.3.4:70000')).toThrow(/port/);
  });
  it('requires TLS or a token off loopback', () => {
    expect(isLoopback('127.0.0.5')).toBe(true);
    expect(isLoopback('::1')).toBe(true);
    expect(isLoopback('10.0.0.1')).toBe(false);
    const open = [parseListen('0.0.0.0:7000')];
    expect(() => checkListenSecurity(open, { tls: false, token: false })).toThrow(/tls-cert/);
    expect(() => checkListenSecurity(open, { tls: true, token: false })).not.toThrow();
    expect(() => checkListenSecurity(open, { tls: false, token: true })).not.toThrow();
    expect(() => checkListenSecurity([parseListen('127.0.0.1:1')], { tls: false, token: false })).not.toThrow();
  });
});

describe('record validation', () => {
  const enc = (r: Record) => Buffer.from(Record.encode(r).finish());
  it('rejects records without kind or conn id, and undecodable bytes', () => {
    expect(() => decodeRecord(enc({ connId: 'a', kind: undefined }))).toThrow(/no known record kind/);
    expect(() => decodeRecord(enc({ connId: '', kind: { $case: 'clientFin', value: { offset: 3 } } }))).toThrow(/conn_id/);
    expect(() => decodeRecord(Buffer.from([0x0a, 0xff]))).toThrow(/not a valid/);
    expect(() => decodeRecord(Buffer.alloc(16 * 1024 * 1024 + 1))).toThrow(/more than the/);
    expect(decodeRecord(enc({ connId: 'a', kind: { $case: 'clientData', value: { offset: 5, data: Buffer.from('xy') } } })).meta).toEqual({
      kind: Kind.ClientData,
      connId: 'a',
      end: 7,
    });
  });
});

describe('retention', () => {
  const ckpt = { lsn: 100, positions: new Map([['a', { clientOffset: 50, serverOffset: 10 }]]) };
  const open = { closed: false, lastProgressLsn: 90, lastOpenedLsn: 1 };
  it('keeps everything above the checkpoint and nothing of a closed connection', () => {
    expect(isLive(Kind.ClientData, 101, 1, 'a', open, ckpt)).toBe(true);
    expect(isLive(Kind.ClientData, 101, 1, 'a', { closed: true, lastProgressLsn: 0, lastOpenedLsn: 0 }, ckpt)).toBe(false);
  });
  it('below the checkpoint keeps what replay from the positions needs', () => {
    expect(isLive(Kind.Opened, 1, 0, 'a', open, ckpt)).toBe(true);
    // Logged again after the checkpoint: only the newest connection record is kept.
    expect(isLive(Kind.Opened, 1, 0, 'a', { ...open, lastOpenedLsn: 120 }, ckpt)).toBe(false);
    expect(isLive(Kind.Opened, 120, 0, 'a', { ...open, lastOpenedLsn: 120 }, ckpt)).toBe(true);
    expect(isLive(Kind.ClientData, 2, 50, 'a', open, ckpt)).toBe(false);
    expect(isLive(Kind.ClientData, 2, 51, 'a', open, ckpt)).toBe(true);
    expect(isLive(Kind.ServerProgress, 90, 0, 'a', open, ckpt)).toBe(true); // newest progress
    expect(isLive(Kind.ServerProgress, 80, 10, 'a', open, ckpt)).toBe(false);
    expect(isLive(Kind.ShimAccept, 3, 0, 'a', open, ckpt)).toBe(false);
    expect(isLive(Kind.ClientData, 2, 1, 'b', open, ckpt)).toBe(true); // not in the checkpoint
    expect(isLive(Kind.Nondeterministic, 5, 0, undefined, undefined, ckpt)).toBe(false);
  });
});
