/**
 * fmtInt prints what `Math.round(n).toLocaleString('en-US')` printed (comma thousands separators) without
 * touching Intl (see its docstring): the same string for every number, except that -0 prints as "0".
 */
import { describe, expect, it } from 'vitest';
import { fmtInt } from '../../../src/cli/output.js';
import { mulberry32 } from '../../../src/util/prng.js';

describe('fmtInt', () => {
  it('matches toLocaleString("en-US") of the rounded number', () => {
    const r = mulberry32(7);
    const values = [0, 1, 999, 1000, 1001, 999_999, 1_000_000, -1, -999, -1000, -1234.5, 0.4, 2 ** 31, 2 ** 53, 2 ** 60, 1e21, 1e300, NaN, Infinity, -Infinity];
    for (let i = 0; i < 2000; i++) values.push((r() - 0.5) * 10 ** Math.floor(r() * 18));
    for (const v of values) expect(fmtInt(v), String(v)).toBe(Object.is(Math.round(v), -0) ? '0' : Math.round(v).toLocaleString('en-US'));
    expect(fmtInt(-0.2)).toBe('0');
  });
});
