// Named network namespaces (the /var/run/netns bind mounts `ip netns` manages).
import { existsSync, readdirSync } from 'node:fs';
import { ip, ipSync } from './ip-command.js';

export const NETNS_DIR = '/var/run/netns';

export function netnsExists(name: string): boolean {
  return existsSync(`${NETNS_DIR}/${name}`);
}

export function listNetns(): string[] {
  try {
    return readdirSync(NETNS_DIR);
  } catch {
    return [];
  }
}

export async function createNetns(name: string): Promise<void> {
  await ip(['netns', 'add', name]);
  await ip(['link', 'set', 'lo', 'up'], name);
}

/** PIDs of every process whose network namespace is NAME. */
export function netnsPids(name: string): number[] {
  try {
    return ipSync(['netns', 'pids', name])
      .split('\n')
      .map((s) => Number(s.trim()))
      .filter((n) => Number.isInteger(n) && n > 0);
  } catch {
    return [];
  }
}

/** Kills every process left in the namespace, then deletes it. Safe to call when it is gone. */
export function destroyNetnsSync(name: string): void {
  if (!netnsExists(name)) return;
  for (const pid of netnsPids(name)) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      /* already gone */
    }
  }
  try {
    ipSync(['netns', 'del', name]);
  } catch {
    /* retried by the next start's stale-state check */
  }
}
