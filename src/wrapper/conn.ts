// One protected TCP connection, from the server's point of view, in the vocabulary of DESIGN.md.
// Client-stream positions are offsets from irs+1, server-stream positions offsets from iss0+1;
// the 32-bit sequence numbers the wire carries are derived from them.
import type { Record as LogRecord } from '../log/gen/ftcp/v1/log.js';
import { tupleKey } from '../log/conn-key.js';
import { offsetFromSeq, seqAdd, seqFromOffset } from '../wire/seq.js';
import { ClientStream } from './client-stream.js';
import { ReplaySource } from './replay-source.js';
import { ServerStreamHasher, type StreamVerifier } from './server-stream-hash.js';

export type ConnState =
  /** Client SYN seen; the stack's SYN-ACK is held until the opened record is durable. */
  | 'SYN_RCVD'
  | 'NORMAL'
  /** The app died: the client is held with zero-window ACKs. */
  | 'RECOVERING'
  /** The app is back: forged handshake sent, logged client bytes being replayed. */
  | 'REPLAYING'
  | 'CLOSED';

/** Options of the original handshake; after recovery the client keeps seeing exactly these. */
export interface HandshakeOptions {
  clientMss: number; // -1 absent
  serverMss: number;
  clientWscale: number; // -1 absent
  serverWscale: number;
  sackOk: boolean;
  tsOk: boolean;
  /** The client's SYN window field (unscaled, as on the wire). */
  clientSynWindow: number;
}

export class TcpConn {
  state: ConnState = 'SYN_RCVD';
  readonly id: string;
  /** `id` in utf-8, encoded once for the hand-encoded client data records. */
  readonly idBytes: Buffer;
  /** The tuple key (conn-key.ts): joins the shim's records to this connection. */
  readonly tuple: string;
  readonly ipVersion: 4 | 6;
  readonly clientAddr: Uint8Array;
  readonly clientPort: number;
  readonly serverAddr: Uint8Array;
  readonly serverPort: number;
  readonly irs: number;
  iss0 = 0;
  opts: HandshakeOptions;

  // Incarnation of the server stack.
  /** Added to outgoing seq/SACK, subtracted from incoming ack/SACK (mod 2^32). */
  delta = 0;
  /** Added to outgoing TSval, subtracted from incoming TSecr (mod 2^32). */
  tsOffset = 0;
  /** Window scale shift the current stack uses in its windows. */
  stackShift = 0;
  /** Server offset and client offset where the current incarnation started (checkpoint). */
  serverBase = 0;
  clientBase = 0;

  // Client stream.
  /** Replaced only when a connection is adopted from the log (its stream starts at a checkpoint). */
  client: ClientStream;
  /** Offset of the client's FIN, -1 before it. */
  clientFinOff = -1;
  clientFinLogSeq = -1;
  clientFinDurable = false;
  /** Last client window field and TSval seen (for forged segments). */
  clientWindow = 0;
  clientTsval = 0;
  /** Client-stream offset the stack has acknowledged (its rcv_nxt), -1 before any ACK. */
  stackAckOff = -1;
  stackWindowBytes = 0;

  // Server stream.
  sndUna = 0;
  sndMax = 0;
  /** Offset of the server's FIN (client view), -1 before it. */
  serverFinOff = -1;
  /** Re-based when an adopted connection learns where the client stands. */
  hasher = new ServerStreamHasher(0);

  // What the client was shown.
  lastAckOff = -1;
  lastRightEdge = -1;
  lastWindowField = 0;
  lastTsvalOut = 0;
  lastTsvalAt = 0;
  /** A pure ACK of the stack is waiting for the log (output commit). */
  ackPending = false;
  /** Held SYN-ACK (copied) and the log seq it waits for. */
  heldSynAck: Buffer | null = null;
  openedLogSeq = -1;
  /** The connection record as first logged (logged again, unchanged, after each checkpoint). */
  opened: LogRecord | null = null;
  /** Held FIN/RST of the stack waiting for the app-liveness verdict. */
  heldClose: Buffer | null = null;
  /** The app is known alive after its FIN/RST: later ones go out at once. */
  closeExplained = false;
  /** The shim's logged close intent (CloseIntent.How; 0 none): explains the stack's FIN/RST. */
  closeIntent = 0;
  /** Counted once in closeIntentsHonoured. */
  closeIntentHonoured = false;

  // Recovery.
  verifier: StreamVerifier | null = null;
  /** Pending copies of regenerated segments waiting for their blocks to verify: [endOff, packet]. */
  pendingVerified: Array<[number, Buffer]> = [];
  issK = 0;
  /** Stack-side seq of the highest byte the stack has sent (snd_nxt in its space). */
  stackSndNxt = 0;
  /** Server offset acked to the stack by the daemon during replay. */
  ackedToStackOff = 0;
  /** Next client offset to inject during replay. */
  replayNext = 0;
  replayFinInjected = false;
  /** Client bytes to replay (read back from the log, plus what the client sent while held). */
  replaySource = new ReplaySource();
  replaySourceActive = false;
  replayRead: 'idle' | 'pending' | 'done' | 'failed' = 'idle';
  restoreStartedAt = 0;
  /** Holds one of the wrapper's restore slots (MAX_RESTORES_AT_ONCE) while it restores. */
  restoreSlot = false;
  /**
   * Adopted, its client not heard from when the app listened: its logged stream is read in the
   * restores' one pass over the log (replayRead), before its own restore begins.
   */
  replayPrefetched = false;
  /** Waiting for a restore slot; `restoreReadsOwn`: it reads its replay itself once started. */
  restoreQueued = false;
  restoreReadsOwn = false;
  /** When the stack last acknowledged more replayed bytes (daemon clock, ms). */
  replayProgressAt = 0;
  /** When the last forged SYN went to the stack (daemon clock, ms). */
  synSentAt = 0;
  /** The server stream as the client knew it when the restore began. */
  origSndMax = 0;
  origSndUna = 0;
  /** Last TSval of the restarted stack (echoed in forged segments). */
  stackTsval = 0;
  recoveries = 0;
  /** Bytes of client stream beyond which the connection is no longer protected (no shim). */
  unprotected = false;
  /**
   * Adopted from the log (daemon restart, host takeover) and not yet heard from: sndUna and the
   * last TSval the client saw are unknown until its reply to a probe (second-wrapper.ts).
   */
  learning = false;
  /** When the connection was adopted (daemon clock, ms); 0 if it was not. */
  adoptedAt = 0;
  /** Adopted: client bytes up to here are logged while held (the old window is unknown); 0 otherwise. */
  adoptedAcceptEdge = 0;
  /** Adopted with the nudge on: ICMP errors to send if the client's answer shows bytes in flight. */
  nudges = 0;
  /** The last zero-window hold ACK: when (daemon clock, ms) and the client offset it acknowledged. */
  holdAckAt = -Infinity;
  holdAckOff = -1;

  closeLogged = false;
  /** When the client's SYN was seen (daemon clock, ms). */
  openedAt = 0;
  /** The same in wall-clock ms (compared with a checkpoint's creation time). */
  openedWallMs = 0;

  constructor(init: {
    id: string;
    ipVersion: 4 | 6;
    clientAddr: Uint8Array;
    clientPort: number;
    serverAddr: Uint8Array;
    serverPort: number;
    irs: number;
    opts: HandshakeOptions;
  }) {
    this.id = init.id;
    this.idBytes = Buffer.from(init.id, 'utf8');
    this.tuple = tupleKey(init.clientAddr, init.clientPort, init.serverPort);
    this.ipVersion = init.ipVersion;
    this.clientAddr = init.clientAddr;
    this.clientPort = init.clientPort;
    this.serverAddr = init.serverAddr;
    this.serverPort = init.serverPort;
    this.irs = init.irs;
    this.opts = init.opts;
    this.client = new ClientStream(0);
  }

  /** Effective shifts: window scaling is on only when both sides sent the option. */
  get clientShift(): number {
    return this.opts.clientWscale >= 0 && this.opts.serverWscale >= 0 ? this.opts.clientWscale : 0;
  }
  get serverShift(): number {
    return this.opts.clientWscale >= 0 && this.opts.serverWscale >= 0 ? this.opts.serverWscale : 0;
  }

  /** Client-stream offset of a sequence number in client space. */
  clientOff(seq: number): number {
    return offsetFromSeq(seqAdd(this.irs, 1), seq, this.client.rcvAppended);
  }
  clientSeq(off: number): number {
    return seqFromOffset(seqAdd(this.irs, 1), off);
  }
  /** Server-stream offset of a sequence number in the client's view of the server space. */
  serverOff(seq: number): number {
    return offsetFromSeq(seqAdd(this.iss0, 1), seq, this.sndMax);
  }
  serverSeq(off: number): number {
    return seqFromOffset(seqAdd(this.iss0, 1), off);
  }

  /** The ack the client may see: the durable prefix, plus one for a durable FIN right after it. */
  get durableAckOff(): number {
    const r = this.client.rcvLogged;
    return this.clientFinDurable && r === this.clientFinOff ? r + 1 : r;
  }

  /** snd_nxt in the client's view: everything sent, plus the FIN. */
  get sndNxtOff(): number {
    return this.serverFinOff >= 0 ? this.serverFinOff + 1 : this.sndMax;
  }

  /** A TSval for a forged segment: continues the client-visible clock (1 ms ticks). */
  nextTsval(nowMs: number): number {
    const elapsed = Math.max(0, Math.floor(nowMs - this.lastTsvalAt));
    return seqAdd(this.lastTsvalOut, elapsed);
  }
}
