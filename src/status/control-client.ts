// Client side of the control socket: asks a daemon for its status, finds the running daemons, and
// turns socket errors into sentences an operator can act on.
import { readdirSync, statSync } from 'node:fs';
import { createConnection, type Socket } from 'node:net';
import type { CaptureRequest, CaptureStarted } from './control-protocol.js';
import type { StatusSnapshot } from './snapshot.js';
import { controlSocketPath, runDir } from './socket-path.js';

/** A status of many thousand connections is a few MB; beyond this something is wrong. */
const MAX_RESPONSE_CHARS = 256 << 20;

export type ControlErrorKind = 'no-service' | 'permission' | 'not-running' | 'protocol' | 'timeout';

export class ControlError extends Error {
  constructor(
    readonly kind: ControlErrorKind,
    message: string,
  ) {
    super(message);
  }
}

function describeConnectError(err: NodeJS.ErrnoException, name: string, path: string, command = 'status'): ControlError {
  switch (err.code) {
    case 'ENOENT':
      return new ControlError('no-service', `no ftcp service ${name} is running (no ${path})`);
    case 'EACCES':
    case 'EPERM':
      return new ControlError('permission', `permission denied on ${path}: run ftcp ${command} as root or as a member of group ftcp`);
    case 'ECONNREFUSED':
      return new ControlError('not-running', `ftcp service ${name} is not running (${path} is left from a daemon that died)`);
    default:
      return new ControlError('protocol', `cannot reach ftcp service ${name} at ${path}: ${err.code ?? err.message}`);
  }
}

/** Sends one request line and resolves with the parsed response line. */
export function controlRequest(name: string, request: object, opts: { dir?: string; timeoutMs?: number } = {}): Promise<unknown> {
  const path = controlSocketPath(name, opts.dir ?? runDir());
  const timeoutMs = opts.timeoutMs ?? 5_000;
  return new Promise((resolve, reject) => {
    const sock = createConnection(path);
    let buf = '';
    let done = false;
    const finish = (err: ControlError | undefined, value?: unknown): void => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      sock.destroy();
      if (err) reject(err);
      else resolve(value);
    };
    const timer = setTimeout(
      () => finish(new ControlError('timeout', `ftcp service ${name} did not answer within ${timeoutMs} ms (${path})`)),
      timeoutMs,
    );
    sock.setEncoding('utf8');
    sock.once('connect', () => sock.write(`${JSON.stringify(request)}\n`));
    sock.on('error', (err: NodeJS.ErrnoException) => finish(describeConnectError(err, name, path)));
    sock.on('data', (chunk: string) => {
      buf += chunk;
      const nl = buf.indexOf('\n');
      if (nl < 0) {
        if (buf.length > MAX_RESPONSE_CHARS) finish(new ControlError('protocol', `ftcp service ${name}: response too long`));
        return;
      }
      let msg: unknown;
      try {
        msg = JSON.parse(buf.slice(0, nl));
      } catch {
        finish(new ControlError('protocol', `ftcp service ${name} sent a response that is not JSON`));
        return;
      }
      const error = typeof msg === 'object' && msg !== null ? (msg as { error?: unknown }).error : undefined;
      if (typeof error === 'string') finish(new ControlError('protocol', `ftcp service ${name}: ${error}`));
      else finish(undefined, msg);
    });
    sock.on('end', () => finish(new ControlError('protocol', `ftcp service ${name} closed the control socket without answering`)));
  });
}

/** A capture being streamed by a daemon: `socket` carries pcapng bytes after `first`. */
export interface CaptureStream {
  started: CaptureStarted;
  socket: Socket;
  /** pcapng bytes that arrived with the answer line. */
  first: Buffer;
}

/**
 * Asks NAME's daemon for a capture; resolves once it has started (the daemon answered), with the
 * connection that carries the pcapng stream. Half-close the socket to stop the capture.
 */
export function openCaptureStream(name: string, req: CaptureRequest, opts: { dir?: string; timeoutMs?: number } = {}): Promise<CaptureStream> {
  const path = controlSocketPath(name, opts.dir ?? runDir());
  const timeoutMs = opts.timeoutMs ?? 5_000;
  return new Promise((resolve, reject) => {
    const sock = createConnection(path);
    let buf: Buffer = Buffer.alloc(0);
    let done = false;
    const fail = (err: ControlError): void => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      sock.destroy();
      reject(err);
    };
    const timer = setTimeout(() => fail(new ControlError('timeout', `ftcp service ${name} did not answer within ${timeoutMs} ms (${path})`)), timeoutMs);
    const onData = (chunk: Buffer): void => {
      buf = buf.length === 0 ? chunk : Buffer.concat([buf, chunk]);
      const nl = buf.indexOf(10);
      if (nl < 0) {
        if (buf.length > MAX_LINE) fail(new ControlError('protocol', `ftcp service ${name}: answer too long`));
        return;
      }
      let msg: unknown;
      try {
        msg = JSON.parse(buf.toString('utf8', 0, nl));
      } catch {
        fail(new ControlError('protocol', `ftcp service ${name} sent an answer that is not JSON`));
        return;
      }
      const m = (typeof msg === 'object' && msg !== null ? msg : {}) as { error?: unknown; capture?: unknown };
      if (typeof m.error === 'string') {
        fail(new ControlError('protocol', `ftcp service ${name}: ${m.error}`));
        return;
      }
      if (typeof m.capture !== 'object' || m.capture === null) {
        fail(new ControlError('protocol', `ftcp service ${name} does not support capture (a different ftcp version?)`));
        return;
      }
      done = true;
      clearTimeout(timer);
      sock.off('data', onData);
      sock.pause();
      resolve({ started: m as CaptureStarted, socket: sock, first: buf.subarray(nl + 1) });
    };
    sock.once('connect', () => sock.write(`${JSON.stringify({ cmd: 'capture', ...req })}\n`));
    sock.on('error', (err: NodeJS.ErrnoException) => fail(describeConnectError(err, name, path, 'capture')));
    sock.on('data', onData);
    sock.on('end', () => fail(new ControlError('protocol', `ftcp service ${name} closed the control socket without answering`)));
  });
}

const MAX_LINE = 64 * 1024;

export async function requestStatus(name: string, opts: { dir?: string; timeoutMs?: number } = {}): Promise<StatusSnapshot> {
  const msg = await controlRequest(name, { cmd: 'status' }, opts);
  if (typeof msg !== 'object' || msg === null || (msg as { version?: unknown }).version !== 1) {
    throw new ControlError('protocol', `ftcp service ${name} answered with an unknown status format (a different ftcp version?)`);
  }
  return msg as StatusSnapshot;
}

/** Names of the services with a control socket in the run dir, sorted. */
export function listServices(dir = runDir()): string[] {
  let entries: string[];
  try {
    entries = readdirSync(dir);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') return [];
    if (code === 'EACCES' || code === 'EPERM') {
      throw new ControlError('permission', `permission denied on ${dir}: run ftcp status as root or as a member of group ftcp`);
    }
    throw err;
  }
  return entries
    .filter((f) => f.endsWith('.sock') && f !== 'logd.sock')
    .filter((f) => {
      try {
        return statSync(`${dir}/${f}`).isSocket();
      } catch {
        return false;
      }
    })
    .map((f) => f.slice(0, -'.sock'.length))
    .sort();
}
