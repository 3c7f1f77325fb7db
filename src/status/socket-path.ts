// Where a daemon's control socket lives: /run/ftcp/NAME.sock, beside its pid file (FTCP_RUN_DIR
// overrides the directory, as for the instance lock).
import { readFileSync } from 'node:fs';

export function runDir(): string {
  return process.env.FTCP_RUN_DIR ?? '/run/ftcp';
}

export function controlSocketPath(name: string, dir = runDir()): string {
  return `${dir}/${name}.sock`;
}

/** The gid of a group from /etc/group (Node has no getgrnam), or undefined. */
export function groupId(group: string, groupFile = '/etc/group'): number | undefined {
  let text: string;
  try {
    text = readFileSync(groupFile, 'utf8');
  } catch {
    return undefined;
  }
  for (const line of text.split('\n')) {
    const [name, , gid] = line.split(':');
    if (name === group && gid !== undefined && /^\d+$/.test(gid)) return Number(gid);
  }
  return undefined;
}
