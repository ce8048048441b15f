import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { describeTemplateSourceConformance } from '@stevedore/testkit/conformance';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { HttpTemplateSource } from './index.js';

const DOCS: Record<string, { body: string; type: string }> = {
  '/t.json': { body: '{"family": "etl", "cpu": "1024"}', type: 'application/json' },
  // YAML by content, whatever the name and the content type say.
  '/t.txt': { body: 'family: etl\ncpu: "1024"\n', type: 'text/plain' },
  '/bad': { body: '{"unclosed": [', type: 'application/json' },
};

async function serve(): Promise<{
  base: string;
  server: Server;
  hits: Array<{ path: string; inm?: string }>;
}> {
  const hits: Array<{ path: string; inm?: string }> = [];
  const server = createServer((req, res) => {
    const path = req.url ?? '/';
    const inm = req.headers['if-none-match'];
    hits.push({ path, ...(typeof inm === 'string' ? { inm } : {}) });
    const doc = DOCS[path];
    if (!doc) return void res.writeHead(404).end('not found');
    const etag = `"${Buffer.from(doc.body).toString('base64url').slice(0, 12)}"`;
    if (inm === etag) return void res.writeHead(304, { etag }).end();
    res.writeHead(200, { 'content-type': doc.type, etag }).end(doc.body);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return { base: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, server, hits };
}

describeTemplateSourceConformance('HttpTemplateSource (example plugin)', async () => {
  const { base, server } = await serve();
  return {
    source: new HttpTemplateSource('http'),
    json: { url: new URL(`${base}/t.json`), expected: { family: 'etl', cpu: '1024' } },
    yaml: { url: new URL(`${base}/t.txt`), expected: { family: 'etl', cpu: '1024' } },
    missing: new URL(`${base}/missing.yaml`),
    invalid: new URL(`${base}/bad`),
    cleanup: () => new Promise<void>((r) => server.close(() => r())),
  };
});

describe('HttpTemplateSource', () => {
  let s: Awaited<ReturnType<typeof serve>>;
  beforeAll(async () => {
    s = await serve();
  });
  afterAll(() => new Promise<void>((r) => s.server.close(() => r())));

  it('revalidates with the ETag and reuses the body on 304 Not Modified', async () => {
    const source = new HttpTemplateSource('http');
    const url = new URL(`${s.base}/t.json`);
    const signal = AbortSignal.timeout(5000);
    expect(await source.read(url, { signal })).toEqual({ family: 'etl', cpu: '1024' });
    expect(await source.read(url, { signal })).toEqual({ family: 'etl', cpu: '1024' });
    const hits = s.hits.filter((h) => h.path === '/t.json');
    expect(hits).toHaveLength(2);
    expect(hits[0]?.inm).toBeUndefined();
    expect(hits[1]?.inm).toMatch(/^".+"$/);
  });
});
