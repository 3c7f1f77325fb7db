// Credentials for a log that is not on this host: an external `ftcp logd` reached over TCP (its
// bearer token, TLS), or a NATS cluster (a token, TLS, a .creds file). The files are read once, at
// start: one that cannot be read fails the start naming the flag to fix, not the first append.
import { readFileSync } from 'node:fs';
import type { LogClientTls } from './client.js';

/** Where the credentials are (`--log-token-file`, `--log-tls-ca`, …, or the [log] table's keys). */
export interface LogCredentialFiles {
  tokenFile?: string | undefined;
  tlsCa?: string | undefined;
  tlsCert?: string | undefined;
  tlsKey?: string | undefined;
  /** NATS only: a user's credentials (JWT and nkey seed), as `nsc` writes them. */
  credsFile?: string | undefined;
}

/** The credentials, read. */
export interface LogCredentials {
  token?: string;
  tls?: { ca?: Buffer; cert?: Buffer; key?: Buffer };
  creds?: Uint8Array;
  /** The files they came from (named in error messages). */
  files: LogCredentialFiles;
}

/** Words of a TLS failure (Node's and OpenSSL's): a certificate not verified, a handshake refused. */
export function isTlsTrouble(detail: string): boolean {
  return /certificate|self[- ]signed|altname|ssl|tls|handshake|wrong version number/i.test(detail);
}

/** The shortest token accepted: `ftcp logd --token-file` refuses shorter ones too. */
export const MIN_TOKEN_CHARS = 16;

export class LogCredentialsError extends Error {
  override name = 'LogCredentialsError';
}

function readOrFail(path: string, flag: string): Buffer {
  try {
    return readFileSync(path);
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    throw new LogCredentialsError(`${flag} ${path}: cannot read it (${e.code ?? e.message})`);
  }
}

/**
 * Reads the files named; undefined when none is. `kind`: what the log is (a `.creds` file is a NATS
 * thing). Throws LogCredentialsError with the flag to fix.
 */
export function readLogCredentials(files: LogCredentialFiles, kind: 'logd' | 'nats'): LogCredentials | undefined {
  const { tokenFile, tlsCa, tlsCert, tlsKey, credsFile } = files;
  if ([tokenFile, tlsCa, tlsCert, tlsKey, credsFile].every((f) => f === undefined)) return undefined;
  if ((tlsCert === undefined) !== (tlsKey === undefined)) {
    throw new LogCredentialsError('--log-tls-cert and --log-tls-key go together (the client certificate and its key, PEM): give both');
  }
  if (credsFile !== undefined && kind !== 'nats') {
    throw new LogCredentialsError('--log-creds is a NATS user credentials file: it needs --log nats://...; an `ftcp logd` takes --log-token-file');
  }
  if (credsFile !== undefined && tokenFile !== undefined) {
    throw new LogCredentialsError('--log-creds and --log-token-file exclude each other (NATS authenticates a connection one way): give one');
  }
  const out: LogCredentials = { files: { ...files } };
  if (tokenFile !== undefined) {
    const token = readOrFail(tokenFile, '--log-token-file').toString('utf8').trim();
    if (kind === 'logd' && token.length < MIN_TOKEN_CHARS) {
      throw new LogCredentialsError(`--log-token-file ${tokenFile}: the token must be at least ${MIN_TOKEN_CHARS} characters (as ftcp logd requires)`);
    }
    if (token.length === 0) throw new LogCredentialsError(`--log-token-file ${tokenFile}: the file is empty`);
    out.token = token;
  }
  if (tlsCa !== undefined || tlsCert !== undefined) {
    out.tls = {
      ...(tlsCa !== undefined ? { ca: readOrFail(tlsCa, '--log-tls-ca') } : {}),
      ...(tlsCert !== undefined ? { cert: readOrFail(tlsCert, '--log-tls-cert') } : {}),
      ...(tlsKey !== undefined ? { key: readOrFail(tlsKey, '--log-tls-key') } : {}),
    };
  }
  if (credsFile !== undefined) {
    const creds = readOrFail(credsFile, '--log-creds');
    if (!creds.includes('BEGIN NATS USER JWT') || !creds.includes('BEGIN USER NKEY SEED')) {
      throw new LogCredentialsError(`--log-creds ${credsFile}: not a NATS credentials file (it holds a user JWT and an nkey seed; \`nsc generate creds\` writes one)`);
    }
    out.creds = new Uint8Array(creds);
  }
  return out;
}

/** What a LogClient (an external `ftcp logd`) is given. */
export function logClientSecurity(c: LogCredentials | undefined): { token?: string; tls?: LogClientTls } {
  if (!c) return {};
  return { ...(c.token !== undefined ? { token: c.token } : {}), ...(c.tls ? { tls: { ...c.tls } } : {}) };
}
