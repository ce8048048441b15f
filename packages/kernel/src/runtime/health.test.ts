import { describe, expect, it } from 'vitest';
import { startHealthServer } from './health.js';

describe('health server (--with-healthcheck)', () => {
  it("answers 200 OK while healthy and 503 with Prefect's message once the last poll is too old", async () => {
    let healthy = true;
    const server = await startHealthServer({ host: '127.0.0.1', port: 0, isHealthy: () => healthy });
    try {
      const ok = await fetch(`${server.url}/health`);
      expect([ok.status, await ok.json()]).toEqual([200, { message: 'OK' }]);
      healthy = false;
      const bad = await fetch(`${server.url}/health`);
      expect([bad.status, await bad.json()]).toEqual([
        503,
        { message: 'Worker may be unresponsive at this time' },
      ]);
    } finally {
      await server.close();
    }
  });

  it('serves the Prometheus registry at /metrics', async () => {
    const server = await startHealthServer({
      host: '127.0.0.1',
      port: 0,
      isHealthy: () => true,
      metrics: () => '# TYPE x counter\nx 1\n',
    });
    try {
      const res = await fetch(`${server.url}/metrics`);
      expect(res.status).toBe(200);
      expect(res.headers.get('content-type')).toBe('text/plain; version=0.0.4; charset=utf-8');
      expect(await res.text()).toBe('# TYPE x counter\nx 1\n');
    } finally {
      await server.close();
    }
  });
});
