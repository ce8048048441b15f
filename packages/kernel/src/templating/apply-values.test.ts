import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { isStevedoreError, kernelErrorCodes } from '../errors.js';
import { applyValues, isNotSet, NOT_SET } from './apply-values.js';
import { findPlaceholders, getFromPath, PLACEHOLDER_PATTERN, placeholderKinds } from './placeholders.js';

interface Case {
  name: string;
  template: unknown;
  values: Record<string, unknown>;
  env?: Record<string, string | undefined>;
  expected: unknown;
}

const network = { awsvpcConfiguration: { subnets: ['subnet-1'], assignPublicIp: 'ENABLED' } };
const strategy = [{ capacityProvider: 'FARGATE_SPOT', weight: 1 }];
const nested = {
  a: { b: [{ c: 'deep' }, { c: 'second' }], 1: 'int-like' },
  list: ['x', 'y', 'z'],
  s: 'héllo',
};

// Every case is a rule of spec §1.6 "apply_values".
const cases: Case[] = [
  // Whole-string STANDARD placeholders keep the raw type.
  { name: 'whole-string int', template: '{{ cpu }}', values: { cpu: 1024 }, expected: 1024 },
  { name: 'whole-string float', template: '{{ ratio }}', values: { ratio: 0.5 }, expected: 0.5 },
  { name: 'whole-string object', template: '{{ net }}', values: { net: network }, expected: network },
  { name: 'whole-string list', template: '{{ cps }}', values: { cps: strategy }, expected: strategy },
  { name: 'whole-string empty list', template: '{{ cps }}', values: { cps: [] }, expected: [] },
  { name: 'whole-string true', template: '{{ flag }}', values: { flag: true }, expected: true },
  { name: 'whole-string false', template: '{{ flag }}', values: { flag: false }, expected: false },
  { name: 'whole-string null is kept', template: '{{ name }}', values: { name: null }, expected: null },
  {
    name: 'whole-string string',
    template: '{{ image }}',
    values: { image: 'prefecthq/prefect:3' },
    expected: 'prefecthq/prefect:3',
  },
  { name: 'whole-string missing is NotSet', template: '{{ cpu }}', values: {}, expected: NOT_SET },
  // Missing values in objects and arrays.
  {
    name: 'object key with a missing value is removed',
    template: { cpu: '{{ cpu }}', memory: '{{ memory }}' },
    values: { cpu: 512 },
    expected: { cpu: 512 },
  },
  {
    name: 'array item with a missing value is dropped',
    template: ['{{ a }}', '{{ b }}', 'c'],
    values: { a: 1 },
    expected: [1, 'c'],
  },
  {
    name: 'array of only missing items is empty',
    template: ['{{ a }}', '{{ b }}'],
    values: {},
    expected: [],
  },
  {
    name: 'object key with null value is kept',
    template: { name: '{{ name }}' },
    values: { name: null },
    expected: { name: null },
  },
  {
    name: 'nested object emptied by missing values stays',
    template: { outer: { inner: '{{ x }}' } },
    values: {},
    expected: { outer: {} },
  },
  // Embedded placeholders: Python str().
  { name: 'embedded True', template: 'flag={{ f }}', values: { f: true }, expected: 'flag=True' },
  { name: 'embedded False', template: 'flag={{ f }}', values: { f: false }, expected: 'flag=False' },
  { name: 'embedded None', template: 'x-{{ n }}', values: { n: null }, expected: 'x-None' },
  {
    name: 'embedded dict repr',
    template: 'cfg: {{ d }}',
    values: { d: { a: 1, b: [true, null] } },
    expected: "cfg: {'a': 1, 'b': [True, None]}",
  },
  {
    name: 'embedded list repr with quotes',
    template: '{{ l }}!',
    values: { l: ['a', "it's"] },
    expected: `['a', "it's"]!`,
  },
  {
    name: 'embedded dict repr, double quote inside',
    template: '<{{ d }}>',
    values: { d: { k: 'a"b' } },
    expected: `<{'k': 'a"b'}>`,
  },
  { name: 'embedded float', template: '{{ x }}s', values: { x: 0.5 }, expected: '0.5s' },
  { name: 'embedded small float', template: 'eps={{ x }}', values: { x: 1e-7 }, expected: 'eps=1e-07' },
  { name: 'embedded int', template: 'n={{ n }}', values: { n: 10 }, expected: 'n=10' },
  {
    name: 'embedded string as-is (str, not repr)',
    template: 'x{{ s }}',
    values: { s: "it's" },
    expected: "xit's",
  },
  {
    name: 'embedded missing becomes empty',
    template: 'pre-{{ nope }}-post',
    values: {},
    expected: 'pre--post',
  },
  {
    name: 'multiple placeholders',
    template: '{{ a }}-{{ b }}',
    values: { a: 1, b: 'two' },
    expected: '1-two',
  },
  {
    name: 'same placeholder twice is not whole-string',
    template: '{{ a }}{{ a }}',
    values: { a: 1 },
    expected: '11',
  },
  { name: 'surrounding whitespace is text', template: ' {{ a }}', values: { a: 1 }, expected: ' 1' },
  // Whitespace variants.
  { name: 'no spaces {{x}}', template: '{{x}}', values: { x: 7 }, expected: 7 },
  { name: 'many spaces {{   x   }}', template: '{{   x   }}', values: { x: 7 }, expected: 7 },
  { name: 'tab and newline inside braces', template: '{{\tx\n}}', values: { x: 7 }, expected: 7 },
  { name: 'Python-only whitespace U+001C', template: '{{\u001cx\u001c}}', values: { x: 7 }, expected: 7 },
  // Key paths.
  { name: 'dotted path', template: '{{ a.b.0.c }}', values: nested, expected: 'deep' },
  { name: '[n] index', template: '{{ a.b[1].c }}', values: nested, expected: 'second' },
  { name: 'int-like segment indexes a list', template: '{{ list.2 }}', values: nested, expected: 'z' },
  { name: 'negative index counts from the end', template: '{{ list[-1] }}', values: nested, expected: 'z' },
  { name: 'index out of range is missing', template: { v: '{{ list[3] }}' }, values: nested, expected: {} },
  {
    name: 'int-like dict key is missing (Python int(key))',
    template: { v: '{{ a.1 }}' },
    values: nested,
    expected: {},
  },
  { name: 'int-like segment indexes a string', template: '{{ s.1 }}', values: nested, expected: 'é' },
  {
    name: 'name key on a list is missing',
    template: { v: '{{ list.first }}' },
    values: nested,
    expected: {},
  },
  {
    name: 'key path through null is missing',
    template: { v: '{{ a.b }}' },
    values: { a: null },
    expected: {},
  },
  { name: 'hyphenated name', template: '{{ my-var }}', values: { 'my-var': 'v' }, expected: 'v' },
  { name: '$ inside a standard name', template: '{{ a$b }}', values: { a$b: 1 }, expected: 1 },
  { name: 'Unicode name', template: '{{ café }}', values: { café: 'ok' }, expected: 'ok' },
  { name: 'prototype keys are not values', template: { v: '{{ constructor }}' }, values: {}, expected: {} },
  // ENV_VAR placeholders.
  {
    name: 'embedded env var',
    template: '{{ $HOME }}/x',
    values: {},
    env: { HOME: '/root' },
    expected: '/root/x',
  },
  {
    name: 'whole-string env var is a string',
    template: '{{ $PORT }}',
    values: {},
    env: { PORT: '8080' },
    expected: '8080',
  },
  { name: 'missing whole-string env var is ""', template: '{{ $NOPE }}', values: {}, env: {}, expected: '' },
  {
    name: 'undefined env entry is missing',
    template: 'a{{ $X }}b',
    values: {},
    env: { X: undefined },
    expected: 'ab',
  },
  {
    name: 'leading $ are all stripped',
    template: '{{ $$HOME }}',
    values: {},
    env: { HOME: '/root' },
    expected: '/root',
  },
  {
    name: 'env var is not looked up in values',
    template: '{{ $cpu }}',
    values: { cpu: 1 },
    env: {},
    expected: '',
  },
  {
    name: 'env var in an object is kept even when unset',
    template: { a: '{{ $NOPE }}' },
    values: {},
    expected: { a: '' },
  },
  // Block and variable placeholders are left for later passes.
  {
    name: 'whole-string block placeholder untouched',
    template: '{{ prefect.blocks.aws-credentials.prod }}',
    values: {},
    expected: '{{ prefect.blocks.aws-credentials.prod }}',
  },
  {
    name: 'embedded block placeholder untouched',
    template: '{{ prefect.blocks.secret.x }}-{{ a }}',
    values: { a: 1 },
    expected: '{{ prefect.blocks.secret.x }}-1',
  },
  {
    name: 'whole-string variable placeholder untouched',
    template: '{{ prefect.variables.image }}',
    values: {},
    expected: '{{ prefect.variables.image }}',
  },
  {
    name: 'embedded variable placeholder untouched',
    template: 'img:{{ prefect.variables.tag }}',
    values: {},
    expected: 'img:{{ prefect.variables.tag }}',
  },
  // Single pass.
  {
    name: 'substituted text is not rendered again (embedded)',
    template: '{{ a }}-{{ b }}',
    values: { a: '{{ b }}', b: 'B' },
    expected: '{{ b }}-B',
  },
  {
    name: 'substituted text is not rendered again (whole)',
    template: '{{ a }}',
    values: { a: '{{ b }}', b: 'B' },
    expected: '{{ b }}',
  },
  {
    name: 'substituted objects are not rendered again',
    template: '{{ a }}',
    values: { a: { k: '{{ b }}' }, b: 'B' },
    expected: { k: '{{ b }}' },
  },
  // Non-strings and non-placeholders.
  { name: 'number template untouched', template: 5, values: { x: 1 }, expected: 5 },
  { name: 'boolean template untouched', template: true, values: {}, expected: true },
  { name: 'null template untouched', template: null, values: {}, expected: null },
  { name: 'string without placeholders untouched', template: 'plain', values: {}, expected: 'plain' },
  { name: 'malformed placeholder untouched', template: '{{ a b }}', values: { a: 1 }, expected: '{{ a b }}' },
  { name: 'empty braces untouched', template: '{{}}', values: {}, expected: '{{}}' },
  {
    name: 'single closing brace is not a placeholder',
    template: '{{ a }',
    values: { a: 1 },
    expected: '{{ a }',
  },
  {
    name: 'object keys are not rendered',
    template: { '{{ a }}': 1 },
    values: { a: 'k' },
    expected: { '{{ a }}': 1 },
  },
  {
    name: 'nested objects and arrays',
    template: { a: [{ b: '{{ x }}' }, '{{ y }}', { c: ['{{ x }}', 'lit', 3] }] },
    values: { x: 1 },
    expected: { a: [{ b: 1 }, { c: [1, 'lit', 3] }] },
  },
  // The default ECS base job template's env.
  {
    name: 'ecs "{{ env }}" with an env object',
    template: { env: '{{ env }}', stream_output: false },
    values: { env: { A: '1', B: null } },
    expected: { env: { A: '1', B: null }, stream_output: false },
  },
  {
    name: 'ecs "{{ env }}" without env is removed',
    template: { env: '{{ env }}', stream_output: false, task_start_timeout_seconds: 0 },
    values: {},
    expected: { stream_output: false, task_start_timeout_seconds: 0 },
  },
];

describe('applyValues (spec §1.6 table)', () => {
  it('has at least 40 cases', () => {
    expect(cases.length).toBeGreaterThanOrEqual(40);
  });

  it.each(cases)('$name', ({ template, values, env, expected }) => {
    expect(applyValues(template, values, env === undefined ? {} : { env })).toEqual(expected);
  });
});

describe('applyValues options and errors', () => {
  it('with removeNotSet=false keeps missing embedded placeholders and the template of missing keys', () => {
    const template = { a: '{{ nope }}', b: 'x-{{ nope }}', c: ['{{ nope }}', 1] };
    expect(applyValues(template, {}, { removeNotSet: false })).toEqual({
      a: '{{ nope }}',
      b: 'x-{{ nope }}',
      c: [1], // arrays drop NotSet items whatever the option, as Prefect does
    });
  });

  it('returns the NOT_SET sentinel, recognised by isNotSet', () => {
    const result = applyValues('{{ x }}', {});
    expect(isNotSet(result)).toBe(true);
    expect(isNotSet(undefined)).toBe(false);
    expect(NOT_SET).toBe(Symbol.for('stevedore:templating:NotSet'));
  });

  it('rejects values JSON cannot hold with KERNEL_TEMPLATE_RENDER naming the path', () => {
    try {
      applyValues({ a: [1, () => 1] }, {});
      expect.unreachable();
    } catch (e) {
      expect(isStevedoreError(e, kernelErrorCodes.TEMPLATE_RENDER)).toBe(true);
      expect((e as Error).message).toContain("'a[1]'");
    }
  });

  it('keeps a "__proto__" key as data', () => {
    const template = JSON.parse('{"__proto__": "{{ x }}", "b": 1}') as Record<string, unknown>;
    const out = applyValues(template, { x: 'v' }) as Record<string, unknown>;
    expect(Object.getPrototypeOf(out)).toBe(Object.prototype);
    expect(Object.getOwnPropertyDescriptor(out, '__proto__')?.value).toBe('v');
  });

  it('does not share objects with the values it substitutes', () => {
    const values = { net: { subnets: ['a'] } };
    const out = applyValues({ n: '{{ net }}' }, values) as { n: { subnets: string[] } };
    out.n.subnets.push('b');
    expect(values.net.subnets).toEqual(['a']);
  });
});

describe('findPlaceholders and getFromPath', () => {
  it('classifies placeholder kinds', () => {
    const found = findPlaceholders(
      '{{ a }} {{ $B }} {{ prefect.blocks.s.n }} {{ prefect.variables.v }} {{ a }}',
    );
    expect(found.map((p) => [p.name, p.kind])).toEqual([
      ['a', placeholderKinds.STANDARD],
      ['$B', placeholderKinds.ENV_VAR],
      ['prefect.blocks.s.n', placeholderKinds.BLOCK_DOCUMENT],
      ['prefect.variables.v', placeholderKinds.VARIABLE],
    ]);
  });

  it('recurses into objects and arrays, ignoring keys', () => {
    const found = findPlaceholders({ '{{ k }}': ['{{ a }}', { b: 'x {{ b }}' }], n: 1, z: null });
    expect(found.map((p) => p.fullMatch)).toEqual(['{{ a }}', '{{ b }}']);
  });

  it('exposes the pattern without global state', () => {
    expect(PLACEHOLDER_PATTERN.flags).not.toContain('g');
    expect(PLACEHOLDER_PATTERN.exec('x {{ a.b[0] }}')?.[1]).toBe('a.b[0]');
  });

  it('treats brackets as separators, as get_from_dict does', () => {
    const values = { a: [[1, 2], [3]] };
    expect(getFromPath(values, 'a[0][1]')).toBe(2);
    expect(getFromPath(values, 'a.1.0')).toBe(3);
    expect(getFromPath(values, 'a[0]]')).toEqual([1, 2]);
    expect(getFromPath(values, 'a.+1.0')).toBe(3);
    expect(getFromPath(values, 'a.1_0')).toBe(NOT_SET);
    expect(getFromPath({ a: 1 }, 'a.b')).toBe(NOT_SET);
  });
});

// --- Property tests -------------------------------------------------------------------------------

const noPlaceholderJson = fc.jsonValue().filter((v) => !JSON.stringify(v).includes('{{'));
const varName = fc.stringMatching(/^[a-z][a-z0-9_]{0,8}$/);

/** A template built from literal JSON and placeholders over a small set of names. */
const templateArb = (names: string[]) =>
  fc.letrec((tie) => ({
    node: fc.oneof(
      { depthSize: 'small', withCrossShrink: true },
      fc.constantFrom(...names).map((n) => `{{ ${n} }}`),
      fc.tuple(fc.string(), fc.constantFrom(...names)).map(([s, n]) => `${s.replaceAll('{', '')}{{ ${n} }}!`),
      fc.oneof(
        fc.integer(),
        fc.boolean(),
        fc.constant(null),
        fc.string().map((s) => s.replaceAll('{', '')),
      ),
      fc.array(tie('node'), { maxLength: 4 }),
      fc.dictionary(varName, tie('node'), { maxKeys: 4 }),
    ),
  })).node;

describe('applyValues properties', () => {
  it('returns templates without placeholders deep-equal', () => {
    fc.assert(
      fc.property(noPlaceholderJson, fc.dictionary(varName, fc.jsonValue()), (template, values) => {
        expect(applyValues(template, values)).toEqual(template);
      }),
    );
  });

  it('returns the raw value for a whole-string placeholder of any JSON value', () => {
    fc.assert(
      fc.property(varName, fc.jsonValue(), (name, value) => {
        expect(applyValues(`{{ ${name} }}`, { [name]: value })).toEqual(value);
      }),
    );
  });

  it('never mutates its inputs', () => {
    const names = ['a', 'b', 'c', 'd'];
    fc.assert(
      fc.property(
        templateArb(names),
        fc.dictionary(fc.constantFrom(...names), fc.jsonValue()),
        fc.dictionary(fc.constantFrom('HOME', 'X'), fc.string()),
        (template, values, env) => {
          const before = structuredClone({ template, values, env });
          applyValues(template, values, { env });
          expect({ template, values, env }).toEqual(before);
        },
      ),
    );
  });

  it('removes exactly the keys whose placeholder is missing', () => {
    fc.assert(
      fc.property(
        fc.dictionary(varName, varName, { minKeys: 1 }),
        fc.dictionary(varName, fc.jsonValue()),
        (template, values) => {
          const rendered = applyValues(
            Object.fromEntries(Object.entries(template).map(([k, n]) => [k, `{{ ${n} }}`])),
            values,
          ) as Record<string, unknown>;
          const expectedKeys = Object.keys(template).filter((k) =>
            Object.hasOwn(values, template[k] as string),
          );
          expect(Object.keys(rendered).sort()).toEqual(expectedKeys.sort());
        },
      ),
    );
  });

  it('embeds str(value) for every present placeholder and "" for missing ones', () => {
    fc.assert(
      fc.property(
        fc.string().map((s) => `p${s.replaceAll('{', '')}`),
        fc.option(fc.string(), { nil: undefined }),
        (prefix, v) => {
          const values = v === undefined ? {} : { v };
          expect(applyValues(`${prefix}{{ v }}`, values)).toBe(`${prefix}${v ?? ''}`);
        },
      ),
    );
  });
});
