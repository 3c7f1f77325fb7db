// `--metrics HOST:PORT`: serves the registry's text format on /metrics (read-only; any other path
// or method is 404/405). A non-loopback bind is allowed: nothing here changes the daemon.
import { createServer, type Server } from 'node:http';
import type { Registry } from 'prom-client';
import { MetricsAddressError, parseHostPort, type HostPort } from './host-port.js';

export { isLoopback, MetricsAddressError, parseHostPort, type HostPort } from './host-port.js';

export interface MetricsServer {
  /** The bound address and port (the port is the real one when 0 was asked). */
  readonly host: string;
  readonly port: number;
  readonly url: string;
  close(): Promise<void>;
}

export async function startMetricsServer(hostPort: string | HostPort, registry: Registry): Promise<MetricsServer> {
  const { host, port } = typeof hostPort === 'string' ? parseHostPort(hostPort) : hostPort;
  const server: Server = createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0];
    if (path !== '/metrics') {
      res.writeHead(404, { 'content-type': 'text/plain' }).end('ftcp serves only /metrics\n');
      return;
    }
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.writeHead(405, { allow: 'GET, HEAD', 'content-type': 'text/plain' }).end('GET /metrics\n');
      return;
    }
    registry.metrics().then(
      (text) => {
        res.writeHead(200, { 'content-type': registry.contentType });
        res.end(req.method === 'HEAD' ? undefined : text);
      },
      (err: unknown) => {
        res.writeHead(500, { 'content-type': 'text/plain' }).end(`cannot collect metrics: ${err instanceof Error ? err.message : String(err)}\n`);
      },
    );
  });
  // A scraper that holds a connection open must not keep the daemon from stopping.
  server.keepAliveTimeout = 5_000;
  server.headersTimeout = 10_000;
  server.requestTimeout = 10_000;
  await new Promise<void>((resolve, reject) => {
    server.once('error', (err: NodeJS.ErrnoException) => {
      const why = err.code === 'EADDRINUSE' ? 'the port is in use' : err.code === 'EADDRNOTAVAIL' ? 'no such local address' : err.code === 'EACCES' ? 'permission denied' : (err.code ?? err.message);
      reject(new MetricsAddressError(`--metrics ${host}:${port}: cannot listen: ${why}`));
    });
    server.listen(port, host === '' ? undefined : host, () => resolve());
  });
  const addr = server.address();
  const boundPort = typeof addr === 'object' && addr ? addr.port : port;
  const boundHost = typeof addr === 'object' && addr ? addr.address : host;
  return {
    host: boundHost,
    port: boundPort,
    url: `http://${boundHost.includes(':') ? `[${boundHost}]` : boundHost}:${boundPort}/metrics`,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}
