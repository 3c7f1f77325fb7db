// The LAN link's settings a VIP claim needs (forwarding, proxy_delay) are shared by every VIP the
// host answers for on that link, and each service is its own process. The first claim saves the
// values it found in a small file under the run directory, keyed by network namespace and link;
// the release that leaves no proxied address on the link puts them back and removes the file.
import { mkdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { RUN_DIR } from '../run/instance-lock.js';
import { ifSysctl, readSysctl, writeSysctl } from './vip-sysctl.js';

/** What a claim sets on the LAN link; proxy_delay 0: a proxied ARP request is answered at once. */
const WANTED: readonly (readonly [tree: 'ipv4/conf' | 'ipv4/neigh', key: string, value: string])[] = [
  ['ipv4/conf', 'forwarding', '1'],
  ['ipv4/neigh', 'proxy_delay', '0'],
];

type Saved = Record<string, string>;

/** The file of one link: namespace inode + name + ifindex (a re-created link is another link). */
export function lanSettingsFile(netnsIno: number, lanIf: string, ifindex: number, dir = RUN_DIR): string {
  return `${dir}/vip-lan-${netnsIno}-${lanIf}-${ifindex}.json`;
}

function fileFor(lanIf: string, ifindex: number): string {
  return lanSettingsFile(statSync('/proc/self/ns/net').ino, lanIf, ifindex);
}

function readSaved(path: string): Saved | undefined {
  try {
    return JSON.parse(readFileSync(path, 'utf8')) as Saved;
  } catch {
    return undefined;
  }
}

/** Saves the link's values (unless a claim already did) and sets what a claim needs. */
export function enableLanSettings(lanIf: string, ifindex: number): void {
  const path = fileFor(lanIf, ifindex);
  if (!readSaved(path)) {
    const found: Saved = {};
    for (const [tree, key] of WANTED) found[ifSysctl(tree, lanIf, key)] = readSysctl(ifSysctl(tree, lanIf, key));
    mkdirSync(RUN_DIR, { recursive: true, mode: 0o755 });
    try {
      writeFileSync(path, JSON.stringify(found), { flag: 'wx', mode: 0o644 });
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err; // another claim saved first
    }
  }
  for (const [tree, key, value] of WANTED) writeSysctl(ifSysctl(tree, lanIf, key), value);
}

/** Puts back the values saved by the first claim on the link. */
export function restoreLanSettings(lanIf: string, ifindex: number): void {
  const path = fileFor(lanIf, ifindex);
  const saved = readSaved(path);
  if (!saved) return;
  for (const [tree, key] of WANTED) {
    const p = ifSysctl(tree, lanIf, key);
    const v = saved[p];
    if (v === undefined) continue;
    try {
      writeSysctl(p, v);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err; // the link is gone
    }
  }
  rmSync(path, { force: true });
}
