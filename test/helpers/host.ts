// Test topology helpers: a private "host" namespace per test file, commands run inside it, and
// an `ftcp run` child whose ready line is awaited. Everything made here is removed in cleanup().
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
export const FTCP = join(ROOT, 'dist', 'cli', 'main.js');

export function sh(cmd: string, args: string[], opts: { timeout?: number; input?: string } = {}): string {
  return execFileSync(cmd, args, {
    encoding: 'utf8',
    timeout: opts.timeout ?? 30_000,
    input: opts.input,
    stdio: ['pipe', 'pipe', 'pipe'],
  });
}

/** A network namespace made for one test file; its name starts with ftcpt-. */
export class TestNetns {
  constructor(readonly name: string) {}

  static create(tag: string): TestNetns {
    const name = `ftcpt-${process.pid}-${tag}`;
    if (existsSync(`/var/run/netns/${name}`)) sh('ip', ['netns', 'del', name]);
    sh('ip', ['netns', 'add', name]);
    sh('ip', ['-n', name, 'link', 'set', 'lo', 'up']);
    return new TestNetns(name);
  }

  exec(cmd: string, args: string[], opts: { timeout?: number; input?: string } = {}): string {
    return sh('ip', ['netns', 'exec', this.name, cmd, ...args], opts);
  }

  spawn(cmd: string, args: string[]): ChildProcess {
    return spawn('ip', ['netns', 'exec', this.name, cmd, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  }

  destroy(): void {
    if (!existsSync(`/var/run/netns/${this.name}`)) return;
    try {
      for (const pid of sh('ip', ['netns', 'pids', this.name]).split('\n').filter(Boolean)) {
        try {
          process.kill(Number(pid), 'SIGKILL');
        } catch {
          /* gone */
        }
      }
    } catch {
      /* no pids */
    }
    try {
      sh('ip', ['netns', 'del', this.name]);
    } catch {
      /* retried by the next run */
    }
  }
}

export interface FtcpRunHandle {
  child: ChildProcess;
  stdout: () => string;
  stderr: () => string;
  /** Resolves with the exit code once the process has exited. */
  exited: Promise<number | null>;
}

// The daemon enters the test's host namespace with nsenter, not `ip netns exec`: the latter also
// gives it a private mount namespace, where the namespaces it creates would not be visible.
const nsenterArgs = (host: TestNetns): string[] => [`--net=/var/run/netns/${host.name}`, process.execPath, FTCP];

/** Starts `ftcp ARGS` inside HOST (the test's host namespace) and waits for the ready line. */
export async function startFtcp(
  host: TestNetns,
  args: string[],
  readyTimeoutMs = 20_000,
  logLevel = 'info',
  more: { env?: NodeJS.ProcessEnv; ready?: RegExp } = {},
): Promise<FtcpRunHandle> {
  const child = spawn('nsenter', [...nsenterArgs(host), ...args], {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, FTCP_LOG_LEVEL: process.env.FTCP_LOG_LEVEL ?? logLevel, ...more.env },
  });
  const readyRe = more.ready ?? /ready vip=/;
  let out = '';
  let err = '';
  child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (err += d.toString()));
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  const handle: FtcpRunHandle = { child, stdout: () => out, stderr: () => err, exited };
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`ftcp not ready after ${readyTimeoutMs} ms; stderr: ${err}`)), readyTimeoutMs);
    const check = (): void => {
      if (readyRe.test(out)) {
        clearTimeout(timer);
        resolve();
      }
    };
    child.stdout!.on('data', check);
    exited.then((code) => {
      clearTimeout(timer);
      reject(new Error(`ftcp exited (${code}) before ready; stderr: ${err}`));
    });
  });
  return handle;
}

/** Runs `ftcp ARGS` to completion inside HOST; returns exit code and output. */
export function runFtcp(
  host: TestNetns | undefined,
  args: string[],
  timeoutMs = 20_000,
  env?: NodeJS.ProcessEnv,
): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const argv = host ? [...nsenterArgs(host), ...args] : [FTCP, ...args];
  const child = spawn(host ? 'nsenter' : process.execPath, argv, { stdio: ['ignore', 'pipe', 'pipe'], ...(env ? { env: { ...process.env, ...env } } : {}) });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  return new Promise((resolve) => {
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.once('exit', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

/** Stops an ftcp child with SIGTERM (SIGKILL after graceMs) and waits for it. */
export async function stopFtcp(h: FtcpRunHandle | undefined, graceMs = 10_000): Promise<number | null> {
  if (!h) return null;
  if (h.child.exitCode !== null || h.child.signalCode !== null) return h.child.exitCode;
  const t = setTimeout(() => h.child.kill('SIGKILL'), graceMs);
  h.child.kill('SIGTERM');
  const code = await h.exited;
  clearTimeout(t);
  return code;
}

export function netnsExists(name: string): boolean {
  return existsSync(`/var/run/netns/${name}`);
}

/** PIDs of the processes in a protected app's namespace (`ftcp-NAME`). */
export function appPids(name: string): number[] {
  try {
    return sh('ip', ['netns', 'pids', `ftcp-${name}`])
      .split('\n')
      .filter(Boolean)
      .map(Number);
  } catch {
    return [];
  }
}

/** SIGKILLs the protected app (every process in its namespace but debugging tools); returns the pids killed. */
export function killApp(name: string): number[] {
  const pids = appPids(name).filter((p) => {
    try {
      return readFileSync(`/proc/${p}/comm`, 'utf8').trim() !== 'tcpdump';
    } catch {
      return false;
    }
  });
  for (const pid of pids) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      /* gone */
    }
  }
  return pids;
}

/** Waits until the app namespace holds a process other than `old` (the supervisor restarted it). */
export async function waitRestarted(name: string, old: number[], timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (appPids(name).some((p) => !old.includes(p))) return;
    await new Promise((r) => setTimeout(r, 20));
  }
  throw new Error(`app ${name} was not restarted within ${timeoutMs} ms`);
}

/**
 * Waits until the protected app's stack has an established connection on PORT (its namespace's
 * `ss`): a kill before the client's handshake completes would test a SYN retry, not a restore.
 */
export async function waitEstablished(name: string, port = 9000, timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    const out = sh('ip', ['netns', 'exec', `ftcp-${name}`, 'ss', '-tnH', 'state', 'established', `( sport = :${port} )`]);
    if (out.trim() !== '') return;
    await new Promise((r) => setTimeout(r, 20));
  }
  throw new Error(`no connection to ${name}:${port} established within ${timeoutMs} ms`);
}

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Runs a command inside HOST in the background, collecting stdout; resolves with it at exit. */
export function spawnCollect(host: TestNetns, cmd: string, args: string[], timeoutMs: number): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const child = host.spawn(cmd, args);
  let stdout = '';
  let stderr = '';
  child.stdout!.on('data', (d: Buffer) => (stdout += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
  return new Promise((resolve) => {
    const t = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.once('exit', (code) => {
      clearTimeout(t);
      resolve({ code, stdout, stderr });
    });
  });
}

/**
 * Runs python code inside namespace NS without blocking the event loop (a TUN reader in this
 * process needs it); resolves with its stdout, rejects with its stderr if it fails.
 */
export function pythonIn(ns: TestNetns, code: string, timeoutMs = 60_000): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn('ip', ['netns', 'exec', ns.name, 'python3', '-c', code], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr!.on('data', (d: Buffer) => (err += d.toString()));
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.on('close', (code) => {
      clearTimeout(timer);
      if (code === 0) resolve(out);
      else reject(new Error(`python in ${ns.name} exited ${code}: ${err}`));
    });
  });
}
