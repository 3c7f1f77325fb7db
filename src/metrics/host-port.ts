// The `--metrics HOST:PORT` value (also used by config validation, so no server code here).
import { isIP } from 'node:net';

export class MetricsAddressError extends Error {}

export interface HostPort {
  host: string;
  port: number;
}

/** "127.0.0.1:9464", "[::1]:9464", "localhost:9464", ":9464" (every address); port 0 picks one. */
export function parseHostPort(text: string): HostPort {
  const m = /^(?:\[([^\]]+)\]|([^:[\]]*)):(\d{1,5})$/.exec(text.trim());
  if (!m) throw new MetricsAddressError(`--metrics ${text}: expected HOST:PORT, e.g. --metrics 127.0.0.1:9464 (IPv6: [::1]:9464)`);
  const host = m[1] ?? m[2] ?? '';
  const port = Number(m[3]);
  if (port > 65535) throw new MetricsAddressError(`--metrics ${text}: port must be between 0 and 65535`);
  if (m[1] !== undefined && isIP(host) !== 6) throw new MetricsAddressError(`--metrics ${text}: ${host} in brackets must be an IPv6 address`);
  if (host !== '' && host !== 'localhost' && isIP(host) === 0 && !/^[a-zA-Z0-9.-]+$/.test(host)) {
    throw new MetricsAddressError(`--metrics ${text}: ${host} is not an IP address or host name`);
  }
  return { host, port };
}

export function isLoopback(host: string): boolean {
  return host === 'localhost' || host === '::1' || /^127\./.test(host);
}

/** Whether `s` parses as HOST:PORT (for schema refinements). */
export function isHostPort(s: string): boolean {
  try {
    parseHostPort(s);
    return true;
  } catch {
    return false;
  }
}
