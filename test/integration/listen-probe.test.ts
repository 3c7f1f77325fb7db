// listeningPorts(pid) through sock_diag, against a real listener in a namespace of its own: the
// same ports as the /proc tables list, IPv4 and IPv6, and nothing once the process is gone.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { listeningPorts, parseListeningPorts } from '../../src/run/listen-probe.js';

const NS = `ftcpt-${process.pid}-lp`;
let app: ChildProcess | undefined;

// Listens on 4321 (IPv4) and 4322 (IPv6), connects to itself on 4321 (an established socket that
// must not count), then waits.
const PY = `
import socket, sys, time
a = socket.socket(); a.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1); a.bind(("127.0.0.1", 4321)); a.listen()
b = socket.socket(socket.AF_INET6); b.bind(("::1", 4322)); b.listen()
c = socket.create_connection(("127.0.0.1", 4321))
print("ready", flush=True)
time.sleep(30)
`;

beforeAll(async () => {
  spawnSync('ip', ['netns', 'del', NS]);
  expect(spawnSync('ip', ['netns', 'add', NS]).status).toBe(0);
  spawnSync('ip', ['-n', NS, 'link', 'set', 'lo', 'up']);
  app = spawn('ip', ['netns', 'exec', NS, 'python3', '-c', PY], { stdio: ['ignore', 'pipe', 'inherit'] });
  await new Promise<void>((resolve, reject) => {
    const t = setTimeout(() => reject(new Error('the listener did not start')), 10_000);
    app!.stdout!.on('data', (d: Buffer) => {
      if (d.toString().includes('ready')) {
        clearTimeout(t);
        resolve();
      }
    });
  });
});

afterAll(() => {
  app?.kill('SIGKILL');
  spawnSync('ip', ['netns', 'del', NS]);
});

describe('listeningPorts', () => {
  it("lists the LISTEN ports of the process's namespace, IPv4 and IPv6, as the /proc tables do", () => {
    const pid = app!.pid!;
    const got = listeningPorts(pid);
    expect([...got].sort()).toEqual([4321, 4322]);
    const fromProc = new Set([...parseListeningPorts(readFileSync(`/proc/${pid}/net/tcp`, 'utf8')), ...parseListeningPorts(readFileSync(`/proc/${pid}/net/tcp6`, 'utf8'))]);
    expect(got).toEqual(fromProc);
    expect(listeningPorts(process.pid).has(4321)).toBe(false); // the test's own namespace: another view
  });

  it('answers from the namespace as it is now, asked again and again (its socket is reused)', async () => {
    const pid = app!.pid!;
    expect([...listeningPorts(pid)].sort()).toEqual([4321, 4322]);
    expect(listeningPorts(process.pid).has(4321)).toBe(false);
    // A listener that appears later, in the same namespace: the next ask sees it.
    const late = spawn('ip', ['netns', 'exec', NS, 'python3', '-c', 'import socket, time\ns = socket.socket(); s.bind(("127.0.0.1", 4323)); s.listen(); print("ready", flush=True); time.sleep(30)'], {
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    try {
      await new Promise<void>((resolve, reject) => {
        const t = setTimeout(() => reject(new Error('the late listener did not start')), 10_000);
        late.stdout!.on('data', (d: Buffer) => {
          if (d.toString().includes('ready')) {
            clearTimeout(t);
            resolve();
          }
        });
      });
      for (let i = 0; i < 3; i++) expect([...listeningPorts(pid)].sort()).toEqual([4321, 4322, 4323]);
      expect([...listeningPorts(late.pid!)].sort()).toEqual([4321, 4322, 4323]);
    } finally {
      late.kill('SIGKILL');
      await new Promise((r) => late.on('exit', r));
    }
    // Gone again: the kernel's table, not a remembered answer.
    expect([...listeningPorts(pid)].sort()).toEqual([4321, 4322]);
  });

  it('is empty for a process that is gone', async () => {
    const gone = spawn('true');
    await new Promise((r) => gone.on('exit', r));
    expect(listeningPorts(gone.pid!).size).toBe(0);
  });
});
