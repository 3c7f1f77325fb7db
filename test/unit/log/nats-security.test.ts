import { describe, expect, it } from 'vitest';
import type { LogCredentials } from '../../../src/log/log-credentials.js';
import { natsCredentialProblem, natsSecurity } from '../../../src/log/replica/nats-security.js';

const creds = (files: LogCredentials['files'], more: Partial<LogCredentials> = {}): LogCredentials => ({ files, ...more });

describe('natsSecurity', () => {
  it('gives nothing without credentials, a token, and TLS that checks the certificate against the servers given', () => {
    expect(natsSecurity(undefined, ['a:1'])).toEqual({});
    expect(natsSecurity(creds({ tokenFile: '/t' }, { token: 's3cret' }), ['a:1'])).toEqual({ token: 's3cret' });
    const sec = natsSecurity(creds({ tlsCa: '/ca' }, { tls: { ca: Buffer.from('PEM') } }), ['nats://10.0.0.5:4222', '[fd00::5]:4222']);
    const tls = sec.tls as { ca: string; checkServerIdentity: (host: string, cert: object) => Error | undefined };
    expect(tls.ca).toBe('PEM');
    const cert = (ips: string[]) => ({ subject: { CN: 'x' }, subjectaltname: ips.map((ip) => `IP Address:${ip}`).join(', ') });
    // nats.js names no server for an IP address: Node asks about "localhost".
    expect(tls.checkServerIdentity('localhost', cert(['10.0.0.5']))).toBeUndefined();
    expect(tls.checkServerIdentity('localhost', cert(['FD00:0:0:0:0:0:0:5']))).toBeUndefined();
    expect(tls.checkServerIdentity('localhost', cert(['10.0.0.9']))).toBeInstanceOf(Error);
  });
});

describe('natsCredentialProblem', () => {
  const servers = ['10.0.0.5:4222'];
  it('names the flag for refused credentials and for TLS, nothing for a server that is down', () => {
    expect(natsCredentialProblem(new Error("'Authorization Violation'"), servers, creds({ tokenFile: '/etc/t' }))).toBe(
      "NATS at 10.0.0.5:4222 refused the credentials ('Authorization Violation'): check --log-token-file /etc/t",
    );
    expect(natsCredentialProblem(new Error('Authorization Violation'), servers, creds({ credsFile: '/etc/u.creds' }))).toMatch(/check --log-creds \/etc\/u\.creds$/);
    expect(natsCredentialProblem(new Error('Authorization Violation'), servers, undefined)).toMatch(/wants credentials .*--log-token-file or --log-creds/);
    expect(natsCredentialProblem(new Error('self-signed certificate in certificate chain'), servers, undefined)).toMatch(/TLS .*give the CA .*--log-tls-ca/);
    expect(natsCredentialProblem(new Error('unable to verify the first certificate'), servers, creds({ tlsCa: '/ca' }, { tls: { ca: Buffer.from('x') } }))).toMatch(/check --log-tls-ca \/ca/);
    expect(natsCredentialProblem(new Error('connect ECONNREFUSED 10.0.0.5:4222'), servers, undefined)).toBeUndefined();
  });
});
