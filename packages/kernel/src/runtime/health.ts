import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';

/**
 * The `--with-healthcheck` server: `GET /health` answers 200 `{"message":"OK"}`, or 503
 * `{"message":"Worker may be unresponsive at this time"}` when the last poll is older than
 * `querySeconds × 30` (spec §1.2). `GET /metrics` serves the Prometheus registry (a Stevedore addition).
 * @internal
 */
export async function startHealthServer(opts: {
  host: string;
  port: number;
  isHealthy: () => boolean;
  /** Prometheus exposition text for `GET /metrics`. */
  metrics?: () => string;
}): Promise<{ url: string; close(): Promise<void> }> {
  const server: Server = createServer((req, res) => {
    if (
      opts.metrics &&
      req.method === 'GET' &&
      (req.url === '/metrics' || req.url?.startsWith('/metrics?'))
    ) {
      res.writeHead(200, { 'content-type': 'text/plain; version=0.0.4; charset=utf-8' }).end(opts.metrics());
      return;
    }
    const ok = req.method === 'GET' && (req.url === '/health' || req.url?.startsWith('/health?'));
    if (!ok) {
      res.writeHead(404, { 'content-type': 'application/json' }).end(JSON.stringify({ detail: 'Not Found' }));
      return;
    }
    const healthy = opts.isHealthy();
    res
      .writeHead(healthy ? 200 : 503, { 'content-type': 'application/json' })
      .end(JSON.stringify({ message: healthy ? 'OK' : 'Worker may be unresponsive at this time' }));
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(opts.port, opts.host, () => resolve());
  });
  const addr = server.address() as AddressInfo;
  return {
    url: `http://${addr.address.includes(':') ? `[${addr.address}]` : addr.address}:${addr.port}`,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}
