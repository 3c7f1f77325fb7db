// The daemon's control socket: a Unix socket at /run/ftcp/NAME.sock, readable and writable by root
// and the `ftcp` group only (mode 0660), answering `ftcp status` and `ftcp capture NAME`. Bad input
// gets one error line and never reaches the daemon's packet path or crashes it.
import { chmodSync, chownSync, lstatSync, mkdirSync, rmSync } from 'node:fs';
import { createConnection, createServer, type Server, type Socket } from 'node:net';
import type { Logger } from '../util/logger.js';
import { errorLine, MAX_LINE_BYTES, parseRequest, type CaptureRequest } from './control-protocol.js';
import { controlSocketPath, groupId, runDir } from './socket-path.js';

export interface ControlServerOptions {
  name: string;
  /** Builds the status snapshot (called per request, on the event loop). */
  status: () => unknown;
  /**
   * Starts a capture that streams over `sock` (which it then owns: no more requests are read from
   * it). Returns an error message instead when it cannot; without it, captures are refused.
   */
  capture?: (req: CaptureRequest, sock: Socket) => string | undefined;
  /** Directory of the socket (default FTCP_RUN_DIR or /run/ftcp). */
  dir?: string;
  /** Group given access to the socket when it exists (default `ftcp`). */
  group?: string;
  log?: Logger;
  /** A client that sends nothing for this long is disconnected. */
  idleMs?: number;
  maxClients?: number;
}

export interface ControlServer {
  readonly path: string;
  close(): Promise<void>;
  /** Removes the socket file only: for a process 'exit' handler, where nothing async runs. */
  removeSync(): void;
}

export class ControlSocketError extends Error {}

/** True when something accepts connections on the socket at `path`. */
function socketAnswers(path: string): Promise<boolean> {
  return new Promise((resolve) => {
    const s = createConnection(path);
    s.once('connect', () => {
      s.destroy();
      resolve(true);
    });
    s.once('error', () => resolve(false));
  });
}

/** Removes a socket left by a daemon that died; refuses to touch anything else. */
async function removeStale(path: string): Promise<void> {
  let st;
  try {
    st = lstatSync(path);
  } catch {
    return;
  }
  if (!st.isSocket()) throw new ControlSocketError(`${path} exists and is not a socket: remove it`);
  if (await socketAnswers(path)) throw new ControlSocketError(`${path} is in use by another process: is another ftcp daemon running with this name?`);
  rmSync(path, { force: true });
}

export async function startControlServer(opts: ControlServerOptions): Promise<ControlServer> {
  const dir = opts.dir ?? runDir();
  const path = controlSocketPath(opts.name, dir);
  const log = opts.log;
  const idleMs = opts.idleMs ?? 30_000;
  const maxClients = opts.maxClients ?? 32;
  mkdirSync(dir, { recursive: true, mode: 0o755 });
  await removeStale(path);

  const clients = new Set<Socket>();
  /** Every connection, turned away or not (closed with the server). */
  const open = new Set<Socket>();
  // Half-open: a client may send its request and shut its side; the answer still goes out.
  const server: Server = createServer({ allowHalfOpen: true }, (sock) => {
    open.add(sock);
    sock.once('close', () => open.delete(sock));
    if (clients.size >= maxClients) {
      sock.on('error', () => sock.destroy());
      sock.setTimeout(idleMs, () => sock.destroy());
      sock.resume(); // read and drop, so the client's end arrives and the socket closes
      sock.end(errorLine('busy: too many control connections'));
      return;
    }
    clients.add(sock);
    sock.once('close', () => clients.delete(sock));
    sock.on('error', () => sock.destroy());
    sock.setTimeout(idleMs, () => sock.destroy());
    serve(sock, opts, log);
  });
  server.on('error', (err) => log?.error({ err, path }, 'control socket error'));

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(path, () => {
      server.off('error', reject);
      resolve();
    });
  });
  // Root and the ftcp group only: status shows client addresses.
  chmodSync(path, 0o660);
  const gid = groupId(opts.group ?? 'ftcp');
  if (gid !== undefined) {
    try {
      chownSync(path, process.getuid?.() ?? 0, gid);
    } catch (err) {
      log?.warn({ err, path, gid }, 'cannot give the ftcp group access to the control socket: only root can use ftcp status');
    }
  }
  log?.debug({ path }, 'control socket listening');

  let closed: Promise<void> | undefined;
  return {
    path,
    close(): Promise<void> {
      closed ??= new Promise<void>((resolve) => {
        for (const s of open) s.destroy();
        server.close(() => resolve());
        rmSync(path, { force: true });
      });
      return closed;
    },
    removeSync(): void {
      rmSync(path, { force: true });
    },
  };
}

/** Answers queued for a client that does not read them: past this, its further requests wait. */
const MAX_QUEUED_BYTES = 16 << 20;

/** One client: newline-delimited JSON requests, one response line each, in order. */
function serve(sock: Socket, opts: ControlServerOptions, log: Logger | undefined): void {
  const status = opts.status;
  let buf = '';
  let refused = false;
  let ended = false;
  /** A capture took the connection over. */
  let handedOver = false;
  const startCapture = (req: CaptureRequest): string | undefined => {
    if (!opts.capture) return errorLine('capture is not available from this daemon');
    let err: string | undefined;
    try {
      err = opts.capture(req, sock);
    } catch (e) {
      log?.error({ err: e }, 'control socket: cannot start a capture');
      err = `internal error: ${e instanceof Error ? e.message : String(e)}`;
    }
    if (err !== undefined) return errorLine(err);
    handedOver = true;
    buf = '';
    sock.setTimeout(0); // a capture runs as long as its client wants
    return undefined;
  };
  sock.setEncoding('utf8');
  // Answers the complete lines in buf; a client that sends faster than it reads is paused.
  const pump = (): void => {
    let nl: number;
    while ((nl = buf.indexOf('\n')) >= 0) {
      if (!sock.writable) return;
      if (sock.writableLength > MAX_QUEUED_BYTES) {
        sock.pause();
        sock.once('drain', () => {
          sock.resume();
          pump();
        });
        return;
      }
      const line = buf.slice(0, nl).trim();
      buf = buf.slice(nl + 1);
      if (line === '') continue;
      const req = parseRequest(line);
      if (req.ok && req.cmd === 'capture') {
        const err = startCapture(req.capture);
        if (err === undefined) return;
        sock.write(err);
        continue;
      }
      sock.write(respond(line, status, log));
    }
    if (Buffer.byteLength(buf) > MAX_LINE_BYTES) {
      buf = '';
      refused = true;
      sock.end(errorLine(`bad request: line longer than ${MAX_LINE_BYTES} bytes`));
      return;
    }
    // A last request without its newline still gets its answer.
    if (ended && sock.writable) {
      const line = buf.trim();
      buf = '';
      const req = line !== '' ? parseRequest(line) : undefined;
      // A capture whose client has already half-closed would end at once: refuse it plainly.
      if (req?.ok && req.cmd === 'capture') sock.end(errorLine('capture: send the request with a newline and keep the connection open'));
      else if (line !== '') sock.end(respond(line, status, log));
      else sock.end();
    }
  };
  sock.on('data', (chunk: string) => {
    if (refused || handedOver) return; // what a refused client still sends is read and dropped until it goes
    buf += chunk;
    pump();
  });
  sock.on('end', () => {
    if (refused || handedOver) return;
    ended = true;
    pump();
  });
}

function respond(line: string, status: () => unknown, log: Logger | undefined): string {
  const req = parseRequest(line);
  if (!req.ok) return errorLine(req.error);
  try {
    return `${JSON.stringify(status())}\n`;
  } catch (err) {
    log?.error({ err }, 'control socket: cannot build the status');
    return errorLine(`internal error: ${err instanceof Error ? err.message : String(err)}`);
  }
}
