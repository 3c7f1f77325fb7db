// The control socket's protocol: newline-delimited JSON, one request line → one response line.
//   {"cmd":"status"}  →  the StatusSnapshot
//   anything wrong    →  {"error":"..."}
export const MAX_LINE_BYTES = 64 * 1024;

export const COMMANDS = ['status'] as const;
export type ControlCommand = (typeof COMMANDS)[number];

export type ParsedRequest = { ok: true; cmd: ControlCommand } | { ok: false; error: string };

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
  if (!(COMMANDS as readonly string[]).includes(cmd)) {
    return { ok: false, error: `unknown command ${JSON.stringify(cmd.slice(0, 40))}: known commands are ${COMMANDS.join(', ')}` };
  }
  return { ok: true, cmd: cmd as ControlCommand };
}

export function errorLine(error: string): string {
  return `${JSON.stringify({ error })}\n`;
}
