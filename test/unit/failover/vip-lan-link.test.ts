import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { pickLanLink, prefixContains, vipRouteDevice, type IpLinkAddrs } from '../../../src/failover/vip-lan-link.js';
import { VipError } from '../../../src/failover/vip-errors.js';

const link = (ifname: string, ...addrs: [string, number, string?][]): IpLinkAddrs => ({
  ifname,
  flags: ifname === 'lo' ? ['LOOPBACK', 'UP'] : ['BROADCAST', 'UP'],
  addr_info: addrs.map(([local, prefixlen, scope]) => ({ family: local.includes(':') ? 'inet6' : 'inet', local, prefixlen, scope: scope ?? 'global' })),
});

const codeOf = (fn: () => unknown): string | undefined => {
  try {
    fn();
    return undefined;
  } catch (err) {
    expect(err).toBeInstanceOf(VipError);
    return (err as VipError).code;
  }
};

describe('prefixContains', () => {
  it('matches whole and partial octets, IPv4 and IPv6', () => {
    expect(prefixContains('10.1.2.3', 24, '10.1.2.200')).toBe(true);
    expect(prefixContains('10.1.2.3', 24, '10.1.3.1')).toBe(false);
    expect(prefixContains('10.1.2.3', 23, '10.1.3.1')).toBe(true);
    expect(prefixContains('10.1.2.3', 0, '192.168.0.1')).toBe(true);
    expect(prefixContains('fd00:1::5', 64, 'fd00:1::9')).toBe(true);
    expect(prefixContains('fd00:1::5', 64, 'fd00:2::9')).toBe(false);
  });
  it('never matches across families or with a bad prefix length', () => {
    expect(prefixContains('10.1.2.3', 0, '::1')).toBe(false);
    expect(prefixContains('10.1.2.3', 33, '10.1.2.3')).toBe(false);
    expect(prefixContains('bogus', 8, '10.1.2.3')).toBe(false);
  });
  it('agrees with a numeric mask for every IPv4 pair', () => {
    const ip4 = fc.tuple(fc.nat(255), fc.nat(255), fc.nat(255), fc.nat(255));
    fc.assert(
      fc.property(ip4, ip4, fc.integer({ min: 0, max: 32 }), (a, b, plen) => {
        const num = (x: number[]): number => ((x[0]! << 24) | (x[1]! << 16) | (x[2]! << 8) | x[3]!) >>> 0;
        const mask = plen === 0 ? 0 : (0xffffffff << (32 - plen)) >>> 0;
        const want = ((num(a) & mask) >>> 0) === ((num(b) & mask) >>> 0);
        expect(prefixContains(a.join('.'), plen, b.join('.'))).toBe(want);
      }),
    );
  });
});

describe('pickLanLink', () => {
  const host = [link('lo', ['127.0.0.1', 8]), link('eth0', ['192.168.1.5', 24]), link('lan0', ['10.9.8.10', 24]), link('ft-web', ['10.77.0.1', 32])];

  it('picks the link whose subnet holds the VIP', () => {
    expect(pickLanLink(host, '10.9.8.100')).toEqual({ ifname: 'lan0', local: '10.9.8.10', prefixlen: 24 });
    expect(pickLanLink(host, '192.168.1.77').ifname).toBe('eth0');
  });
  it('prefers the longest prefix', () => {
    const links = [link('wide', ['10.0.0.1', 8]), link('narrow', ['10.9.8.1', 24])];
    expect(pickLanLink(links, '10.9.8.100').ifname).toBe('narrow');
  });
  it('ignores loopback, host routes and link-local scope', () => {
    expect(codeOf(() => pickLanLink(host, '127.0.0.9'))).toBe('no-lan-link');
    expect(codeOf(() => pickLanLink(host, '10.77.0.2'))).toBe('no-lan-link');
    expect(codeOf(() => pickLanLink([link('eth0', ['fe80::1', 64, 'link'])], 'fe80::9'))).toBe('no-lan-link');
  });
  it('refuses a VIP that is a local address, an ambiguous one and a non-address', () => {
    expect(codeOf(() => pickLanLink([link('eth0', ['10.9.8.100', 24])], '10.9.8.100'))).toBe('vip-is-local');
    expect(codeOf(() => pickLanLink([link('a', ['10.9.8.1', 24]), link('b', ['10.9.8.2', 24])], '10.9.8.100'))).toBe('ambiguous-lan-link');
    expect(codeOf(() => pickLanLink(host, 'not-an-ip'))).toBe('bad-vip');
  });
  it('one link with two addresses in the subnet is not ambiguous', () => {
    expect(pickLanLink([link('lan0', ['10.9.8.1', 24], ['10.9.8.2', 24])], '10.9.8.100').ifname).toBe('lan0');
  });
  it('matches the family of the VIP', () => {
    const links = [link('lan0', ['10.9.8.1', 24], ['fd00:9::1', 64])];
    expect(pickLanLink(links, 'fd00:9::100').local).toBe('fd00:9::1');
  });
  it('messages say what to fix', () => {
    expect(() => pickLanLink(host, '172.16.0.1')).toThrow(/--lan-if/);
  });
});

describe('vipRouteDevice', () => {
  it('returns the TUN the VIP is routed to', () => {
    expect(vipRouteDevice([{ type: 'unicast', dst: '10.9.8.100', dev: 'ft-web' }], '10.9.8.100', 'lan0')).toBe('ft-web');
    expect(vipRouteDevice([{ dst: '10.9.8.100', dev: 'ft-web' }], '10.9.8.100', 'lan0', 'ft-web')).toBe('ft-web');
  });
  it('refuses a VIP routed to the LAN, elsewhere, local or not at all', () => {
    expect(codeOf(() => vipRouteDevice([{ dst: '10.9.8.100', dev: 'lan0' }], '10.9.8.100', 'lan0'))).toBe('not-routed');
    expect(codeOf(() => vipRouteDevice([{ dst: '10.9.8.100', dev: 'other' }], '10.9.8.100', 'lan0', 'ft-web'))).toBe('not-routed');
    expect(codeOf(() => vipRouteDevice([{ type: 'local', dst: '10.9.8.100', dev: 'lo' }], '10.9.8.100', 'lan0'))).toBe('vip-is-local');
    expect(codeOf(() => vipRouteDevice([], '10.9.8.100', 'lan0'))).toBe('not-routed');
  });
});
