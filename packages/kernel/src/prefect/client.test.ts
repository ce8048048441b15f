import { getEventListeners } from 'node:events';
import { createServer, type IncomingHttpHeaders, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { isStevedoreError, kernelErrorCodes, PrefectApiError } from '../errors.js';
import { createMemoryLogger } from '../logger.js';
import type { PrefectApi } from './api.js';
import { createPrefectClient, formatScheduledBefore, type PrefectClientOptions } from './client.js';

// ---------------------------------------------------------------------------------------------------------
// A tiny Prefect-ish HTTP server: every test routes requests itself and inspects what was received.

interface Received {
  method: string;
  /** Path below `/api`. */
  path: string;
  query: URLSearchParams;
  headers: IncomingHttpHeaders;
  body: string;
  json: unknown;
}

type Reply =
  | { status?: number; headers?: Record<string, string>; body?: unknown; delayMs?: number }
  | 'hang'
  | 'destroy';

type Handler = (req: Received) => Reply | Promise<Reply>;

interface TestServer {
  url: string;
  port: number;
  requests: Received[];
  close(): Promise<void>;
}

const servers: TestServer[] = [];

afterEach(async () => {
  await Promise.all(servers.splice(0).map((s) => s.close()));
});

async function startServer(handler: Handler): Promise<TestServer> {
  const requests: Received[] = [];
  const server: Server = createServer((req, res: ServerResponse) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', async () => {
      const url = new URL(req.url ?? '/', 'http://localhost');
      const body = Buffer.concat(chunks).toString('utf8');
      let json: unknown;
      try {
        json = body ? JSON.parse(body) : undefined;
      } catch {
        json = undefined;
      }
      const received: Received = {
        method: req.method ?? '',
        path: url.pathname.replace(/^\/api/, ''),
        query: url.searchParams,
        headers: req.headers,
        body,
        json,
      };
      requests.push(received);
      const reply = await handler(received);
      if (reply === 'hang') return;
      if (reply === 'destroy') {
        req.socket.destroy();
        return;
      }
      if (reply.delayMs) await new Promise((r) => setTimeout(r, reply.delayMs));
      const headers: Record<string, string> = { ...reply.headers };
      let payload = '';
      if (typeof reply.body === 'string') payload = reply.body;
      else if (reply.body !== undefined) {
        payload = JSON.stringify(reply.body);
        headers['content-type'] ??= 'application/json';
      }
      res.writeHead(reply.status ?? 200, headers);
      res.end(payload);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  const ts: TestServer = {
    url: `http://127.0.0.1:${port}/api`,
    port,
    requests,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
  servers.push(ts);
  return ts;
}

async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

function harness(server: { url: string }, overrides: Partial<PrefectClientOptions> = {}) {
  const delays: number[] = [];
  const logger = createMemoryLogger();
  const client = createPrefectClient({
    apiUrl: server.url,
    csrfEnabled: false,
    sleep: async (ms) => {
      delays.push(ms);
    },
    logger,
    ...overrides,
  });
  return { client, delays, logger };
}

const POOL = {
  id: '2f4e8c5a-1d2b-4c3e-9f0a-123456789abc',
  name: 'ecs-pool',
  type: 'ecs',
  base_job_template: {},
};
const UUID_RE = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

async function rejection(p: Promise<unknown>): Promise<PrefectApiError> {
  try {
    await p;
  } catch (e) {
    return e as PrefectApiError;
  }
  throw new Error('expected a rejection');
}

function fetchFailed(code: string, message = `${code} happened`): TypeError {
  return new TypeError('fetch failed', { cause: Object.assign(new Error(message), { code }) });
}

// ---------------------------------------------------------------------------------------------------------

describe('headers', () => {
  it('sends the API key as a bearer token, the API version and the default user agent', async () => {
    const server = await startServer(() => ({ body: POOL }));
    const { client } = harness(server, { apiKey: 'pnu_abcdef123456' });
    await client.readWorkPool('ecs-pool');
    const [req] = server.requests;
    expect(req?.headers.authorization).toBe('Bearer pnu_abcdef123456');
    expect(req?.headers['x-prefect-api-version']).toBe('0.8.4');
    expect(req?.headers['user-agent']).toMatch(/^stevedore\/\d+\.\d+\.\d+\S* \(API 0\.8\.4\)$/);
  });

  it('sends the auth string as basic auth, and it wins over the API key', async () => {
    const server = await startServer(() => ({ body: POOL }));
    const { client } = harness(server, { apiKey: 'pnu_abcdef123456', authString: 'admin:pass' });
    await client.readWorkPool('ecs-pool');
    expect(server.requests[0]?.headers.authorization).toBe(
      `Basic ${Buffer.from('admin:pass').toString('base64')}`,
    );
  });

  it('sends no Authorization header without credentials', async () => {
    const server = await startServer(() => ({ body: POOL }));
    const { client } = harness(server);
    await client.readWorkPool('ecs-pool');
    expect(server.requests[0]?.headers.authorization).toBeUndefined();
  });

  it('honours a user agent override', async () => {
    const server = await startServer(() => ({ body: POOL }));
    const { client } = harness(server, { userAgent: 'custom/1.0' });
    await client.readWorkPool('ecs-pool');
    expect(server.requests[0]?.headers['user-agent']).toBe('custom/1.0');
  });

  it('adds custom headers except user-agent and the CSRF headers, with a warning for each ignored one', async () => {
    const server = await startServer(() => ({ body: POOL }));
    const { client, logger } = harness(server, {
      customHeaders: {
        'X-Team': 'data',
        'user-agent': 'evil/1.0',
        'Prefect-Csrf-Token': 'forged',
        'prefect-csrf-client': 'forged',
      },
    });
    await client.readWorkPool('ecs-pool');
    const h = server.requests[0]?.headers;
    expect(h?.['x-team']).toBe('data');
    expect(h?.['user-agent']).toMatch(/^stevedore\//);
    expect(h?.['prefect-csrf-token']).toBeUndefined();
    expect(h?.['prefect-csrf-client']).toBeUndefined();
    const warnings = logger.records.filter((r) => r.level === 'warn').map((r) => r.message);
    expect(warnings).toHaveLength(3);
    expect(warnings[0]).toContain("Custom header 'user-agent' is ignored");
  });

  it('rejects an invalid custom header at creation with a config error', () => {
    expect(() =>
      createPrefectClient({ apiUrl: 'http://127.0.0.1:1/api', customHeaders: { 'Bad Header': 'x' } }),
    ).toThrow(expect.objectContaining({ code: kernelErrorCodes.CONFIG_INVALID }));
  });

  it('reads the worker attribution headers on every request', async () => {
    const server = await startServer(() => ({ body: POOL }));
    let workerId: string | undefined;
    const { client } = harness(server, { workerName: () => 'worker-1', workerId: () => workerId });
    await client.readWorkPool('ecs-pool');
    workerId = 'a9a7c5f0-0000-4000-8000-000000000001';
    await client.readWorkPool('ecs-pool');
    expect(server.requests[0]?.headers['x-prefect-worker-name']).toBe('worker-1');
    expect(server.requests[0]?.headers['x-prefect-worker-id']).toBeUndefined();
    expect(server.requests[1]?.headers['x-prefect-worker-id']).toBe(workerId);
  });
});

// ---------------------------------------------------------------------------------------------------------

describe('CSRF', () => {
  function csrfServer(opts: { expiration?: string; rejectFirst?: boolean; tokenDelayMs?: number } = {}) {
    let issued = 0;
    let rejected = false;
    return startServer((req) => {
      if (req.path === '/csrf-token') {
        issued++;
        return {
          body: {
            token: `token-${issued}`,
            client: req.query.get('client'),
            expiration: opts.expiration ?? '2999-01-01T00:00:00.000000Z',
          },
          delayMs: opts.tokenDelayMs,
        };
      }
      if (opts.rejectFirst && !rejected) {
        rejected = true;
        return { status: 403, body: { detail: 'Invalid CSRF token or client identifier.' } };
      }
      return { status: 204 };
    });
  }

  it('fetches a token before the first change request and sends it with the client id', async () => {
    const server = await csrfServer();
    const { client } = harness(server, { csrfEnabled: true });
    await client.updateWorkPool('p', {
      base_job_template: { job_configuration: {}, variables: { properties: {} } },
    });
    await client.setInfrastructurePid('run-1', 'cluster::arn');
    const [token, first, second] = server.requests;
    expect(token?.method).toBe('GET');
    expect(token?.path).toBe('/csrf-token');
    const clientId = token?.query.get('client');
    expect(clientId).toMatch(UUID_RE);
    expect(first?.headers['prefect-csrf-token']).toBe('token-1');
    expect(first?.headers['prefect-csrf-client']).toBe(clientId);
    expect(second?.headers['prefect-csrf-token']).toBe('token-1');
    expect(server.requests).toHaveLength(3);
  });

  it('does not fetch a token for GET requests', async () => {
    const server = await startServer(() => ({ body: POOL }));
    const { client } = harness(server, { csrfEnabled: true });
    await client.readWorkPool('ecs-pool');
    expect(server.requests.map((r) => r.path)).toEqual(['/work_pools/ecs-pool']);
    expect(server.requests[0]?.headers['prefect-csrf-token']).toBeUndefined();
  });

  it('turns CSRF off for good when the token endpoint answers 404', async () => {
    const server = await startServer((req) =>
      req.path === '/csrf-token' ? { status: 404, body: { detail: 'Not Found' } } : { status: 204 },
    );
    const { client } = harness(server, { csrfEnabled: true });
    await client.setInfrastructurePid('run-1', 'x');
    await client.setInfrastructurePid('run-1', 'y');
    expect(server.requests.map((r) => `${r.method} ${r.path}`)).toEqual([
      'GET /csrf-token',
      'PATCH /flow_runs/run-1',
      'PATCH /flow_runs/run-1',
    ]);
    expect(server.requests[1]?.headers['prefect-csrf-token']).toBeUndefined();
  });

  it('turns CSRF off when the server says "CSRF protection is disabled."', async () => {
    const server = await startServer((req) =>
      req.path === '/csrf-token'
        ? { status: 422, body: { detail: 'CSRF protection is disabled.' } }
        : { status: 204 },
    );
    const { client } = harness(server, { csrfEnabled: true });
    await client.setInfrastructurePid('run-1', 'x');
    await client.setInfrastructurePid('run-1', 'y');
    expect(server.requests.filter((r) => r.path === '/csrf-token')).toHaveLength(1);
    expect(server.requests[2]?.headers['prefect-csrf-token']).toBeUndefined();
  });

  it('fails the request when the token endpoint fails otherwise', async () => {
    const server = await startServer((req) =>
      req.path === '/csrf-token' ? { status: 422, body: { detail: 'client is required' } } : { status: 204 },
    );
    const { client } = harness(server, { csrfEnabled: true });
    const err = await rejection(client.setInfrastructurePid('run-1', 'x'));
    expect(err.code).toBe(kernelErrorCodes.PREFECT_API);
    expect(err.message).toBe('GET /csrf-token failed: 422 Unprocessable Entity: client is required');
    expect(server.requests).toHaveLength(1);
  });

  it('refreshes the token and retries once after a 403 "Invalid CSRF token"', async () => {
    const server = await csrfServer({ rejectFirst: true });
    const { client, delays } = harness(server, { csrfEnabled: true });
    await client.setInfrastructurePid('run-1', 'x');
    expect(server.requests.map((r) => r.path)).toEqual([
      '/csrf-token',
      '/flow_runs/run-1',
      '/csrf-token',
      '/flow_runs/run-1',
    ]);
    expect(server.requests[3]?.headers['prefect-csrf-token']).toBe('token-2');
    expect(delays).toEqual([]);
  });

  it('gives up when the refreshed token is rejected again', async () => {
    const server = await startServer((req) =>
      req.path === '/csrf-token'
        ? { body: { token: 't', client: 'c', expiration: '2999-01-01T00:00:00Z' } }
        : { status: 403, body: { detail: 'Invalid CSRF token or client identifier.' } },
    );
    const { client } = harness(server, { csrfEnabled: true });
    const err = await rejection(client.setInfrastructurePid('run-1', 'x'));
    expect(err.status).toBe(403);
    expect(server.requests.filter((r) => r.path === '/flow_runs/run-1')).toHaveLength(2);
  });

  it('refreshes an expired token', async () => {
    const server = await csrfServer({ expiration: '2030-01-01T00:00:00+00:00' });
    let now = new Date('2029-12-31T23:59:00Z');
    const { client } = harness(server, { csrfEnabled: true, clock: () => now });
    await client.setInfrastructurePid('run-1', 'x');
    await client.setInfrastructurePid('run-1', 'x');
    now = new Date('2030-01-01T00:00:01Z');
    await client.setInfrastructurePid('run-1', 'x');
    expect(server.requests.filter((r) => r.path === '/csrf-token')).toHaveLength(2);
    expect(server.requests.at(-1)?.headers['prefect-csrf-token']).toBe('token-2');
  });

  it('shares one in-flight token fetch between concurrent requests', async () => {
    const server = await csrfServer({ tokenDelayMs: 50 });
    const { client } = harness(server, { csrfEnabled: true });
    await Promise.all([
      client.setInfrastructurePid('a', '1'),
      client.setInfrastructurePid('b', '2'),
      client.createLogs([]),
    ]);
    expect(server.requests.filter((r) => r.path === '/csrf-token')).toHaveLength(1);
    for (const r of server.requests.filter((x) => x.path !== '/csrf-token')) {
      expect(r.headers['prefect-csrf-token']).toBe('token-1');
    }
  });

  it('is never used against Prefect Cloud', async () => {
    const server = await csrfServer();
    const { client } = harness(server, {
      csrfEnabled: true,
      cloudApiUrl: `http://127.0.0.1:${server.port}/api`,
    });
    await client.setInfrastructurePid('run-1', 'x');
    expect(server.requests.map((r) => r.path)).toEqual(['/flow_runs/run-1']);
    expect(server.requests[0]?.headers['prefect-csrf-token']).toBeUndefined();
  });
});

// ---------------------------------------------------------------------------------------------------------

describe('retries', () => {
  function failThen(failures: Reply[], success: Reply = { body: POOL }) {
    let n = 0;
    return () => failures[n++] ?? success;
  }

  it('retries a 429 after Retry-After seconds, jittered to between 1 and 1.2 times', async () => {
    const server = await startServer(
      failThen([429, 429, 429].map(() => ({ status: 429, headers: { 'Retry-After': '3' } }))),
    );
    let i = 0;
    const randoms = [0, 0.5, 0.999999];
    const { client, delays } = harness(server, { random: () => randoms[i++] ?? 0.5 });
    await expect(client.readWorkPool('ecs-pool')).resolves.toMatchObject({ name: 'ecs-pool' });
    expect(delays).toHaveLength(3);
    for (const d of delays) {
      expect(d).toBeGreaterThanOrEqual(3000);
      expect(d).toBeLessThanOrEqual(3600);
    }
    expect(delays[0]).toBeCloseTo(3000, 0);
  });

  it('accepts Retry-After as an HTTP date', async () => {
    const now = new Date('2025-01-01T00:00:00Z');
    const server = await startServer(
      failThen([{ status: 503, headers: { 'Retry-After': 'Wed, 01 Jan 2025 00:00:10 GMT' } }]),
    );
    const { client, delays } = harness(server, { clock: () => now, random: () => 0 });
    await client.readWorkPool('ecs-pool');
    expect(delays).toHaveLength(1);
    expect(delays[0]).toBeGreaterThanOrEqual(10_000);
    expect(delays[0]).toBeLessThanOrEqual(12_000);
  });

  it('backs off exponentially on 503 (2**attempt seconds, clamped-Poisson jitter of 0.2)', async () => {
    const server = await startServer(failThen(Array.from({ length: 5 }, () => ({ status: 503 }))));
    const { client, delays } = harness(server);
    await client.readWorkPool('ecs-pool');
    expect(server.requests).toHaveLength(6);
    expect(delays).toHaveLength(5);
    delays.forEach((d, i) => {
      const base = 2 ** (i + 1) * 1000;
      expect(d).toBeGreaterThanOrEqual(base * 0.82);
      expect(d).toBeLessThanOrEqual(base * 1.2);
    });
  });

  it('uses exact powers of two without jitter', async () => {
    const server = await startServer(failThen([{ status: 502 }, { status: 502 }]));
    const { client, delays } = harness(server, { jitterFactor: 0 });
    await client.readWorkPool('ecs-pool');
    expect(delays).toEqual([2000, 4000]);
  });

  it('gives up after maxRetries and reports the last status', async () => {
    const server = await startServer(() => ({ status: 503, body: { detail: 'Service Unavailable' } }));
    const { client, delays } = harness(server, { maxRetries: 2 });
    const err = await rejection(client.readWorkPool('ecs-pool'));
    expect(server.requests).toHaveLength(3);
    expect(delays).toHaveLength(2);
    expect(err.code).toBe(kernelErrorCodes.PREFECT_API);
    expect(err.status).toBe(503);
    expect(err.isTransient).toBe(true);
    expect(err.message).toBe('GET /work_pools/ecs-pool failed: 503 Service Unavailable: Service Unavailable');
  });

  it('retries 408 and the extra codes, but not other errors', async () => {
    const server = await startServer(failThen([{ status: 408 }, { status: 500 }, { status: 500 }]));
    const { client } = harness(server, { retryExtraCodes: [500] });
    await client.readWorkPool('ecs-pool');
    expect(server.requests).toHaveLength(4);

    const plain = await startServer(() => ({ status: 500, body: { detail: 'boom' } }));
    const { client: c2, delays } = harness(plain);
    const err = await rejection(c2.readWorkPool('ecs-pool'));
    expect(err.status).toBe(500);
    expect(plain.requests).toHaveLength(1);
    expect(delays).toEqual([]);
  });

  it('replays the request body on every attempt', async () => {
    const server = await startServer(
      failThen([{ status: 503 }, { status: 429 }], { status: 201, body: POOL }),
    );
    const { client } = harness(server);
    await client.createWorkPool({ name: 'ecs-pool', type: 'ecs' });
    expect(server.requests).toHaveLength(3);
    for (const r of server.requests) {
      expect(r.json).toEqual({ name: 'ecs-pool', type: 'ecs' });
      expect(r.headers['content-type']).toBe('application/json');
    }
  });

  it('does not count Prefect-Maintenance responses against the retry limit', async () => {
    const maintenance = { status: 503, headers: { 'Prefect-Maintenance': 'true' } };
    const server = await startServer(
      failThen([maintenance, maintenance, maintenance, maintenance, { status: 503 }]),
    );
    const { client } = harness(server, { maxRetries: 1 });
    await expect(client.readWorkPool('ecs-pool')).resolves.toMatchObject({ id: POOL.id });
    expect(server.requests).toHaveLength(6);
  });

  it('caps maintenance retries so a stuck flag cannot loop forever', async () => {
    const server = await startServer(() => ({ status: 503, headers: { 'Prefect-Maintenance': 'true' } }));
    const { client } = harness(server, { maxMaintenanceRetries: 3 });
    const err = await rejection(client.readWorkPool('ecs-pool'));
    expect(err.status).toBe(503);
    expect(server.requests).toHaveLength(4);
  });

  it('retries a dropped connection (socket hang up)', async () => {
    let n = 0;
    const server = await startServer(() => (n++ < 2 ? 'destroy' : { body: POOL }));
    const { client, delays } = harness(server);
    await expect(client.readWorkPool('ecs-pool')).resolves.toMatchObject({ id: POOL.id });
    expect(server.requests).toHaveLength(3);
    expect(delays).toHaveLength(2);
  });

  it('retries transport errors from an injected fetch (ECONNRESET, UND_ERR_SOCKET)', async () => {
    const calls: string[] = [];
    const errors = [fetchFailed('ECONNRESET'), fetchFailed('UND_ERR_SOCKET', 'other side closed')];
    const fetchImpl: typeof fetch = async (input) => {
      calls.push(String(input));
      const e = errors.shift();
      if (e) throw e;
      return Response.json(POOL);
    };
    const { client, delays } = harness({ url: 'http://prefect.invalid/api' }, { fetch: fetchImpl });
    await expect(client.readWorkPool('ecs-pool')).resolves.toMatchObject({ id: POOL.id });
    expect(calls).toEqual(Array(3).fill('http://prefect.invalid/api/work_pools/ecs-pool'));
    expect(delays).toHaveLength(2);
  });

  it('reports UNREACHABLE after exhausting retries on transport errors', async () => {
    const fetchImpl: typeof fetch = async () => {
      throw fetchFailed('ECONNRESET', 'read ECONNRESET');
    };
    const { client, delays } = harness(
      { url: 'http://prefect.invalid/api' },
      { fetch: fetchImpl, maxRetries: 3 },
    );
    const err = await rejection(client.readFlowRun('run-1'));
    expect(delays).toHaveLength(3);
    expect(err.code).toBe(kernelErrorCodes.PREFECT_UNREACHABLE);
    expect(err.status).toBe(0);
    expect(err.retryable).toBe(true);
    expect(err.isTransient).toBe(true);
    expect(err.message).toBe(
      'GET /flow_runs/run-1 failed: could not reach the Prefect API at http://prefect.invalid (read ECONNRESET) after 4 attempts',
    );
  });

  it('does not retry connection refused before the first successful connection', async () => {
    const port = await freePort();
    const { client, delays } = harness({ url: `http://127.0.0.1:${port}/api` });
    const err = await rejection(client.readWorkPool('ecs-pool'));
    expect(err.code).toBe(kernelErrorCodes.PREFECT_UNREACHABLE);
    expect(err.status).toBe(0);
    expect(err.retryable).toBe(true);
    expect(err.message).toContain('ECONNREFUSED');
    expect(err.message).toContain('after 1 attempt');
    expect(delays).toEqual([]);
  });

  it('retries connection refused once a connection has succeeded', async () => {
    const server = await startServer(() => ({ body: POOL }));
    const { client, delays } = harness(server, { maxRetries: 2 });
    await client.readWorkPool('ecs-pool');
    await server.close();
    const err = await rejection(client.readWorkPool('ecs-pool'));
    expect(err.code).toBe(kernelErrorCodes.PREFECT_UNREACHABLE);
    expect(err.message).toContain('after 3 attempts');
    expect(delays).toHaveLength(2);
  });

  it('retries ECONNREFUSED from an injected fetch only after a response was seen', async () => {
    const script: Array<Error | Response> = [
      Response.json(POOL),
      fetchFailed('ECONNREFUSED'),
      Response.json(POOL),
    ];
    const fetchImpl: typeof fetch = async () => {
      const next = script.shift();
      if (next instanceof Error) throw next;
      if (!next) throw new Error('script exhausted');
      return next;
    };
    const { client, delays } = harness({ url: 'http://prefect.invalid/api' }, { fetch: fetchImpl });
    await client.readWorkPool('a');
    await client.readWorkPool('b');
    expect(delays).toHaveLength(1);
  });
});

// ---------------------------------------------------------------------------------------------------------

describe('abort and timeout', () => {
  it('rejects at once with the reason when the signal is already aborted', async () => {
    const server = await startServer(() => ({ body: POOL }));
    const { client } = harness(server);
    const reason = new Error('stopping');
    await expect(client.readWorkPool('p', { signal: AbortSignal.abort(reason) })).rejects.toBe(reason);
    expect(server.requests).toHaveLength(0);
  });

  it('rejects with the reason when aborted during the retry sleep', async () => {
    const server = await startServer(() => ({ status: 503, headers: { 'Retry-After': '3600' } }));
    const controller = new AbortController();
    const reason = new Error('shutdown');
    // The default sleep: a real one-hour timer that the abort must interrupt.
    const client = createPrefectClient({ apiUrl: server.url, csrfEnabled: false });
    const pending = client.readWorkPool('p', { signal: controller.signal });
    await waitFor(() => server.requests.length === 1);
    controller.abort(reason);
    await expect(pending).rejects.toBe(reason);
  });

  it('rejects with the reason even when an injected sleep ignores the signal', async () => {
    const server = await startServer(() => ({ status: 503 }));
    const controller = new AbortController();
    const { client } = harness(server, { sleep: () => new Promise(() => {}) });
    const pending = client.readWorkPool('p', { signal: controller.signal });
    await waitFor(() => server.requests.length === 1);
    controller.abort(new Error('bye'));
    await expect(pending).rejects.toThrow('bye');
  });

  it('rejects with the reason when aborted while the request is in flight', async () => {
    const server = await startServer(() => 'hang');
    const controller = new AbortController();
    const { client } = harness(server);
    const pending = client.readWorkPool('p', { signal: controller.signal });
    await waitFor(() => server.requests.length === 1);
    const reason = new Error('cancelled');
    controller.abort(reason);
    await expect(pending).rejects.toBe(reason);
  });

  it('times out an injected fetch that ignores the signal', async () => {
    const fetchImpl: typeof fetch = () => new Promise<Response>(() => {});
    const { client } = harness(
      { url: 'http://prefect.invalid/api' },
      { fetch: fetchImpl, timeoutMs: 20, maxRetries: 0 },
    );
    const err = await rejection(client.readFlowRun('r'));
    expect(err.code).toBe(kernelErrorCodes.PREFECT_UNREACHABLE);
    expect(err.message).toContain('request timed out after 20 ms');
  });

  it('leaves no listeners on a long-lived caller signal', async () => {
    let n = 0;
    const server = await startServer(() => (n++ % 2 === 0 ? { status: 503 } : { body: POOL }));
    const { client } = harness(server, { csrfEnabled: true });
    const root = new AbortController();
    for (let i = 0; i < 3; i++) await client.readWorkPool('p', { signal: root.signal });
    await client.setInfrastructurePid('r', 'x', { signal: root.signal }).catch(() => undefined);
    expect(getEventListeners(root.signal, 'abort')).toHaveLength(0);
  });

  it('times out each attempt, retries, then reports UNREACHABLE', async () => {
    const server = await startServer(() => 'hang');
    const { client, delays } = harness(server, { timeoutMs: 50, maxRetries: 1 });
    const err = await rejection(client.readWorkPool('p'));
    expect(err.code).toBe(kernelErrorCodes.PREFECT_UNREACHABLE);
    expect(err.message).toContain('request timed out after 50 ms');
    expect(server.requests).toHaveLength(2);
    expect(delays).toHaveLength(1);
  });
});

async function waitFor(condition: () => boolean, timeoutMs = 2000): Promise<void> {
  const start = Date.now();
  while (!condition()) {
    if (Date.now() - start > timeoutMs) throw new Error('condition not met');
    await new Promise((r) => setTimeout(r, 5));
  }
}

// ---------------------------------------------------------------------------------------------------------

describe('errors', () => {
  it('maps 404 to OBJECT_NOT_FOUND', async () => {
    const server = await startServer(() => ({ status: 404, body: { detail: 'Work pool not found.' } }));
    const { client } = harness(server);
    const err = await rejection(client.readWorkPool('missing pool'));
    expect(isStevedoreError(err, kernelErrorCodes.PREFECT_OBJECT_NOT_FOUND)).toBe(true);
    expect(err).toBeInstanceOf(PrefectApiError);
    expect(err.status).toBe(404);
    expect(err.method).toBe('GET');
    expect(err.path).toBe('/work_pools/missing%20pool');
    expect(err.message).toBe('GET /work_pools/missing%20pool failed: 404 Not Found: Work pool not found.');
  });

  it('maps 409 to OBJECT_EXISTS', async () => {
    const server = await startServer(() => ({
      status: 409,
      body: { detail: 'A work pool with this name already exists.' },
    }));
    const { client } = harness(server);
    const err = await rejection(client.createWorkPool({ name: 'p', type: 'ecs' }));
    expect(err.code).toBe(kernelErrorCodes.PREFECT_OBJECT_EXISTS);
    expect(err.status).toBe(409);
  });

  it('names method, path, status and the structured detail of a 422', async () => {
    const detail = [{ loc: ['body', 'type'], msg: 'Field required', type: 'missing' }];
    const server = await startServer(() => ({ status: 422, body: { detail } }));
    const { client } = harness(server);
    const err = await rejection(client.createWorkPool({ name: 'p', type: 'ecs' }));
    expect(err.code).toBe(kernelErrorCodes.PREFECT_API);
    expect(err.retryable).toBe(false);
    expect(err.isTransient).toBe(false);
    expect(err.message).toBe(`POST /work_pools/ failed: 422 Unprocessable Entity: ${JSON.stringify(detail)}`);
  });

  it('uses a plain-text body as the detail', async () => {
    const server = await startServer(() => ({
      status: 400,
      body: 'bad things',
      headers: { 'content-type': 'text/plain' },
    }));
    const { client } = harness(server);
    const err = await rejection(client.readFlow('f'));
    expect(err.message).toBe('GET /flows/f failed: 400 Bad Request: bad things');
  });

  it('never puts credentials in error messages', async () => {
    const apiKey = 'pnu_supersecretkey0123456789';
    // A server that echoes the Authorization header back in its error detail.
    const server = await startServer((req) => ({
      status: 401,
      body: { detail: `bad credentials: ${req.headers.authorization}` },
    }));
    const { client } = harness(server, { apiKey, csrfEnabled: true });
    const errors = [
      await rejection(client.readWorkPool('p')),
      await rejection(client.createWorkPool({ name: 'p', type: 'ecs' })),
    ];
    const basic = harness(server, { authString: 'user:hunter2hunter2' });
    errors.push(await rejection(basic.client.readWorkPool('p')));
    const down = harness({ url: `http://127.0.0.1:${await freePort()}/api` }, { apiKey });
    errors.push(await rejection(down.client.readWorkPool('p')));
    for (const e of errors) {
      const text = `${e.message} ${JSON.stringify(e.details)} ${String(e.stack)}`;
      expect(text).not.toContain(apiKey);
      expect(text).not.toContain('hunter2hunter2');
      expect(text).not.toContain(Buffer.from('user:hunter2hunter2').toString('base64'));
    }
    expect(errors[0]?.message).toBe(
      'GET /work_pools/p failed: 401 Unauthorized: bad credentials: Bearer ***',
    );
  });

  it('reports a success response that is not the expected JSON', async () => {
    const server = await startServer((req) =>
      req.path === '/flows/a' ? { body: '{not json' } : { body: [1, 2] },
    );
    const { client } = harness(server);
    const bad = await rejection(client.readFlow('a'));
    expect(bad.code).toBe(kernelErrorCodes.PREFECT_API);
    expect(bad.message).toBe('GET /flows/a failed: 200: the response body is not valid JSON');
    const wrong = await rejection(client.readFlow('b'));
    expect(wrong.message).toBe('GET /flows/b failed: 200: expected a JSON object in the response');
  });
});

// ---------------------------------------------------------------------------------------------------------

describe('serverInfo', () => {
  function versionServer(admin: Reply, version: Reply = { status: 404, body: { detail: 'Not Found' } }) {
    return startServer((req) =>
      req.path === '/admin/version' ? admin : req.path === '/version' ? version : { status: 500 },
    );
  }

  it('reads a 3.x version', async () => {
    const server = await versionServer({ body: '3.4.11' });
    const { client } = harness(server);
    await expect(client.serverInfo()).resolves.toEqual({ version: '3.4.11', major: 3, isCloud: false });
    expect(server.requests[0]?.method).toBe('GET');
  });

  it('reads a 2.x version', async () => {
    const server = await versionServer({ body: '2.12.1' });
    const { client } = harness(server);
    await expect(client.serverInfo()).resolves.toEqual({ version: '2.12.1', major: 2, isCloud: false });
  });

  it('falls back to GET /version when /admin/version is not available', async () => {
    const server = await versionServer({ status: 403, body: { detail: 'Forbidden' } }, { body: '2.10.3' });
    const { client } = harness(server);
    await expect(client.serverInfo()).resolves.toEqual({ version: '2.10.3', major: 2, isCloud: false });
    expect(server.requests.map((r) => r.path)).toEqual(['/admin/version', '/version']);
  });

  it('assumes 3.x for Prefect Cloud when no version endpoint answers', async () => {
    const server = await versionServer({ status: 404, body: { detail: 'Not Found' } });
    const { client } = harness(server, { cloudApiUrl: `http://127.0.0.1:${server.port}/api` });
    await expect(client.serverInfo()).resolves.toEqual({ version: 'unknown', major: 3, isCloud: true });
  });

  it('reports the /admin/version error for a self-hosted server without any version endpoint', async () => {
    const server = await versionServer({ status: 404, body: { detail: 'Not Found' } });
    const { client } = harness(server);
    const err = await rejection(client.serverInfo());
    expect(err.code).toBe(kernelErrorCodes.PREFECT_OBJECT_NOT_FOUND);
    expect(err.path).toBe('/admin/version');
  });

  it('does not fall back on other errors', async () => {
    const server = await versionServer({ status: 500, body: { detail: 'db down' } });
    const { client } = harness(server);
    const err = await rejection(client.serverInfo());
    expect(err.status).toBe(500);
    expect(server.requests).toHaveLength(1);
  });

  it('skips flow-run labels once it knows the server is 2.x', async () => {
    const server = await startServer((req) =>
      req.path === '/admin/version' ? { body: '2.19.0' } : { status: 204 },
    );
    const { client } = harness(server);
    await client.serverInfo();
    await client.updateFlowRunLabels('run-1', { 'prefect.worker.name': 'w' });
    expect(server.requests.map((r) => r.path)).toEqual(['/admin/version']);
  });
});

// ---------------------------------------------------------------------------------------------------------

describe('heartbeat', () => {
  const WORKER_ID = '6c1d7b8e-52b0-4a8f-9e2d-0f1e2d3c4b5a';

  it('returns undefined on 204', async () => {
    const server = await startServer(() => ({ status: 204 }));
    const { client } = harness(server);
    await expect(
      client.heartbeat('my pool', { name: 'w1', heartbeat_interval_seconds: 30 }),
    ).resolves.toBeUndefined();
    const [req] = server.requests;
    expect(req?.method).toBe('POST');
    expect(req?.path).toBe('/work_pools/my%20pool/workers/heartbeat');
    expect(req?.json).toEqual({ name: 'w1', heartbeat_interval_seconds: 30 });
  });

  it('returns the worker id sent as plain text when return_id was asked for', async () => {
    const server = await startServer(() => ({ body: WORKER_ID, headers: { 'content-type': 'text/plain' } }));
    const { client } = harness(server);
    const metadata = { integrations: [{ name: 'prefect-aws', version: '0.5.0' }] };
    await expect(
      client.heartbeat('p', { name: 'w1', heartbeat_interval_seconds: 30, return_id: true, metadata }),
    ).resolves.toBe(WORKER_ID);
    expect(server.requests[0]?.json).toEqual({
      name: 'w1',
      heartbeat_interval_seconds: 30,
      return_id: true,
      metadata,
    });
  });

  it('accepts the worker id as a JSON string', async () => {
    const server = await startServer(() => ({ body: WORKER_ID }));
    const { client } = harness(server);
    await expect(
      client.heartbeat('p', { name: 'w1', heartbeat_interval_seconds: 30, return_id: true }),
    ).resolves.toBe(WORKER_ID);
  });

  it('on 422 with return_id, warns and resends without it', async () => {
    const server = await startServer((req) =>
      (req.json as Record<string, unknown>).return_id
        ? { status: 422, body: { detail: 'extra field' } }
        : { status: 204 },
    );
    const { client, logger } = harness(server);
    const metadata = { integrations: [] };
    await expect(
      client.heartbeat('p', { name: 'w1', heartbeat_interval_seconds: 30, return_id: true, metadata }),
    ).resolves.toBeUndefined();
    expect(server.requests.map((r) => r.json)).toEqual([
      { name: 'w1', heartbeat_interval_seconds: 30, return_id: true, metadata },
      { name: 'w1', heartbeat_interval_seconds: 30, metadata },
    ]);
    expect(logger.records.filter((r) => r.level === 'warn').map((r) => r.message)).toEqual([
      'Failed to retrieve worker ID from the Prefect API server.',
    ]);
  });

  it('raises a 422 when return_id was not sent', async () => {
    const server = await startServer(() => ({ status: 422, body: { detail: 'bad' } }));
    const { client } = harness(server);
    const err = await rejection(client.heartbeat('p', { name: 'w1', heartbeat_interval_seconds: 30 }));
    expect(err.status).toBe(422);
    expect(server.requests).toHaveLength(1);
  });
});

// ---------------------------------------------------------------------------------------------------------

describe('endpoints', () => {
  async function recordingClient(reply: (req: Received) => Reply) {
    const server = await startServer(reply);
    return { server, ...harness(server) };
  }

  it('readWorkPool URL-encodes the name', async () => {
    const { server, client } = await recordingClient(() => ({ body: POOL }));
    await expect(client.readWorkPool('a/b c')).resolves.toEqual(POOL);
    expect(server.requests[0]?.path).toBe('/work_pools/a%2Fb%20c');
  });

  it('createWorkPool sends only the fields that were set', async () => {
    const { server, client } = await recordingClient(() => ({ status: 201, body: POOL }));
    const template = { job_configuration: { command: '{{ command }}' }, variables: { properties: {} } };
    await client.createWorkPool({ name: 'p', type: 'ecs' });
    await client.createWorkPool({ name: 'p', type: 'ecs', base_job_template: template });
    expect(server.requests.map((r) => `${r.method} ${r.path}`)).toEqual([
      'POST /work_pools/',
      'POST /work_pools/',
    ]);
    expect(server.requests[0]?.json).toEqual({ name: 'p', type: 'ecs' });
    expect(server.requests[1]?.json).toEqual({ name: 'p', type: 'ecs', base_job_template: template });
  });

  it('updateWorkPool PATCHes the template', async () => {
    const { server, client } = await recordingClient(() => ({ status: 204 }));
    const template = { job_configuration: {}, variables: { properties: {} } };
    await expect(client.updateWorkPool('p', { base_job_template: template })).resolves.toBeUndefined();
    expect(server.requests[0]).toMatchObject({
      method: 'PATCH',
      path: '/work_pools/p',
      json: { base_job_template: template },
    });
  });

  it('getScheduledFlowRuns posts the poll body and returns the list', async () => {
    const item = { work_pool_id: 'wp', work_queue_id: 'wq', flow_run: { id: 'r', name: 'n', flow_id: 'f' } };
    const { server, client } = await recordingClient(() => ({ body: [item] }));
    const body = { work_queue_names: [], scheduled_before: '2025-01-01 00:00:10.000000+00:00' };
    await expect(client.getScheduledFlowRuns('p', body)).resolves.toEqual([item]);
    expect(server.requests[0]).toMatchObject({
      method: 'POST',
      path: '/work_pools/p/get_scheduled_flow_runs',
      json: body,
    });
  });

  it('reads deployments, flows and flow runs', async () => {
    const { server, client } = await recordingClient((req) => ({
      body: { id: req.path.split('/').at(-1), name: 'x' },
    }));
    await expect(client.readDeployment('d1')).resolves.toMatchObject({ id: 'd1' });
    await expect(client.readFlow('f1')).resolves.toMatchObject({ id: 'f1' });
    await expect(client.readFlowRun('r1')).resolves.toMatchObject({ id: 'r1' });
    expect(server.requests.map((r) => `${r.method} ${r.path}`)).toEqual([
      'GET /deployments/d1',
      'GET /flows/f1',
      'GET /flow_runs/r1',
    ]);
  });

  it('filterFlowRuns posts the filter', async () => {
    const { server, client } = await recordingClient(() => ({ body: [] }));
    const filter = {
      flow_runs: { id: { any_: ['r1'] }, state: { type: { any_: ['CANCELLING'] } } },
      limit: 10,
    };
    await expect(client.filterFlowRuns(filter)).resolves.toEqual([]);
    expect(server.requests[0]).toMatchObject({ method: 'POST', path: '/flow_runs/filter', json: filter });
  });

  it('setFlowRunState sends force=false unless told otherwise', async () => {
    const result = { status: 'ACCEPT', state: { type: 'PENDING' }, details: {} };
    const { server, client } = await recordingClient(() => ({ status: 201, body: result }));
    await expect(
      client.setFlowRunState('r1', { state: { type: 'PENDING', name: 'Pending' } }),
    ).resolves.toEqual(result);
    await client.setFlowRunState('r1', {
      state: { type: 'CANCELLED', name: 'Cancelled', message: 'm' },
      force: true,
    });
    expect(server.requests[0]).toMatchObject({
      method: 'POST',
      path: '/flow_runs/r1/set_state',
      json: { state: { type: 'PENDING', name: 'Pending' }, force: false },
    });
    expect(server.requests[1]?.json).toMatchObject({ force: true });
  });

  it('updateFlowRunLabels PATCHes the labels', async () => {
    const { server, client } = await recordingClient(() => ({ status: 204 }));
    const labels = { 'prefect.worker.name': 'w', 'prefect.worker.type': 'ecs' };
    await client.updateFlowRunLabels('r1', labels);
    expect(server.requests[0]).toMatchObject({ method: 'PATCH', path: '/flow_runs/r1/labels', json: labels });
  });

  it('setInfrastructurePid sends exactly {infrastructure_pid}', async () => {
    const { server, client } = await recordingClient(() => ({ status: 204 }));
    await client.setInfrastructurePid('r1', 'cluster::arn:aws:ecs:task/1');
    expect(server.requests[0]?.method).toBe('PATCH');
    expect(server.requests[0]?.path).toBe('/flow_runs/r1');
    expect(server.requests[0]?.body).toBe('{"infrastructure_pid":"cluster::arn:aws:ecs:task/1"}');
  });

  it('reads block documents with secrets, by id and by name', async () => {
    const doc = { id: 'b1', name: 'creds', data: { aws_secret_access_key: 's' } };
    const { server, client } = await recordingClient(() => ({ body: doc }));
    await expect(client.readBlockDocument('b1')).resolves.toEqual(doc);
    await expect(client.readBlockDocumentByName('aws-credentials', 'my creds')).resolves.toEqual(doc);
    expect(server.requests[0]?.path).toBe('/block_documents/b1');
    expect(server.requests[0]?.query.get('include_secrets')).toBe('true');
    expect(server.requests[1]?.path).toBe(
      '/block_types/slug/aws-credentials/block_documents/name/my%20creds',
    );
    expect(server.requests[1]?.query.get('include_secrets')).toBe('true');
  });

  it('readVariableValue returns the value, or found=false on 404', async () => {
    const { server, client } = await recordingClient((req) =>
      req.path === '/variables/name/cluster'
        ? { body: { id: 'v', name: 'cluster', value: { arn: 'x' } } }
        : { status: 404, body: { detail: 'Variable not found.' } },
    );
    await expect(client.readVariableValue('cluster')).resolves.toEqual({ found: true, value: { arn: 'x' } });
    await expect(client.readVariableValue('missing')).resolves.toEqual({ found: false, value: undefined });
    expect(server.requests.map((r) => r.path)).toEqual([
      '/variables/name/cluster',
      '/variables/name/missing',
    ]);
  });

  it('createLogs posts the log list', async () => {
    const { server, client } = await recordingClient(() => ({ status: 201, body: null }));
    const logs = [
      {
        name: 'prefect.flow_runs.worker',
        level: 20,
        message: 'hi',
        timestamp: '2025-01-01T00:00:00Z',
        flow_run_id: 'r1',
      },
    ];
    await expect(client.createLogs(logs)).resolves.toBeUndefined();
    expect(server.requests[0]).toMatchObject({ method: 'POST', path: '/logs/', json: logs });
  });

  it('exposes the API URL without a trailing slash', async () => {
    const client: PrefectApi = createPrefectClient({ apiUrl: 'http://127.0.0.1:4200/api/' });
    expect(client.apiUrl).toBe('http://127.0.0.1:4200/api');
  });
});

// ---------------------------------------------------------------------------------------------------------

describe('formatScheduledBefore', () => {
  it("produces Python's str(datetime) form in UTC", () => {
    expect(formatScheduledBefore(new Date('2024-03-05T07:08:09.123Z'))).toBe(
      '2024-03-05 07:08:09.123000+00:00',
    );
    expect(formatScheduledBefore(new Date('2024-12-31T23:59:59.001+02:00'))).toBe(
      '2024-12-31 21:59:59.001000+00:00',
    );
  });

  it('leaves out a zero fraction, as Python does', () => {
    expect(formatScheduledBefore(new Date('2024-03-05T07:08:09.000Z'))).toBe('2024-03-05 07:08:09+00:00');
  });

  it('rejects an invalid date', () => {
    expect(() => formatScheduledBefore(new Date('nope'))).toThrow(TypeError);
  });
});
