import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ConfigError, instanceNames, parseRunConfig } from '../../../src/run/run-config.js';

const base = { name: 'web', port: ['8080'], log: false, command: ['node', 'server.js'] };

describe('parseRunConfig', () => {
  it('fills defaults for an IPv4 service', () => {
    const cfg = parseRunConfig(base);
    expect(cfg).toMatchObject({ name: 'web', vip: '10.77.0.2', ipVersion: 4, hostAddr: '10.77.0.1', ports: [8080] });
    expect(cfg.restart).toBe('no'); // --no-log: a bare relay
    expect(cfg.vnetHdr).toBe(true);
  });

  it('takes an IPv6 VIP with an IPv6 host address', () => {
    const cfg = parseRunConfig({ ...base, vip: 'fd77::2' });
    expect(cfg).toMatchObject({ vip: 'fd77::2', ipVersion: 6, hostAddr: 'fd77::1' });
  });

  it('takes a replicated log: --log nats://… with replicas, lease time and LAN link', () => {
    const cfg = parseRunConfig({ ...base, log: true, logTarget: 'nats://10.0.0.5:4222,10.0.0.6:4222', replicas: '3', leaseMs: '1500', lanIf: 'eth0' });
    expect(cfg).toMatchObject({ natsServers: ['10.0.0.5:4222', '10.0.0.6:4222'], logTarget: undefined, replicas: 3, leaseMs: 1500, lanIf: 'eth0' });
    expect(parseRunConfig({ ...base, log: true }).natsServers).toBeUndefined();
    expect(() => parseRunConfig({ ...base, log: true, logTarget: 'nats://10.0.0.5' })).toThrow(/--log: .*lacks a :PORT/);
    expect(() => parseRunConfig({ ...base, log: true, logTarget: 'nats://a:1', leaseMs: '100' })).toThrow(/--lease-ms must be 300 to 60000/);
    expect(() => parseRunConfig({ ...base, log: true, logTarget: 'nats://a:1', replicas: '7' })).toThrow(/--replicas must be 1 to 5/);
    expect(parseRunConfig({ ...base, log: true, logTarget: 'nats://a:1', role: 'standby' }).role).toBe('standby');
    expect(() => parseRunConfig({ ...base, log: true, role: 'standby' })).toThrow(/a standby needs a replicated log/);
  });

  it('reads the credentials of a log on another host at start, and says which flag to fix', () => {
    const d = mkdtempSync(join(tmpdir(), 'ftcp-creds-'));
    const f = (n: string, text: string): string => {
      writeFileSync(join(d, n), text);
      return join(d, n);
    };
    const token = f('token', 'sixteen-chars-or-more-token\n');
    const ca = f('ca.pem', 'CA PEM');
    const remote = { ...base, log: true, logTarget: '10.0.0.2:7000' };
    const cfg = parseRunConfig({ ...remote, logTokenFile: token, logTlsCa: ca });
    expect(cfg.logCredentials).toMatchObject({ token: 'sixteen-chars-or-more-token', tls: { ca: Buffer.from('CA PEM') }, files: { tokenFile: token, tlsCa: ca } });
    expect(parseRunConfig(remote).logCredentials).toBeUndefined();
    expect(() => parseRunConfig({ ...remote, logTokenFile: join(d, 'nope') })).toThrow(/--log-token-file \S+nope: cannot read it \(ENOENT\)/);
    expect(() => parseRunConfig({ ...remote, logTokenFile: f('short', 'short\n') })).toThrow(/at least 16 characters/);
    expect(() => parseRunConfig({ ...remote, logTlsCert: ca })).toThrow(/--log-tls-cert and --log-tls-key go together/);
    expect(() => parseRunConfig({ ...remote, logCreds: ca })).toThrow(/--log-creds .* needs --log nats:\/\//);
    // A log on this host: guarded by file permissions, no credentials.
    expect(() => parseRunConfig({ ...base, log: true, logTokenFile: token })).toThrow(/are for a log on another host: they need --log HOST:PORT or --log nats/);
    expect(() => parseRunConfig({ ...base, log: true, logTarget: 'unix:/run/ftcp/logd.sock', logTlsCa: ca })).toThrow(/for a log on another host/);
    // NATS: a token (any length), or a .creds file, and TLS.
    const nats = { ...base, log: true, logTarget: 'nats://10.0.0.5:4222' };
    expect(parseRunConfig({ ...nats, logTokenFile: f('nats-token', 's3cret\n'), logTlsCa: ca }).logCredentials).toMatchObject({ token: 's3cret' });
    expect(() => parseRunConfig({ ...nats, logCreds: ca })).toThrow(/--log-creds \S+ca.pem: not a NATS credentials file/);
    const creds = f('u.creds', '-----BEGIN NATS USER JWT-----\nx\n------END NATS USER JWT------\n-----BEGIN USER NKEY SEED-----\ny\n------END USER NKEY SEED------\n');
    expect(parseRunConfig({ ...nats, logCreds: creds }).logCredentials?.creds).toBeInstanceOf(Uint8Array);
    expect(() => parseRunConfig({ ...nats, logCreds: creds, logTokenFile: token })).toThrow(/exclude each other/);
    rmSync(d, { recursive: true });
  });

  it('nice: -10 unless given, -20 to 19', () => {
    expect(parseRunConfig(base).nice).toBe(-10);
    expect(parseRunConfig({ ...base, nice: '0' }).nice).toBe(0);
    expect(parseRunConfig({ ...base, nice: -20 }).nice).toBe(-20);
    expect(() => parseRunConfig({ ...base, nice: '-21' })).toThrow(/--nice must be -20 to 19/);
    expect(() => parseRunConfig({ ...base, nice: '2.5' })).toThrow(/--nice must be an integer/);
    expect(() => parseRunConfig({ ...base, nice: 'high' })).toThrow(/--nice must be a number/);
  });

  it('deduplicates ports', () => {
    expect(parseRunConfig({ ...base, port: ['80', '80', '443'] }).ports).toEqual([80, 443]);
  });

  const bad: [string, Record<string, unknown>, RegExp][] = [
    ['missing name', { ...base, name: undefined }, /--name is required/],
    ['long name', { ...base, name: 'a-very-long-service' }, /--name must be 1-12/],
    ['bad vip', { ...base, vip: '10.77.0' }, /--vip must be an IPv4 or IPv6/],
    ['no port', { ...base, port: [] }, /at least one --port/],
    ['port range', { ...base, port: ['70000'] }, /between 1 and 65535/],
    ['port text', { ...base, port: ['http'] }, /--port must be a number/],
    ['no command', { ...base, command: [] }, /after `--`/],
    ['mixed families', { ...base, vip: 'fd77::2', hostAddr: '10.0.0.1' }, /same IP version/],
    ['host equals vip', { ...base, hostAddr: '10.77.0.2' }, /must differ/],
    ['bad restart', { ...base, restart: 'sometimes' }, /--restart must be/],
  ];
  for (const [what, raw, msg] of bad) {
    it(`rejects ${what} with a message naming the fix`, () => {
      expect(() => parseRunConfig(raw)).toThrow(ConfigError);
      expect(() => parseRunConfig(raw)).toThrow(msg);
    });
  }

  it('derives interface names that fit IFNAMSIZ', () => {
    const n = instanceNames('abcdefghijkl');
    expect(n.outerTun.length).toBeLessThanOrEqual(15);
    expect(n.netns).toBe('ftcp-abcdefghijkl');
  });
});
