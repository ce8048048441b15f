import type { Tag } from '@aws-sdk/client-ecs';
import { htmlEntityCodePoints } from './html-entities.js';

/** Characters the reference replaces in tag keys and values (spec §2 constants). @internal */
const DISALLOWED = /[^a-zA-Z0-9_./=+:@-]/g;
const QUOTES = /'+/g;
const NAMED_ENTITY = /&([A-Za-z][A-Za-z0-9]*);/g;
const DECIMAL_ENTITY = /&#(\d+);/g;
const HEX_ENTITY = /&#x([\da-fA-F]+);/g;
const NUMBER_COMMA = /(?<=\p{Nd}),(?=\p{Nd})/gu;

/** ECS limits on RunTask / RegisterTaskDefinition tags. @public */
export const ECS_TAG_LIMITS = Object.freeze({ maxTags: 50, maxKeyLength: 128, maxValueLength: 256 });

/** Tag-key prefixes kept first when a task carries more than 50 tags: the observer matches runs through them. */
const PRIORITY_PREFIXES = ['prefect.io/', 'stevedore.io/'];

/**
 * Sanitises one tag key or value the way the reference does: python-slugify with case kept, unicode allowed
 * and the pattern `[^a-zA-Z0-9_./=+:@-]` (spec §2.4 D.11). Steps, as python-slugify runs them: quotes to `-`,
 * NFKC, HTML entities (named, decimal, hex), NFKC again, decoded quotes removed, commas between digits removed,
 * disallowed characters to `-`, runs of `-` collapsed, `-` stripped at both ends.
 *
 * @example `sanitizeTagText("ECSWorker 6f1…")` → `"ECSWorker-6f1"`
 * @public
 */
export function sanitizeTagText(text: string): string {
  let s = text.replace(QUOTES, '-').normalize('NFKC');
  s = s.replace(NAMED_ENTITY, (m, name: string) => {
    const code = htmlEntityCodePoints.get(name);
    return code === undefined ? m : String.fromCodePoint(code);
  });
  s = s.replace(DECIMAL_ENTITY, (m, digits: string) => fromCodePointOr(Number(digits), m));
  s = s.replace(HEX_ENTITY, (m, hex: string) => fromCodePointOr(Number.parseInt(hex, 16), m));
  s = s.normalize('NFKC').replace(QUOTES, '').replace(NUMBER_COMMA, '');
  return s
    .replace(DISALLOWED, '-')
    .replace(/-{2,}/g, '-')
    .replace(/^-+|-+$/g, '');
}

function fromCodePointOr(code: number, fallback: string): string {
  return Number.isInteger(code) && code >= 0 && code <= 0x10ffff ? String.fromCodePoint(code) : fallback;
}

/** Outcome of {@link buildEcsTags}: the tags to send and what had to be left out, for a warning. @public */
export interface BuiltTags {
  tags: Tag[];
  /** Keys dropped because ECS would reject them (`aws:` prefix, empty after sanitising) or over the 50-tag limit. */
  dropped: string[];
}

/**
 * Sanitises `entries` into ECS tags and makes them acceptable to ECS.
 *
 * @remarks Beyond the reference (which sanitises but enforces no limit, spec §2.4 D.11), and why: ECS rejects
 * the whole RunTask for one bad tag, so a bad label would crash the flow run.
 * - keys are cut to 128 and values to 256 characters;
 * - empty keys and keys starting with the reserved `aws:` are dropped;
 * - a key that appears twice after sanitising keeps its last value (ECS rejects duplicate keys);
 * - beyond 50 tags, `prefect.io/*` and `stevedore.io/*` tags are kept first (the observer needs them) and the
 *   rest are dropped in order.
 * @public
 */
export function buildEcsTags(entries: Iterable<readonly [string, string]>): BuiltTags {
  const byKey = new Map<string, string>();
  const dropped: string[] = [];
  for (const [rawKey, rawValue] of entries) {
    const key = trimDashes(sanitizeTagText(rawKey).slice(0, ECS_TAG_LIMITS.maxKeyLength));
    const value = trimDashes(sanitizeTagText(rawValue).slice(0, ECS_TAG_LIMITS.maxValueLength));
    if (key === '' || key.toLowerCase().startsWith('aws:')) {
      dropped.push(rawKey);
      continue;
    }
    byKey.set(key, value);
  }
  let tags = [...byKey].map(([key, value]) => ({ key, value }));
  if (tags.length > ECS_TAG_LIMITS.maxTags) {
    const isPriority = (t: Tag) => PRIORITY_PREFIXES.some((p) => t.key?.startsWith(p));
    const kept = new Set(
      [...tags.filter(isPriority), ...tags.filter((t) => !isPriority(t))].slice(0, ECS_TAG_LIMITS.maxTags),
    );
    for (const t of tags) if (!kept.has(t)) dropped.push(t.key ?? '');
    tags = tags.filter((t) => kept.has(t));
  }
  return { tags, dropped };
}

function trimDashes(s: string): string {
  return s.replace(/^-+|-+$/g, '');
}
