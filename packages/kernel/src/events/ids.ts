import { createHash } from 'node:crypto';

/** The namespace of Stevedore's name-based event ids (a fixed random UUID). */
const STEVEDORE_EVENT_NAMESPACE = '5c0f3f1e-8f52-4c0b-9a57-6f1e0d6f2a41';

function uuidBytes(uuid: string): Buffer {
  return Buffer.from(uuid.replace(/-/g, ''), 'hex');
}

/**
 * A name-based UUID (RFC 9562 version 5, SHA-1) of `parts` joined by newlines, in Stevedore's namespace: the same
 * parts always give the same id, so an event built twice (by two observers, or after a redelivery) is stored once
 * by the server, which keeps the first event of an id.
 * @public
 */
export function deterministicEventId(...parts: readonly string[]): string {
  const hash = createHash('sha1')
    .update(uuidBytes(STEVEDORE_EVENT_NAMESPACE))
    .update(parts.join('\n'), 'utf8')
    .digest();
  const b = hash.subarray(0, 16);
  b[6] = ((b[6] ?? 0) & 0x0f) | 0x50;
  b[8] = ((b[8] ?? 0) & 0x3f) | 0x80;
  const hex = b.toString('hex');
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}

/**
 * python-slugify's `slugify` as Prefect uses it for worker resource ids: accents folded to ASCII, lower case,
 * every run of other characters turned into one `-`, no leading or trailing `-`.
 * `ECSWorker 1b2c…` → `ecsworker-1b2c…`.
 * @public
 */
export function slugify(text: string): string {
  return text
    .normalize('NFKD')
    .replace(/[\u0300-\u036f]/g, '')
    .toLowerCase()
    .replace(/[^a-z0-9]+/g, '-')
    .replace(/^-+|-+$/g, '');
}
