// Kernel settings of the current network namespace, through /proc/sys (what `sysctl` does): the
// VIP claim changes a few per-interface ones and must put back exactly the values it found.
import { readFileSync, writeFileSync } from 'node:fs';

const ROOT = '/proc/sys';

/** Path under /proc/sys of a per-interface setting; interface names are used as they are (dots too). */
export function ifSysctl(tree: 'ipv4/conf' | 'ipv4/neigh', ifname: string, key: string): string {
  if (!/^[^/\s]{1,15}$/.test(ifname) || ifname === '.' || ifname === '..') throw new Error(`bad interface name ${JSON.stringify(ifname)}`);
  return `net/${tree}/${ifname}/${key}`;
}

export function readSysctl(path: string): string {
  return readFileSync(`${ROOT}/${path}`, 'utf8').trim();
}

export function writeSysctl(path: string, value: string): void {
  writeFileSync(`${ROOT}/${path}`, `${value}\n`);
}

/** A setting changed by this process, to be put back by restore(). */
export interface SysctlChange {
  path: string;
  previous: string;
}

/** Sets PATH to VALUE; returns the change to undo, or undefined when it already had that value. */
export function setSysctl(path: string, value: string): SysctlChange | undefined {
  const previous = readSysctl(path);
  if (previous === value) return undefined;
  writeSysctl(path, value);
  return { path, previous };
}

/** Puts a setting back; false when it no longer exists (its interface is gone). */
export function restoreSysctl(change: SysctlChange): boolean {
  try {
    writeSysctl(change.path, change.previous);
    return true;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return false;
    throw err;
  }
}
