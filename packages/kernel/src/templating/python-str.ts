/**
 * Python's `str()` and `repr()` of JSON values. Prefect substitutes embedded placeholders with
 * `str(value)` (spec §1.6), so `"x-{{ flag }}"` with `flag: true` renders `"x-True"`, and a dict renders
 * as a Python dict literal. Stevedore must produce the same text.
 */

import { isPlainObject } from './placeholders.js';

/**
 * Python `str(value)` of a JSON value: strings unchanged, `true`/`false` → `True`/`False`, `null` →
 * `None`, numbers as Python prints them, arrays and objects as Python list/dict reprs
 * (`{'a': 1, 'b': [True, None]}`).
 *
 * @remarks
 * Limits, all from JSON arriving in JavaScript as `number`:
 * - integer-valued numbers print as Python `int`s (`1`), so a JSON `1.0`, which Python reads as the float
 *   `1.0`, renders `1`; integers beyond `Number.MAX_SAFE_INTEGER` (already imprecise in JavaScript) print
 *   as Python floats do (`1e+16`, `9007199254740992.0`);
 * - other numbers print exactly as Python's float `repr` (`0.5`, `1e-07`, `1.5e+300`);
 * - non-JSON values: `undefined` → `None` (as `JSON.stringify` would make it `null`), `bigint` → digits,
 *   anything else → `String(value)`.
 * @public
 */
export function pythonStr(value: unknown): string {
  return typeof value === 'string' ? value : pythonRepr(value);
}

/**
 * Python `repr(value)` of a JSON value; differs from {@link pythonStr} only for strings, which are quoted
 * and escaped (`'it'`, `"it's"`, `'a\nb'`).
 * @public
 */
export function pythonRepr(value: unknown): string {
  if (value === null || value === undefined) return 'None';
  if (value === true) return 'True';
  if (value === false) return 'False';
  if (typeof value === 'number') return pythonNumber(value);
  if (typeof value === 'bigint') return value.toString();
  if (typeof value === 'string') return pythonStringRepr(value);
  if (Array.isArray(value)) return `[${value.map((item) => pythonRepr(item)).join(', ')}]`;
  if (isPlainObject(value)) {
    const items = Object.entries(value)
      // JSON has no `undefined`; a key holding it would not survive serialisation to Prefect either.
      .filter(([, v]) => v !== undefined)
      .map(([k, v]) => `${pythonStringRepr(k)}: ${pythonRepr(v)}`);
    return `{${items.join(', ')}}`;
  }
  return String(value);
}

/**
 * Python's text for a number: `int` digits for safe integers, otherwise float `repr` (shortest round-trip
 * digits; scientific notation when the decimal exponent is below -4 or at least 16; `.0` on whole floats).
 * @public
 */
export function pythonNumber(n: number): string {
  if (Number.isNaN(n)) return 'nan';
  if (n === Number.POSITIVE_INFINITY) return 'inf';
  if (n === Number.NEGATIVE_INFINITY) return '-inf';
  if (Number.isSafeInteger(n)) return BigInt(n).toString();
  // toExponential() without an argument gives the shortest digits that round-trip, as Python's repr does.
  const [mantissa = '', exponentText = '0'] = n.toExponential().split('e');
  const sign = mantissa.startsWith('-') ? '-' : '';
  const digits = mantissa.replace('-', '').replace('.', '');
  const exponent = Number(exponentText);
  if (exponent < -4 || exponent >= 16) {
    const head = digits.length > 1 ? `${digits[0]}.${digits.slice(1)}` : digits;
    const expSign = exponent < 0 ? '-' : '+';
    return `${sign}${head}e${expSign}${String(Math.abs(exponent)).padStart(2, '0')}`;
  }
  if (exponent >= 0) {
    const whole = digits.slice(0, exponent + 1).padEnd(exponent + 1, '0');
    const fraction = digits.slice(exponent + 1) || '0';
    return `${sign}${whole}.${fraction}`;
  }
  return `${sign}0.${'0'.repeat(-exponent - 1)}${digits}`;
}

/** Characters Python's `str.isprintable()` rejects: categories C* and Z*, except the ASCII space. */
const NON_PRINTABLE = /[\p{C}\p{Z}]/u;

/**
 * Python `repr()` of a string: single quotes, or double quotes when the string contains a single quote and
 * no double quote; backslash, the chosen quote, `\t`, `\n`, `\r` escaped; other control and non-printable
 * characters as `\xhh`, `\uhhhh` or `\Uhhhhhhhh`.
 * @public
 */
export function pythonStringRepr(s: string): string {
  const quote = s.includes("'") && !s.includes('"') ? '"' : "'";
  let out = quote;
  for (const ch of s) {
    const cp = ch.codePointAt(0) ?? 0;
    if (ch === quote || ch === '\\') out += `\\${ch}`;
    else if (ch === '\t') out += '\\t';
    else if (ch === '\n') out += '\\n';
    else if (ch === '\r') out += '\\r';
    else if (cp < 0x20 || cp === 0x7f) out += `\\x${hex(cp, 2)}`;
    else if (cp < 0x7f || !NON_PRINTABLE.test(ch)) out += ch;
    else if (cp <= 0xff) out += `\\x${hex(cp, 2)}`;
    else if (cp <= 0xffff) out += `\\u${hex(cp, 4)}`;
    else out += `\\U${hex(cp, 8)}`;
  }
  return out + quote;
}

function hex(cp: number, width: number): string {
  return cp.toString(16).padStart(width, '0');
}
