// Tells when the app is accepting: reads the listening sockets of its namespace from
// /proc/PID/net/tcp{,6} (the view of that process's namespace), without connecting to it.
import { readFileSync } from 'node:fs';

const TCP_LISTEN = '0A';

/** Local ports in LISTEN state in the table text of /proc/net/tcp or tcp6. */
export function parseListeningPorts(table: string): Set<number> {
  const ports = new Set<number>();
  for (const line of table.split('\n').slice(1)) {
    const cols = line.trim().split(/\s+/);
    if (cols.length < 4 || cols[3] !== TCP_LISTEN) continue;
    const local = cols[1] ?? '';
    const port = Number.parseInt(local.slice(local.lastIndexOf(':') + 1), 16);
    if (Number.isInteger(port)) ports.add(port);
  }
  return ports;
}

export function listeningPorts(pid: number): Set<number> {
  const ports = new Set<number>();
  for (const file of ['tcp', 'tcp6']) {
    try {
      for (const p of parseListeningPorts(readFileSync(`/proc/${pid}/net/${file}`, 'utf8'))) ports.add(p);
    } catch {
      /* process gone or no IPv6: nothing listening there */
    }
  }
  return ports;
}
