// The NATS side of a log's credentials (log-credentials.ts): what every NATS connection of the
// daemon is given. Apart, so that the app's shim, which reads the same credentials for an external
// `ftcp logd`, does not load the NATS client.
import { checkServerIdentity, type PeerCertificate } from 'node:tls';
import { credsAuthenticator, type ConnectionOptions } from '@nats-io/transport-node';
import { isTlsTrouble, type LogCredentials } from '../log-credentials.js';

/** The log stream's, the lease's and the standby watch's connections. */
export type NatsSecurity = Pick<ConnectionOptions, 'token' | 'tls' | 'authenticator'>;

export function natsSecurity(c: LogCredentials | undefined, servers: readonly string[]): NatsSecurity {
  if (!c) return {};
  const out: NatsSecurity = {};
  if (c.token !== undefined) out.token = c.token;
  if (c.creds !== undefined) out.authenticator = credsAuthenticator(c.creds);
  if (c.tls) {
    const hosts = servers.map(hostOf);
    const tlsOptions = {
      ...(c.tls.ca ? { ca: c.tls.ca.toString('utf8') } : {}),
      ...(c.tls.cert ? { cert: c.tls.cert.toString('utf8') } : {}),
      ...(c.tls.key ? { key: c.tls.key.toString('utf8') } : {}),
      // Passed on to tls.connect. nats.js names no server for an IP address, and Node then checks
      // the certificate against "localhost": it is checked against the servers given instead.
      checkServerIdentity: (host: string, cert: PeerCertificate): Error | undefined => {
        const names = host !== '' && host !== 'localhost' ? [host] : hosts;
        for (const n of names) if (checkServerIdentity(n, cert) === undefined) return undefined;
        return checkServerIdentity(names[0] ?? host, cert);
      },
    };
    out.tls = tlsOptions as NonNullable<NatsSecurity['tls']>;
  }
  return out;
}

/** `host:port`, `[v6]:port` or `nats://…` → the host. */
function hostOf(server: string): string {
  const hp = server.replace(/^nats:\/\//, '');
  const v6 = /^\[([^\]]+)\]/.exec(hp);
  if (v6) return v6[1]!;
  const i = hp.lastIndexOf(':');
  return i > 0 ? hp.slice(0, i) : hp;
}

const REFUSED = /authorization violation|authentication|user authentication|auth(orization)? (failed|error)|permissions violation/i;

/**
 * What to tell the operator when the first connection to NATS failed: the credentials refused, or
 * the TLS certificate not verified, with the flag to fix; undefined for anything else (a server
 * that is down, a wrong address: the caller's own message says that).
 */
export function natsCredentialProblem(err: unknown, servers: readonly string[], c: LogCredentials | undefined): string | undefined {
  const detail = err instanceof Error ? `${err.message}${err.cause instanceof Error ? ` (${err.cause.message})` : ''}` : String(err);
  const at = `NATS at ${servers.join(',')}`;
  if (REFUSED.test(detail)) {
    const f = c?.files;
    const which = f?.credsFile !== undefined ? `--log-creds ${f.credsFile}` : f?.tokenFile !== undefined ? `--log-token-file ${f.tokenFile}` : undefined;
    return which !== undefined
      ? `${at} refused the credentials (${detail}): check ${which}`
      : `${at} wants credentials (${detail}): give them with --log-token-file or --log-creds`;
  }
  if (isTlsTrouble(detail)) {
    return c?.tls?.ca !== undefined
      ? `cannot set up TLS with ${at} (${detail}): check --log-tls-ca ${c.files.tlsCa} (the CA that signed the servers' certificates, for these addresses)`
      : `cannot set up TLS with ${at} (${detail}): give the CA of the servers' certificates with --log-tls-ca`;
  }
  return undefined;
}
