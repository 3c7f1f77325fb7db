// ftcp/shim: the first wrapper. A drop-in for node:net's createServer whose connections survive a
// crash of this process under `ftcp run`: import from 'ftcp/shim' instead of 'node:net'.
// Outside `ftcp run` it is plain node:net (with a one-line warning), so the same app runs anywhere.
import * as net from 'node:net';
import { ShimSession, warn } from './session.js';
import { readShimEnv } from './shim-env.js';
import { ShimServer, type ShimServerOptions } from './shim-server.js';

let session: ShimSession | undefined;
let resolved = false;

function current(): ShimSession | undefined {
  if (!resolved) {
    resolved = true;
    const env = readShimEnv();
    if (env) session = new ShimSession(env);
    else warn('no log to write to (not under `ftcp run`, or `ftcp run --no-log`): plain node:net, connections are not protected by the shim');
  }
  return session;
}

export type { ShimServerOptions };

/** net.Server whose connections are protected by ftcp (see createServer). */
export class Server extends ShimServer {
  constructor(options?: ShimServerOptions | ((socket: net.Socket) => void), listener?: (socket: net.Socket) => void) {
    if (typeof options === 'function') super(current(), {}, options);
    else super(current(), options ?? {}, listener);
  }
}

/** Same signature and behaviour as node:net createServer; extra option `boundaries`. */
export function createServer(connectionListener?: (socket: net.Socket) => void): Server;
export function createServer(options?: ShimServerOptions, connectionListener?: (socket: net.Socket) => void): Server;
export function createServer(options?: ShimServerOptions | ((socket: net.Socket) => void), listener?: (socket: net.Socket) => void): Server {
  return new Server(options, listener);
}

/** Date.now(), logged; after a restart the replay returns the value drawn before the crash. */
export function now(): number {
  const s = current();
  if (!s) return Date.now();
  return s.value('now', () => f64(Date.now())).readDoubleLE(0);
}

/** Math.random(), logged and replayed like now(). */
export function random(): number {
  const s = current();
  if (!s) return Math.random();
  return s.value('random', () => f64(Math.random())).readDoubleLE(0);
}

/**
 * Hands the shim the app's state at a quiescent point (a JSON value or bytes); the log then drops
 * what the state already covers, and a restart replays only what came after. The positions are
 * taken when called. Resolves true once stored; false when nothing was stored (outside `ftcp run`,
 * or while a replay after a restart is still in progress).
 */
export function checkpoint(state: unknown): Promise<boolean> {
  const s = current();
  if (!s) return Promise.resolve(false);
  return s.checkpoint(state);
}

/**
 * Registers the restore hook: called once, before any connection, with the state of the last
 * checkpoint when the app restarts after a crash. Register it at start-up, before listening.
 */
export function onRestore(handler: (state: unknown) => void): void {
  current()?.onRestore(handler);
}

/** A connection's name that stays the same across restarts (undefined outside `ftcp run`). */
export function connectionId(socket: net.Socket): string | undefined {
  return current()?.connectionId(socket);
}

/** True when connections are protected (running under `ftcp run`). */
export function isProtected(): boolean {
  return current() !== undefined;
}

function f64(v: number): Buffer {
  const b = Buffer.allocUnsafe(8);
  b.writeDoubleLE(v, 0);
  return b;
}

// The rest of node:net, unchanged, so `import { Socket, connect } from 'ftcp/shim'` keeps working.
export const Stream = net.Socket;
export const { Socket, BlockList, SocketAddress, connect, createConnection, isIP, isIPv4, isIPv6, getDefaultAutoSelectFamily, setDefaultAutoSelectFamily } = net;

const shimNet = { ...net, Server, createServer, now, random, checkpoint, onRestore, connectionId, isProtected };
export default shimNet;
