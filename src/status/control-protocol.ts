// The control socket's protocol: newline-delimited JSON, one request line → one response line.
//   {"cmd":"status"}  →  the StatusSnapshot
//   {"cmd":"capture","side":"both","count":N,"seconds":S}  →  {"capture":{...}} and then, on the
//       same connection, a pcapng stream until the client half-closes, the count or the time is
//       reached, or the daemon stops (src/capture/capture-session.ts)
//   anything wrong    →  {"error":"..."}
export const MAX_LINE_BYTES = 64 * 1024;

/** Request/response commands (the ones an operator types with socat; named in errors). */
export const COMMANDS = ['status'] as const;
/** Commands that turn the connection into a stream (`ftcp capture NAME` speaks them). */
export const STREAM_COMMANDS = ['capture'] as const;
export type ControlCommand = (typeof COMMANDS)[number] | (typeof STREAM_COMMANDS)[number];

export const CAPTURE_SIDES = ['outer', 'inner', 'both'] as const;
export type CaptureSideRequest = (typeof CAPTURE_SIDES)[number];

export interface CaptureRequest {
  side: CaptureSideRequest;
  /** Stop after this many packets are written. */
  count?: number;
  /** Stop after this many seconds. */
  seconds?: number;
}

/** The first line of a capture's answer, before the pcapng bytes. */
export interface CaptureStarted {
  capture: { side: CaptureSideRequest; interfaces: string[] };
}

export type ParsedRequest =
  | { ok: true; cmd: 'status' }
  | { ok: true; cmd: 'capture'; capture: CaptureRequest }
  | { ok: false; error: string };

/** Validates one request line; never throws. */
export function parseRequest(line: string): ParsedRequest {
  let msg: unknown;
  try {
    msg = JSON.parse(line);
  } catch {
    return { ok: false, error: 'bad request: not JSON (send {"cmd":"status"} and a newline)' };
  }
  if (typeof msg !== 'object' || msg === null || Array.isArray(msg)) {
    return { ok: false, error: 'bad request: expected a JSON object such as {"cmd":"status"}' };
  }
  const cmd = (msg as { cmd?: unknown }).cmd;
  if (typeof cmd !== 'string') return { ok: false, error: 'bad request: missing "cmd" (e.g. {"cmd":"status"})' };
  if (!(COMMANDS as readonly string[]).includes(cmd) && !(STREAM_COMMANDS as readonly string[]).includes(cmd)) {
    return { ok: false, error: `unknown command ${JSON.stringify(cmd.slice(0, 40))}: known commands are ${[...COMMANDS, ...STREAM_COMMANDS].join(', ')}` };
  }
  if (cmd === 'status') return { ok: true, cmd };
  return parseCapture(msg as Record<string, unknown>);
}

function parseCapture(msg: Record<string, unknown>): ParsedRequest {
  const side = msg.side ?? 'both';
  if (typeof side !== 'string' || !(CAPTURE_SIDES as readonly string[]).includes(side)) {
    return { ok: false, error: `bad capture request: "side" must be one of ${CAPTURE_SIDES.join(', ')}` };
  }
  const capture: CaptureRequest = { side: side as CaptureSideRequest };
  if (msg.count !== undefined) {
    if (typeof msg.count !== 'number' || !Number.isSafeInteger(msg.count) || msg.count < 1) {
      return { ok: false, error: 'bad capture request: "count" must be a whole number >= 1' };
    }
    capture.count = msg.count;
  }
  if (msg.seconds !== undefined) {
    if (typeof msg.seconds !== 'number' || !Number.isFinite(msg.seconds) || msg.seconds <= 0 || msg.seconds > 2_000_000) {
      return { ok: false, error: 'bad capture request: "seconds" must be a number > 0' };
    }
    capture.seconds = msg.seconds;
  }
  return { ok: true, cmd: 'capture', capture };
}

export function errorLine(error: string): string {
  return `${JSON.stringify({ error })}\n`;
}
