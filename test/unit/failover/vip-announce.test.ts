import { describe, expect, it } from 'vitest';
import { announceVip, packetSocketProblem, parseMac } from '../../../src/failover/vip-announce.js';
import { silentLogger } from '../../../src/util/logger.js';
import { ifSysctl } from '../../../src/failover/vip-sysctl.js';

describe('gratuitous ARP', () => {
  it('refuses a silly count', () => {
    const log = silentLogger();
    const link = { ifindex: 1, mac: '02:00:00:00:00:01' };
    expect(() => announceVip('10.9.8.100', 'lan0', link, 0, log)).toThrow(RangeError);
    expect(() => announceVip('10.9.8.100', 'lan0', link, 1.5, log)).toThrow(RangeError);
  });
  it('sends from the link\'s Ethernet address', () => {
    expect(parseMac('32:34:15:de:9A:45', 'lan0')).toEqual(Buffer.from([0x32, 0x34, 0x15, 0xde, 0x9a, 0x45]));
    expect(() => parseMac('00:00:00:00:00:00', 'lo')).toThrow(/lo has no Ethernet address to announce the VIP from/);
    expect(() => parseMac('', 'tun0')).toThrow(/tun0 has no Ethernet address/);
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

describe('packetSocketProblem', () => {
  it('names the capability when the packet socket is refused', () => {
    expect(packetSocketProblem('EPERM', 'socket(AF_PACKET): EPERM')).toMatch(/Operation not permitted\): it needs CAP_NET_RAW/);
    expect(packetSocketProblem('EAFNOSUPPORT', '')).toMatch(/allow AF_PACKET/);
    expect(packetSocketProblem('ENODEV', 'sendto: ENODEV')).toMatch(/cannot be used: sendto: ENODEV/);
  });
});
