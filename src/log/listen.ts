// Listen addresses of the log server: `unix:/path` or `HOST:PORT` (`[v6]:PORT`), and the rule that
// a TCP listener off loopback needs TLS or a token.
import { isIP } from 'node:net';

export type ListenSpec = { kind: 'unix'; path: string } | { kind: 'tcp'; host: string; port: number };

export class ListenError extends Error {}

export function parseListen(s: string): ListenSpec {
  if (s.startsWith('unix:')) {
    const path = s.slice(5).replace(/^\/\/(?=\/)/, '');
    if (!path.startsWith('/')) throw new ListenError(`--listen ${s}: a unix socket path must be absolute (unix:/run/ftcp/logd.sock)`);
    if (Buffer.byteLength(path) > 107) throw new ListenError(`--listen ${s}: unix socket path longer than 107 bytes; choose a shorter path`);
    return { kind: 'unix', path };
  }
  const m = /^(?:\[([^\]]+)\]|([^:[\]]+)):(\d+)$/.exec(s);
  if (!m) throw new ListenError(`--listen ${s}: expected unix:/PATH, HOST:PORT or [IPV6]:PORT`);
  const host = (m[1] ?? m[2])!;
  const port = Number(m[3]);
  if (!Number.isInteger(port) || port > 65535) throw new ListenError(`--listen ${s}: port must be 0-65535`);
  if (m[1] !== undefined && isIP(host) !== 6) throw new ListenError(`--listen ${s}: [${host}] is not an IPv6 address`);
  return { kind: 'tcp', host, port };
}

export function isLoopback(host: string): boolean {
  if (host === 'localhost') return true;
  if (isIP(host) === 4) return host.startsWith('127.');
  if (isIP(host) === 6) return host === '::1' || /^::ffff:127\./i.test(host);
  return false;
}

/** Throws unless every TCP listener off loopback is protected by TLS or a token. */
export function checkListenSecurity(specs: ListenSpec[], secured: { tls: boolean; token: boolean }): void {
  for (const l of specs) {
    if (l.kind === 'tcp' && !isLoopback(l.host) && !secured.tls && !secured.token) {
      throw new ListenError(
        `--listen ${l.host}:${l.port} is not loopback: add --tls-cert/--tls-key or --token-file (or listen on 127.0.0.1)`,
      );
    }
  }
}

/** The gRPC address string for a spec. */
export function grpcAddress(l: ListenSpec): string {
  if (l.kind === 'unix') return `unix:${l.path}`;
  return isIP(l.host) === 6 ? `[${l.host}]:${l.port}` : `${l.host}:${l.port}`;
}
