// At start, a log server on another host (`--log HOST:PORT`) is asked for its stats once, before
// the app starts: a wrong token or a certificate the given CA does not vouch for is a
// configuration error, said now with the flag to fix; so is a server that cannot be reached at
// all (the daemon's first read of it, the latest checkpoint, would end the start anyway, after
// the app started). Once running, a log server that goes away stalls the clients (acks held).
import * as grpc from '@grpc/grpc-js';
import type { LogClient } from '../log/client.js';
import { isTlsTrouble, type LogCredentials } from '../log/log-credentials.js';
import type { Logger } from '../util/logger.js';
import { ConfigError } from './run-config.js';

/** A server that accepts the connection but does not answer within this is given the benefit of the doubt. */
const CHECK_MS = 5_000;


export async function checkRemoteLog(client: LogClient, target: string, creds: LogCredentials | undefined, log: Logger): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<'late'>((resolve) => (timer = setTimeout(() => resolve('late'), CHECK_MS)));
  let outcome: unknown;
  try {
    outcome = await Promise.race([client.stats().then(() => 'ok' as const), late]);
  } catch (err) {
    outcome = err;
  } finally {
    clearTimeout(timer);
  }
  if (outcome === 'ok') return;
  if (outcome === 'late') {
    log.warn({ target }, 'the log server has not answered yet: the daemon starts, and clients are held until it does');
    return;
  }
  const e = outcome as { code?: number; details?: string; message?: string };
  const detail = e.details ?? e.message ?? String(outcome);
  if (e.code === grpc.status.UNAUTHENTICATED) {
    const tokenFile = creds?.files.tokenFile;
    throw new ConfigError(
      tokenFile !== undefined
        ? `the log server at ${target} refused the token: check --log-token-file ${tokenFile} (it must hold the token of the log host's ftcp logd --token-file)`
        : `the log server at ${target} wants a token: give it with --log-token-file (the log host's ftcp logd --token-file)`,
    );
  }
  if (creds?.tls?.ca !== undefined && isTlsTrouble(detail)) {
    throw new ConfigError(
      `cannot verify the TLS certificate of the log server at ${target} (${detail}): check --log-tls-ca ${creds.files.tlsCa} (the CA that signed the log host's --tls-cert, for this address)`,
    );
  }
  // Down, or speaking TLS to a daemon given no CA (the two look alike from here).
  throw new ConfigError(
    `cannot reach the log server at ${target} (${detail}): check that ftcp logd runs there and listens on this address (--log)` +
      (creds?.tls === undefined ? '; if it serves TLS, give its CA with --log-tls-ca' : `; and that --log-tls-ca ${creds.files.tlsCa ?? ''} signed its certificate`),
  );
}
