// A throwaway CA and a server certificate it signed (openssl, EC P-256, valid one day), for tests
// of TLS between hosts in namespaces; plus a second CA that signed nothing of theirs.
import { execFileSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

export interface TestCerts {
  ca: string;
  cert: string;
  key: string;
  /** A CA that did not sign `cert`. */
  otherCa: string;
}

/** Writes them under DIR; `ips`: the server's addresses (its subjectAltName). */
export function makeTestCerts(dir: string, ips: string[]): TestCerts {
  mkdirSync(dir, { recursive: true });
  const ossl = (args: string[]): void => void execFileSync('openssl', args, { cwd: dir, stdio: 'ignore' });
  const ec = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];
  ossl(['req', '-x509', ...ec, '-keyout', 'ca.key', '-out', 'ca.crt', '-subj', '/CN=ftcp-test-ca', '-days', '1']);
  writeFileSync(join(dir, 'san.ext'), `subjectAltName=${ips.map((ip) => `IP:${ip}`).join(',')}\n`);
  ossl(['req', ...ec, '-keyout', 'srv.key', '-out', 'srv.csr', '-subj', '/CN=ftcp-test-server']);
  ossl(['x509', '-req', '-in', 'srv.csr', '-CA', 'ca.crt', '-CAkey', 'ca.key', '-CAcreateserial', '-out', 'srv.crt', '-days', '1', '-extfile', 'san.ext']);
  ossl(['req', '-x509', ...ec, '-keyout', 'other.key', '-out', 'other.crt', '-subj', '/CN=ftcp-other-ca', '-days', '1']);
  return { ca: join(dir, 'ca.crt'), cert: join(dir, 'srv.crt'), key: join(dir, 'srv.key'), otherCa: join(dir, 'other.crt') };
}
