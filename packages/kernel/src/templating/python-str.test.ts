import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { pythonNumber, pythonRepr, pythonStr, pythonStringRepr } from './python-str.js';

// Expected values were produced by CPython 3 (`repr(x)` / `str(x)`).
describe('pythonNumber', () => {
  it.each([
    [0.5, '0.5'],
    [1e-7, '1e-07'],
    [1e16, '1e+16'],
    [1.5e16, '1.5e+16'],
    [123.456, '123.456'],
    [-0.001, '-0.001'],
    [0.0001, '0.0001'],
    [0.00001, '1e-05'],
    [1e21, '1e+21'],
    [2 ** 53, '9007199254740992.0'],
    [1 / 3, '0.3333333333333333'],
    [5e-324, '5e-324'],
    [1.7976931348623157e308, '1.7976931348623157e+308'],
    [100.25, '100.25'],
    [1e15 + 0.5, '1000000000000000.5'],
    [1, '1'],
    [-42, '-42'],
    [0, '0'],
    [-0, '0'],
    [Number.MAX_SAFE_INTEGER, '9007199254740991'],
    [Number.NaN, 'nan'],
    [Number.POSITIVE_INFINITY, 'inf'],
    [Number.NEGATIVE_INFINITY, '-inf'],
  ])('%s → %s', (n, expected) => {
    expect(pythonNumber(n)).toBe(expected);
  });

  it('always parses back to the same number', () => {
    fc.assert(
      fc.property(fc.double({ noNaN: true, noDefaultInfinity: true }), (n) => {
        expect(Number(pythonNumber(n))).toBe(n === 0 ? 0 : n);
      }),
    );
  });
});

describe('pythonStringRepr', () => {
  it.each([
    ["it's", `"it's"`],
    ['a"b', `'a"b'`],
    [`both ' and "`, `'both \\' and "'`],
    [
      'tab\there\nnl\r\u0000\u007f\u0085\u00a0\u200b\u{1f600}é\\',
      "'tab\\there\\nnl\\r\\x00\\x7f\\x85\\xa0\\u200b\u{1f600}é\\\\'",
    ],
    ['', "''"],
    ['\u{e0001}', "'\\U000e0001'"],
  ])('%j', (s, expected) => {
    expect(pythonStringRepr(s)).toBe(expected);
  });
});

describe('pythonStr', () => {
  it.each([
    ['plain', 'plain'],
    [true, 'True'],
    [false, 'False'],
    [null, 'None'],
    [undefined, 'None'],
    [3, '3'],
    [
      { a: 1, b: [true, null], c: { d: 'x' }, e: 0.1 },
      "{'a': 1, 'b': [True, None], 'c': {'d': 'x'}, 'e': 0.1}",
    ],
    [[], '[]'],
    [{}, '{}'],
    [['a', ["it's"]], `['a', ["it's"]]`],
    [10n, '10'],
  ])('case %#', (value, expected) => {
    expect(pythonStr(value)).toBe(expected);
  });

  it('repr quotes top-level strings, str does not', () => {
    expect(pythonRepr('x')).toBe("'x'");
    expect(pythonStr('x')).toBe('x');
  });
});
