import { afterEach, describe, expect, it } from 'vitest';
import { type JsonObject, type PrefectEmulator, startPrefectEmulator } from './index.js';

async function call(
  emu: PrefectEmulator,
  method: string,
  path: string,
  body?: unknown,
  headers: Record<string, string> = {},
): Promise<{ status: number; body: JsonObject }> {
  const res = await fetch(`${emu.url}${path}`, {
    method,
    headers: { 'content-type': 'application/json', ...headers },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  const text = await res.text();
  return { status: res.status, body: (text ? JSON.parse(text) : undefined) as JsonObject };
}

let emu: PrefectEmulator | undefined;
afterEach(async () => {
  await emu?.stop();
  emu = undefined;
});

describe('CSRF protection (Prefect 3 self-hosted)', () => {
  it('is reported as disabled when off', async () => {
    emu = await startPrefectEmulator();
    const res = await call(emu, 'GET', '/csrf-token?client=abc');
    expect(res).toEqual({ status: 422, body: { detail: 'CSRF protection is disabled.' } });
    expect((await call(emu, 'POST', '/work_pools/', { name: 'p' })).status).toBe(201);
    expect(emu.schemaErrors()).toEqual([]);
  });

  it('issues tokens and guards mutating requests', async () => {
    emu = await startPrefectEmulator({ csrf: true });
    const noClient = await call(emu, 'GET', '/csrf-token');
    expect(noClient.status).toBe(422);

    const token = await call(emu, 'GET', '/csrf-token?client=client-1');
    expect(token.status).toBe(200);
    expect(token.body).toMatchObject({ client: 'client-1' });
    expect(String(token.body.token)).toMatch(/^[0-9a-f]{64}$/);
    expect(Date.parse(String(token.body.expiration))).toBeGreaterThan(Date.now() + 3_500_000);

    const none = await call(emu, 'POST', '/work_pools/', { name: 'p' });
    expect(none).toEqual({ status: 403, body: { detail: 'Missing CSRF token.' } });
    const noClientHeader = await call(
      emu,
      'POST',
      '/work_pools/',
      { name: 'p' },
      { 'Prefect-Csrf-Token': String(token.body.token) },
    );
    expect(noClientHeader).toEqual({ status: 403, body: { detail: 'Missing client identifier.' } });
    const wrong = await call(
      emu,
      'POST',
      '/work_pools/',
      { name: 'p' },
      { 'Prefect-Csrf-Token': 'nope', 'Prefect-Csrf-Client': 'client-1' },
    );
    expect(wrong).toEqual({ status: 403, body: { detail: 'Invalid CSRF token or client identifier.' } });

    const headers = { 'Prefect-Csrf-Token': String(token.body.token), 'Prefect-Csrf-Client': 'client-1' };
    expect((await call(emu, 'POST', '/work_pools/', { name: 'p' }, headers)).status).toBe(201);
    // GETs never need a token.
    expect((await call(emu, 'GET', '/work_pools/p')).status).toBe(200);

    // A refreshed token replaces the old one.
    const refreshed = await call(emu, 'GET', '/csrf-token?client=client-1');
    expect((await call(emu, 'PATCH', '/work_pools/p', { is_paused: true }, headers)).status).toBe(403);
    const fresh = { 'Prefect-Csrf-Token': String(refreshed.body.token), 'Prefect-Csrf-Client': 'client-1' };
    expect((await call(emu, 'PATCH', '/work_pools/p', { is_paused: true }, fresh)).status).toBe(204);
    expect(emu.schemaErrors()).toEqual([]);
  });

  it('expires tokens', async () => {
    emu = await startPrefectEmulator({ csrf: true, csrfTokenExpirationSeconds: 0.05 });
    const token = await call(emu, 'GET', '/csrf-token?client=c');
    await new Promise((r) => setTimeout(r, 80));
    const res = await call(
      emu,
      'POST',
      '/work_pools/',
      { name: 'p' },
      { 'Prefect-Csrf-Token': String(token.body.token), 'Prefect-Csrf-Client': 'c' },
    );
    expect(res.status).toBe(403);
  });

  it('does not exist in Prefect 2.12', async () => {
    await expect(startPrefectEmulator({ mode: '2', csrf: true })).rejects.toThrow(/CSRF/);
  });
});

describe('authentication', () => {
  it('requires the API key as a Bearer token', async () => {
    emu = await startPrefectEmulator({ apiKey: 'pnu_secret' });
    expect((await call(emu, 'GET', '/health')).status).toBe(401);
    expect((await call(emu, 'GET', '/health', undefined, { Authorization: 'Bearer wrong' })).status).toBe(
      401,
    );
    const ok = await call(emu, 'GET', '/health', undefined, { Authorization: 'Bearer pnu_secret' });
    expect(ok).toEqual({ status: 200, body: true });
    expect(emu.schemaErrors()).toEqual([]);
  });

  it('requires the auth string as Basic credentials', async () => {
    emu = await startPrefectEmulator({ authString: 'admin:pass' });
    const missing = await call(emu, 'GET', '/admin/version');
    expect(missing).toEqual({ status: 401, body: { exception_message: 'Unauthorized' } });
    const wrong = Buffer.from('admin:nope').toString('base64');
    expect(
      (await call(emu, 'GET', '/admin/version', undefined, { Authorization: `Basic ${wrong}` })).status,
    ).toBe(401);
    const right = Buffer.from('admin:pass').toString('base64');
    const ok = await call(emu, 'GET', '/admin/version', undefined, { Authorization: `Basic ${right}` });
    expect(ok).toEqual({ status: 200, body: '3.4.11' });
    expect(emu.schemaErrors()).toEqual([]);
  });
});
