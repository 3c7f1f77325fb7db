// Tells when the app is accepting: the listening TCP ports of its network namespace, without
// connecting to it. Asked of the kernel by sock_diag (native addon ftcp_sockinfo: ~0.1 ms), with
// /proc/PID/net/tcp{,6} as the fallback where sock_diag is not available. The /proc tables walk
// every bucket of the established hash that namespaces share (262 144 here): ~2 ms per table,
// which held the daemon's event loop for ~45 % of the time it polled for a restarting app.
import { readFileSync } from 'node:fs';
import { loadAddon } from '../native/load.js';

const TCP_LISTEN = '0A';

interface ListenDiagAddon {
  listeningPorts(pid: number): number[];
}

let addon: ListenDiagAddon | undefined;
let diagBroken = false;

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

function listeningPortsFromProc(pid: number): Set<number> {
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

/** Listening TCP ports (IPv4 and IPv6) in the network namespace of `pid`; empty once it is gone. */
export function listeningPorts(pid: number): Set<number> {
  if (!diagBroken) {
    try {
      addon ??= loadAddon<ListenDiagAddon>('ftcp_sockinfo');
      return new Set(addon.listeningPorts(pid));
    } catch (err) {
      const code = (err as { code?: string }).code;
      if (code === 'ENOENT' || code === 'ESRCH') return new Set(); // the process is gone
      diagBroken = true; // no sock_diag here (module missing, addon not built): the /proc tables
    }
  }
  return listeningPortsFromProc(pid);
}
