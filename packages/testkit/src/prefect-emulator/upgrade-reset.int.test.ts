import { connect } from 'node:net';
import { afterEach, expect, it } from 'vitest';
import { type PrefectEmulator, startPrefectEmulator } from './index.js';

let prefect: PrefectEmulator | undefined;
afterEach(async () => {
  await prefect?.stop();
});

/** Sends a websocket upgrade and resets the connection (RST) before reading the answer, as a killed worker does. */
async function upgradeThenReset(url: URL, path: string): Promise<void> {
  await new Promise<void>((resolve) => {
    const socket = connect(Number(url.port), url.hostname, () => {
      socket.write(
        `GET ${path} HTTP/1.1\r\nHost: ${url.host}\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n` +
          'Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n',
      );
      socket.resetAndDestroy();
      resolve();
    });
    socket.on('error', () => resolve());
  });
}

it('survives clients that reset their websocket upgrade (refused and accepted routes)', async () => {
  prefect = await startPrefectEmulator({ mode: '3', apiKey: 'pnu_secret' });
  const url = new URL(prefect.url);
  for (let i = 0; i < 20; i += 1) {
    // Refused (no key) and an unrouted websocket: both answered 403 on the raw socket.
    await upgradeThenReset(url, '/api/events/in');
    await upgradeThenReset(url, '/api/ws/worker');
  }
  await new Promise((r) => setTimeout(r, 100));
  const res = await fetch(`${prefect.url}/health`, { headers: { authorization: 'Bearer pnu_secret' } });
  expect(res.status).toBe(200);
});
