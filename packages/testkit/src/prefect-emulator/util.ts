import { randomUUID } from 'node:crypto';
import type { JsonObject, PrefectMode } from './types.js';

/** A new lowercase, hyphenated UUID (version 4), as the server generates. */
export function newId(): string {
  return randomUUID();
}

const UUID_LIKE =
  /^(urn:uuid:)?\{?[0-9a-fA-F]{8}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{12}\}?$/;

/** What pydantic accepts as a UUID: any case, with or without hyphens, braces or a `urn:uuid:` prefix. */
export function isUuidLike(value: string): boolean {
  return UUID_LIKE.test(value);
}

export function isJsonObject(value: unknown): value is JsonObject {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

export function deepCopy<T>(value: T): T {
  return structuredClone(value);
}

/**
 * Serialises an epoch-millisecond time the way the server's JSON encoder does: pydantic v2 (Prefect 3)
 * writes UTC as `Z`, pydantic v1 with pendulum (Prefect 2) as `+00:00`. Both carry microseconds.
 */
export function formatTime(ms: number, mode: PrefectMode): string {
  const iso = new Date(ms).toISOString(); // 2024-01-01T00:00:00.000Z
  const base = `${iso.slice(0, 23)}000`;
  return mode === '3' ? `${base}Z` : `${base}+00:00`;
}

export function formatNullableTime(ms: number | null, mode: PrefectMode): string | null {
  return ms === null ? null : formatTime(ms, mode);
}

const DATE_TIME =
  /^(\d{4})-(\d{2})-(\d{2})(?:[Tt ](\d{2}):(\d{2})(?::(\d{2})(?:[.,](\d{1,9}))?)?(?:\s*([Zz]|[+-]\d{2}(?::?\d{2})?))?)?$/;

/**
 * Parses a date-time the way pydantic does for the server's `DateTime` fields: ISO 8601 with `T` or a
 * space separator (Python's `str(datetime)` form, `2024-01-01 12:00:00.123456+00:00`), an optional
 * fraction and an optional offset. A value without an offset is taken as UTC. Returns epoch milliseconds,
 * or `null` when the string is not a date-time.
 */
export function parseDateTime(value: string): number | null {
  const m = DATE_TIME.exec(value.trim());
  if (!m) return null;
  const [, y, mo, d, h = '0', mi = '0', s = '0', frac = '', tz] = m;
  const ms = Number(`${frac}000`.slice(0, 3));
  let t = Date.UTC(Number(y), Number(mo) - 1, Number(d), Number(h), Number(mi), Number(s), ms);
  if (Number.isNaN(t)) return null;
  const check = new Date(t);
  if (check.getUTCDate() !== Number(d) || check.getUTCMonth() !== Number(mo) - 1) return null;
  if (tz && tz !== 'Z' && tz !== 'z') {
    const sign = tz.startsWith('-') ? -1 : 1;
    const digits = tz.slice(1).replace(':', '');
    const offH = Number(digits.slice(0, 2));
    const offM = digits.length > 2 ? Number(digits.slice(2, 4)) : 0;
    t -= sign * (offH * 60 + offM) * 60_000;
  }
  return t;
}

/** Accepts a date-time string or epoch milliseconds or a Date; throws on anything else. */
export function toEpochMs(value: string | number | Date): number {
  if (value instanceof Date) return value.getTime();
  if (typeof value === 'number') return value;
  const parsed = parseDateTime(value);
  if (parsed === null) throw new TypeError(`Not a date-time: ${value}`);
  return parsed;
}

/** A small deterministic PRNG (mulberry32) so probability-based faults are reproducible. */
export function createRng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const ADJECTIVES = [
  'amber',
  'brave',
  'crimson',
  'daring',
  'electric',
  'fuzzy',
  'gentle',
  'hidden',
  'icy',
  'jolly',
  'keen',
  'lucky',
  'mellow',
  'nimble',
  'olive',
  'proud',
  'quiet',
  'rapid',
  'silver',
  'tidy',
];
const ANIMALS = [
  'albatross',
  'beaver',
  'cheetah',
  'dingo',
  'eel',
  'falcon',
  'gecko',
  'heron',
  'ibis',
  'jackal',
  'koala',
  'lemur',
  'marmot',
  'newt',
  'otter',
  'puffin',
  'quail',
  'raven',
  'stoat',
  'tapir',
];

/** A flow-run style slug, e.g. `crimson-otter`. */
export function randomSlug(rng: () => number): string {
  const a = ADJECTIVES[Math.floor(rng() * ADJECTIVES.length)] ?? 'amber';
  const b = ANIMALS[Math.floor(rng() * ANIMALS.length)] ?? 'otter';
  return `${a}-${b}`;
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** Title-cases a state type the way Prefect names states by default (`CANCELLING` -> `Cancelling`). */
export function defaultStateName(type: string): string {
  return type.charAt(0) + type.slice(1).toLowerCase();
}
