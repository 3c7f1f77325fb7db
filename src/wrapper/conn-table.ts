// Protected connections by (client address, client port, service port). IPv4 keys are exact
// numbers (address * 2^16 + port < 2^48), so the hot path builds no string; IPv6 keys are strings.
import type { TcpConn } from './conn.js';

export class ConnTable {
  private readonly v4 = new Map<number, Map<number, TcpConn>>();
  private readonly v6 = new Map<number, Map<string, TcpConn>>();
  /** By tuple key (conn-key.ts), for records of the shim that name a connection that way. */
  private readonly tuples = new Map<string, TcpConn>();
  private count = 0;

  get size(): number {
    return this.count;
  }

  static key4(buf: Uint8Array, addrOff: number, port: number): number {
    const a = ((buf[addrOff]! << 24) | (buf[addrOff + 1]! << 16) | (buf[addrOff + 2]! << 8) | buf[addrOff + 3]!) >>> 0;
    return a * 65536 + port;
  }

  static key6(buf: Uint8Array, addrOff: number, port: number): string {
    return Buffer.from(buf.buffer, buf.byteOffset + addrOff, 16).toString('hex') + port.toString(16);
  }

  get4(servicePort: number, key: number): TcpConn | undefined {
    return this.v4.get(servicePort)?.get(key);
  }

  get6(servicePort: number, key: string): TcpConn | undefined {
    return this.v6.get(servicePort)?.get(key);
  }

  /** Looks up by the client's address bytes at buf[addrOff]. */
  get(ipVersion: number, buf: Uint8Array, addrOff: number, clientPort: number, servicePort: number): TcpConn | undefined {
    return ipVersion === 4
      ? this.get4(servicePort, ConnTable.key4(buf, addrOff, clientPort))
      : this.get6(servicePort, ConnTable.key6(buf, addrOff, clientPort));
  }

  byTuple(tuple: string): TcpConn | undefined {
    return this.tuples.get(tuple);
  }

  add(conn: TcpConn): void {
    this.tuples.set(conn.tuple, conn);
    if (conn.ipVersion === 4) {
      let m = this.v4.get(conn.serverPort);
      if (!m) this.v4.set(conn.serverPort, (m = new Map()));
      const k = ConnTable.key4(conn.clientAddr, 0, conn.clientPort);
      if (!m.has(k)) this.count++;
      m.set(k, conn);
    } else {
      let m = this.v6.get(conn.serverPort);
      if (!m) this.v6.set(conn.serverPort, (m = new Map()));
      const k = ConnTable.key6(conn.clientAddr, 0, conn.clientPort);
      if (!m.has(k)) this.count++;
      m.set(k, conn);
    }
  }

  delete(conn: TcpConn): void {
    const removed =
      conn.ipVersion === 4
        ? this.v4.get(conn.serverPort)?.get(ConnTable.key4(conn.clientAddr, 0, conn.clientPort)) === conn &&
          this.v4.get(conn.serverPort)!.delete(ConnTable.key4(conn.clientAddr, 0, conn.clientPort))
        : this.v6.get(conn.serverPort)?.get(ConnTable.key6(conn.clientAddr, 0, conn.clientPort)) === conn &&
          this.v6.get(conn.serverPort)!.delete(ConnTable.key6(conn.clientAddr, 0, conn.clientPort));
    if (removed) this.count--;
    if (this.tuples.get(conn.tuple) === conn) this.tuples.delete(conn.tuple);
  }

  *all(): IterableIterator<TcpConn> {
    for (const m of this.v4.values()) yield* m.values();
    for (const m of this.v6.values()) yield* m.values();
  }
}
