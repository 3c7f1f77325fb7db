// An IPv4/UDP datagram with correct checksums, for the TUN and relay tests (the wire library
// forges TCP only). Checksums come from the wire library.
import { checksumOf, pseudoSumV4 } from '../../src/wire/checksum.js';

export function udpPacket(src: string, dst: string, sport: number, dport: number, payload: Buffer): Buffer {
  const p = Buffer.alloc(28 + payload.length);
  p[0] = 0x45;
  p.writeUInt16BE(p.length, 2);
  p[8] = 64;
  p[9] = 17;
  Buffer.from(src.split('.').map(Number)).copy(p, 12);
  Buffer.from(dst.split('.').map(Number)).copy(p, 16);
  p.writeUInt16BE(checksumOf(p, 0, 20), 10);
  p.writeUInt16BE(sport, 20);
  p.writeUInt16BE(dport, 22);
  p.writeUInt16BE(8 + payload.length, 24);
  payload.copy(p, 28);
  const sum = checksumOf(p, 20, 8 + payload.length, pseudoSumV4(p, 0, 17, 8 + payload.length));
  p.writeUInt16BE(sum === 0 ? 0xffff : sum, 26);
  return p;
}
