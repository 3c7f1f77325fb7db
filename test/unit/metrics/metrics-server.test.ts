// The /metrics endpoint on 127.0.0.1 with an ephemeral port.
import { afterAll, describe, expect, it } from 'vitest';
import { Counter, Registry } from 'prom-client';
import { startMetricsServer, type MetricsServer } from '../../../src/metrics/metrics-server.js';

const servers: MetricsServer[] = [];
afterAll(async () => {
  for (const s of servers) await s.close();
});

describe('startMetricsServer', () => {
  it('serves GET and HEAD /metrics, refuses other paths and methods, names a busy port', async () => {
    const registry = new Registry();
    new Counter({ name: 'demo_total', help: 'a demo', registers: [registry] }).inc(3);
    const s = await startMetricsServer('127.0.0.1:0', registry);
    servers.push(s);
    expect(s.host).toBe('127.0.0.1');
    expect(s.port).toBeGreaterThan(0);
    expect(s.url).toBe(`http://127.0.0.1:${s.port}/metrics`);
    const res = await fetch(`${s.url}?x=1`);
    expect(res.status).toBe(200);
    expect(await res.text()).toContain('demo_total 3');
    const head = await fetch(s.url, { method: 'HEAD' });
    expect(head.status).toBe(200);
    expect(await head.text()).toBe('');
    expect((await fetch(`http://127.0.0.1:${s.port}/other`)).status).toBe(404);
    expect((await fetch(s.url, { method: 'DELETE' })).status).toBe(405);
    await expect(startMetricsServer({ host: '127.0.0.1', port: s.port }, registry)).rejects.toThrow(
      `--metrics 127.0.0.1:${s.port}: cannot listen: the port is in use`,
    );
    await expect(startMetricsServer('nonsense', registry)).rejects.toThrow(/expected HOST:PORT/);
  });

  it('close() ends kept-alive scrapers too', async () => {
    const s = await startMetricsServer('[::1]:0', new Registry()).catch(() => undefined);
    if (!s) return; // no IPv6 loopback here
    expect(s.url).toMatch(/^http:\/\/\[::1\]:\d+\/metrics$/);
    expect((await fetch(s.url)).status).toBe(200);
    await s.close();
  });
});
