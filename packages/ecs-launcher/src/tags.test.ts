import { describe, expect, it } from 'vitest';
import { buildEcsTags, ECS_TAG_LIMITS, sanitizeTagText } from './tags.js';

describe('sanitizeTagText', () => {
  // Expected values produced by python-slugify (legacy algorithm) with the reference's arguments:
  // slugify(text, lowercase=False, allow_unicode=True, regex_pattern=r'[^a-zA-Z0-9_./=+:@-]').
  it.each([
    ['ECSWorker 6f1a', 'ECSWorker-6f1a'],
    ["it's a test", 'it-s-a-test'],
    ['café crème', 'caf-cr-me'],
    ['a&amp;b', 'a-b'],
    ['x&#65;y', 'xAy'],
    ['x&#39;y', 'xy'],
    ['a&#x41;b', 'aAb'],
    ['1,000,000', '1000000'],
    ['a,b', 'a-b'],
    ['--lead--', 'lead'],
    ['①½', '11-2'],
    ['&sup2;x', '2x'],
    ['tab\there', 'tab-here'],
    ['ＡＢ', 'AB'],
    ['a&unknown;b', 'a-unknown-b'],
    ['prefect.io/flow-run-name', 'prefect.io/flow-run-name'],
    ['  ', ''],
    ['Ж', ''],
    ["x''y", 'x-y'],
    ['a--b', 'a-b'],
    ['2024-01-01T00:00:00+00:00', '2024-01-01T00:00:00+00:00'],
  ])('%j → %j', (input, expected) => {
    expect(sanitizeTagText(input)).toBe(expected);
  });
});

describe('buildEcsTags', () => {
  it('sanitises keys and values and keeps order', () => {
    expect(
      buildEcsTags([
        ['prefect.io/worker-name', 'ECSWorker 6f1a'],
        ['team', 'data eng'],
      ]).tags,
    ).toEqual([
      { key: 'prefect.io/worker-name', value: 'ECSWorker-6f1a' },
      { key: 'team', value: 'data-eng' },
    ]);
  });

  it('drops reserved aws: keys and keys empty after sanitising', () => {
    const built = buildEcsTags([
      ['aws:cloudformation:stack-name', 'x'],
      ['AWS:thing', 'x'],
      ['ЖЖ', 'x'],
      ['ok', 'y'],
    ]);
    expect(built.tags).toEqual([{ key: 'ok', value: 'y' }]);
    expect(built.dropped).toEqual(['aws:cloudformation:stack-name', 'AWS:thing', 'ЖЖ']);
  });

  it('cuts keys to 128 and values to 256 characters', () => {
    const { tags } = buildEcsTags([['k'.repeat(200), 'v'.repeat(300)]]);
    expect(tags[0]?.key).toHaveLength(ECS_TAG_LIMITS.maxKeyLength);
    expect(tags[0]?.value).toHaveLength(ECS_TAG_LIMITS.maxValueLength);
  });

  it('keeps the last value of keys that collide after sanitising', () => {
    expect(
      buildEcsTags([
        ['team name', 'a'],
        ['team-name', 'b'],
      ]).tags,
    ).toEqual([{ key: 'team-name', value: 'b' }]);
  });

  it('keeps prefect.io/ and stevedore.io/ tags first beyond the 50-tag limit', () => {
    const user = Array.from({ length: 55 }, (_, i) => [`user-${i}`, 'x'] as const);
    const built = buildEcsTags([...user, ['prefect.io/flow-run-id', 'id'], ['stevedore.io/x', 'y']]);
    expect(built.tags).toHaveLength(50);
    expect(built.tags.map((t) => t.key)).toContain('prefect.io/flow-run-id');
    expect(built.tags.map((t) => t.key)).toContain('stevedore.io/x');
    expect(built.dropped).toEqual([
      'user-48',
      'user-49',
      'user-50',
      'user-51',
      'user-52',
      'user-53',
      'user-54',
    ]);
  });
});
