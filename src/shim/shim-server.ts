// net.Server whose connections pass through the shim session before the app sees them.
import * as net from 'node:net';
import type { Boundaries } from './shim-conn.js';
import type { ShimSession } from './session.js';

export interface ShimServerOptions extends net.ServerOpts {
  /**
   * `exact` (default): every chunk handed to the app is logged and replayed as it was; output
   * waits for the log. `stream`: the app does not depend on how its input is chunked (e.g. it
   * parses a byte stream): no chunk records, no wait.
   */
  boundaries?: Boundaries;
}

export function checkBoundaries(b: unknown): Boundaries {
  if (b === undefined) return 'exact';
  if (b === 'exact' || b === 'stream') return b;
  throw new TypeError(`ftcp/shim: createServer option "boundaries" must be 'exact' or 'stream', got ${JSON.stringify(b)}`);
}

export class ShimServer extends net.Server {
  private readonly boundaries: Boundaries;

  constructor(
    private readonly session: ShimSession | undefined,
    options: ShimServerOptions,
    listener?: (socket: net.Socket) => void,
  ) {
    const { boundaries, ...netOptions } = options;
    super(netOptions, listener);
    this.boundaries = checkBoundaries(boundaries);
  }

  override emit(event: string | symbol, ...args: unknown[]): boolean {
    if (event === 'connection' && this.session) {
      this.session.accepted(args[0] as net.Socket, this, this.boundaries);
      return this.listenerCount('connection') > 0;
    }
    return super.emit(event, ...args);
  }

  /** Hands the connection to the app (the session decided it may see it now). */
  emitConnection(socket: net.Socket): void {
    super.emit('connection', socket);
  }
}
