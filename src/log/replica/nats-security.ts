// The NATS side of a log's credentials (log-credentials.ts): what every NATS connection of the
// daemon is given. Apart, so that the app's shim, which reads the same credentials for an external
// `ftcp logd`, does not load the NATS client.
import { credsAuthenticator, type ConnectionOptions } from '@nats-io/transport-node';
import type { LogCredentials } from '../log-credentials.js';

/** The log stream's, the lease's and the standby watch's connections. */
export type NatsSecurity = Pick<ConnectionOptions, 'token' | 'tls' | 'authenticator'>;

export function natsSecurity(c: LogCredentials | undefined): NatsSecurity {
  if (!c) return {};
  const out: NatsSecurity = {};
  if (c.token !== undefined) out.token = c.token;
  if (c.creds !== undefined) out.authenticator = credsAuthenticator(c.creds);
  if (c.tls) {
    out.tls = {
      ...(c.tls.ca ? { ca: c.tls.ca.toString('utf8') } : {}),
      ...(c.tls.cert ? { cert: c.tls.cert.toString('utf8') } : {}),
      ...(c.tls.key ? { key: c.tls.key.toString('utf8') } : {}),
    };
  }
  return out;
}
