// How much of a socket's server stream the client has acknowledged (TCP_INFO, native addon).
import type { Socket } from 'node:net';
import { loadAddon } from '../native/load.js';

interface SockinfoAddon {
  tcpInfo(fd: number): { state: number; bytesAcked: number; bytesReceived: number; notsentBytes: number; unacked: number };
}

let addon: SockinfoAddon | undefined;

function sockinfo(): SockinfoAddon {
  addon ??= loadAddon<SockinfoAddon>('ftcp_sockinfo');
  return addon;
}

/** Bytes of this socket's stream the peer acknowledged, or undefined once the socket is gone. */
export function bytesAcked(socket: Socket): number | undefined {
  const fd = (socket as unknown as { _handle?: { fd?: number } })._handle?.fd;
  if (typeof fd !== 'number' || fd < 0) return undefined;
  try {
    return sockinfo().tcpInfo(fd).bytesAcked;
  } catch {
    return undefined;
  }
}
