import { describe, expect, it } from 'vitest';
import { announceToolsProblem, arpingArgv, parseArpingSent } from '../../../src/failover/vip-announce.js';
import { ifSysctl } from '../../../src/failover/vip-sysctl.js';

describe('gratuitous ARP command', () => {
  it('is unsolicited arping on the LAN link, line-buffered', () => {
    expect(arpingArgv('10.9.8.100', 'lan0', 3)).toEqual(['stdbuf', '-oL', 'arping', '-U', '-c', '3', '-I', 'lan0', '10.9.8.100']);
  });
  it('refuses a silly count', () => {
    expect(() => arpingArgv('10.9.8.100', 'lan0', 0)).toThrow(RangeError);
    expect(() => arpingArgv('10.9.8.100', 'lan0', 1.5)).toThrow(RangeError);
  });
  it('reads the count arping reports', () => {
    expect(parseArpingSent('ARPING 10.9.8.100 from 10.9.8.100 lan0\nSent 3 probes (3 broadcast(s))\nReceived 0 response(s)\n')).toBe(3);
    expect(parseArpingSent('Sent 1 probe (1 broadcast(s))\n')).toBe(1);
    expect(parseArpingSent('')).toBe(0);
  });
});

describe('per-interface sysctl paths', () => {
  it('keep interface names as they are (dots included)', () => {
    expect(ifSysctl('ipv4/conf', 'eth0.100', 'forwarding')).toBe('net/ipv4/conf/eth0.100/forwarding');
    expect(ifSysctl('ipv4/neigh', 'lan0', 'proxy_delay')).toBe('net/ipv4/neigh/lan0/proxy_delay');
  });
  it('refuse names that would leave the interface directory', () => {
    for (const bad of ['', '..', 'a/b', 'x'.repeat(16), 'a b']) expect(() => ifSysctl('ipv4/conf', bad, 'forwarding')).toThrow();
  });
});

describe('saved LAN link settings', () => {
  it('are keyed by namespace, link name and ifindex', async () => {
    const { lanSettingsFile } = await import('../../../src/failover/vip-lan-settings.js');
    expect(lanSettingsFile(4026531840, 'eth0', 2, '/run/ftcp')).toBe('/run/ftcp/vip-lan-4026531840-eth0-2.json');
    expect(lanSettingsFile(1, 'eth0', 2, '/d')).not.toBe(lanSettingsFile(1, 'eth0', 3, '/d'));
  });
});

describe('arping answers', () => {
  it('gives the MACs that answered, lower case', async () => {
    const { parseArpingReplies } = await import('../../../src/failover/vip-probe.js');
    const out = 'ARPING 10.5.5.2 from 0.0.0.0 d0\nUnicast reply from 10.5.5.2 [32:34:15:DE:9A:45]  0.528ms\nSent 1 probes (1 broadcast(s))\nReceived 1 response(s)\n';
    expect(parseArpingReplies(out)).toEqual(['32:34:15:de:9a:45']);
    expect(parseArpingReplies('ARPING 10.5.5.9 from 0.0.0.0 d0\nSent 1 probes (1 broadcast(s))\nReceived 0 response(s)\n')).toEqual([]);
  });
});

describe('announceToolsProblem', () => {
  it('names the package to install when a tool is missing', () => {
    expect(announceToolsProblem('ENOENT', '')).toMatch(/install Debian coreutils/);
    expect(announceToolsProblem(127, "stdbuf: failed to run command 'arping': No such file or directory")).toMatch(/install Debian iputils-arping/);
  });

  it('names the capability when arping is there but may not run', () => {
    expect(announceToolsProblem(126, "stdbuf: failed to run command 'arping': Operation not permitted")).toMatch(/needs CAP_NET_RAW in the capability bounding set/);
  });
});
