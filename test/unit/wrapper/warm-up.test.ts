import { describe, expect, it } from 'vitest';
import { warmUpWrapper } from '../../../src/wrapper/warm-up.js';

describe('the JIT warm-up drill', () => {
  it('restores every synthetic connection after a crash, and again after adoption', async () => {
    const r = await warmUpWrapper({ vnetHdrLen: 0, connections: 40 });
    expect(r).toMatchObject({ connections: 40, restored: 40, adopted: 40 });
    expect(r.nudges).toBe(20 * 4); // half have a byte in flight; 4 errors each after a 1 s outage
    // Once restored, each connection carries another request and answer, in both phases.
    expect(r.exchanged).toBe(80);
    // The scripted apps of ports with bit 3 set (16 of ports 20000-20039) answer only after their
    // restore, checked as regenerated output all the same: nothing diverges. After the adoption
    // they also echo the byte in flight (8 of those 16 had one): new output, sent to the client.
    expect(r.lateAnswers).toBe(16 + 16 + 8);
    expect(r.divergences).toBe(0);
    expect(r.echoes).toBe(20);
  });
  it('runs the same steps with virtio-net headers on the packets', async () => {
    const r = await warmUpWrapper({ vnetHdrLen: 10, connections: 5 });
    expect(r).toMatchObject({ connections: 5, restored: 5, adopted: 5, exchanged: 10 });
  });
});

describe('warm-up drill settings', () => {
  it('FTCP_WARM_UP_CONNECTIONS: default 1000, 0 turns it off, anything else is refused with the fix', async () => {
    const { warmUpConnections } = await import('../../../src/run/warm-up-schedule.js');
    expect(warmUpConnections({})).toBe(1000);
    expect(warmUpConnections({ FTCP_WARM_UP_CONNECTIONS: '0' })).toBe(0);
    expect(warmUpConnections({ FTCP_WARM_UP_CONNECTIONS: '50' })).toBe(50);
    expect(() => warmUpConnections({ FTCP_WARM_UP_CONNECTIONS: 'lots' })).toThrow(/integer 0-10000/);
    expect(() => warmUpConnections({ FTCP_WARM_UP_CONNECTIONS: '-1' })).toThrow(/FTCP_WARM_UP_CONNECTIONS/);
  });
  it('a drill asked to stop ends early', async () => {
    const r = await warmUpWrapper({ vnetHdrLen: 0, connections: 2000, stop: () => true });
    expect(r.restored).toBe(0);
    expect(r.adopted).toBe(0);
  });
});
