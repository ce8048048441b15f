import { describe, expect, it } from 'vitest';
import { deterministicEventId, slugify } from './ids.js';
import { eventsInSocketUrl } from './websocket-emitter.js';

describe('event helpers', () => {
  it('builds the events socket URL from the API URL as Prefect does (ws/wss, trailing slash dropped)', () => {
    expect(eventsInSocketUrl('http://127.0.0.1:4200/api')).toBe('ws://127.0.0.1:4200/api/events/in');
    expect(eventsInSocketUrl('https://api.prefect.cloud/api/accounts/a/workspaces/w/')).toBe(
      'wss://api.prefect.cloud/api/accounts/a/workspaces/w/events/in',
    );
  });

  it('gives name-based version 5 UUIDs: equal parts, equal ids', () => {
    const a = deterministicEventId('x', 'y');
    expect(a).toBe(deterministicEventId('x', 'y'));
    expect(a).not.toBe(deterministicEventId('x', 'z'));
    expect(a).not.toBe(deterministicEventId('x\ny'.slice(0, 1), 'y', ''));
    expect(a).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-5[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
  });

  it('slugifies like python-slugify', () => {
    expect(slugify('ECSWorker 5f3c0a1e-2b')).toBe('ecsworker-5f3c0a1e-2b');
    expect(slugify('--Ünïcödé  name!!')).toBe('unicode-name');
  });
});
