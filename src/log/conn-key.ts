// Connection names shared by the two wrappers. Both name a connection by its tuple key
// "<client ip>:<client port>><service port>"; each adds its own discriminator, because a 4-tuple
// is reused over time: the daemon appends "/<irs>", the shim "#<accept order>". Among live
// connections the tuple key is unique, so it is what joins the two wrappers' records (checkpoint
// positions, close intents, restored connections).
import { parseIpAddr } from '../wire/addr.js';

/** Client address as the daemon prints it: dotted quad, or bracketed uncompressed IPv6. */
export function formatClientAddr(a: Uint8Array): string {
  if (a.length === 4) return a.join('.');
  const parts: string[] = [];
  for (let k = 0; k < 16; k += 2) parts.push(((a[k]! << 8) | a[k + 1]!).toString(16));
  return `[${parts.join(':')}]`;
}

export function tupleKey(clientAddr: Uint8Array, clientPort: number, servicePort: number): string {
  return `${formatClientAddr(clientAddr)}:${clientPort}>${servicePort}`;
}

/**
 * Tuple key from socket-level text (Node's `remoteAddress`); an IPv4-mapped IPv6 address
 * (a dual-stack listener) is named by its IPv4 address, as the daemon sees it on the wire.
 */
export function tupleKeyFromText(clientAddr: string, clientPort: number, servicePort: number): string {
  let bytes = parseIpAddr(clientAddr);
  if (bytes.length === 16 && isV4Mapped(bytes)) bytes = bytes.subarray(12);
  return tupleKey(bytes, clientPort, servicePort);
}

/** The tuple key inside a connection id of either wrapper (the id itself if it has none). */
export function tupleKeyOfConnId(connId: string): string {
  const gt = connId.lastIndexOf('>');
  if (gt < 0) return connId;
  let end = gt + 1;
  while (end < connId.length) {
    const c = connId.charCodeAt(end);
    if (c < 48 || c > 57) break; // digits of the service port
    end++;
  }
  return connId.slice(0, end);
}

export function daemonConnId(tuple: string, irs: number): string {
  return `${tuple}/${irs}`;
}

export function shimConnId(tuple: string, acceptOrder: number): string {
  return `${tuple}#${acceptOrder}`;
}

function isV4Mapped(b: Uint8Array): boolean {
  for (let i = 0; i < 10; i++) if (b[i] !== 0) return false;
  return b[10] === 0xff && b[11] === 0xff;
}
