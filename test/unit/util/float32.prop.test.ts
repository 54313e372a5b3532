import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { float32ToJson, shortestFloat32 } from '../../../src/util/float32.js';

/** Significant digits of a number as JSON prints it. */
function digits(y: number): number {
  const m = /^-?(\d+)(?:\.(\d+))?(?:e[-+]?\d+)?$/.exec(JSON.stringify(y));
  if (!m) throw new Error(`unexpected ${y}`);
  return `${m[1]}${m[2] ?? ''}`.replace(/^0+/, '').replace(/0+$/, '').length || 1;
}

/** Oracle: the fewest digits p (1..9) for which some p-digit decimal reads back as x, by brute force. */
function oracleDigits(x: number): number {
  for (let p = 1; p <= 9; p++) {
    const s = x.toExponential(p - 1);
    const [m, e] = s.split('e') as [string, string];
    const mant = BigInt(m.replace('.', ''));
    // every p-digit decimal within 3 steps of the rounded one (far more than the rounding interval spans)
    for (let d = -3n; d <= 3n; d++) if (Math.fround(Number(`${mant + d}e${Number(e) - (p - 1)}`)) === x) return p;
  }
  return 9;
}

const float32 = fc.float({ noNaN: true, noDefaultInfinity: true });

describe('shortest float32 decimals', () => {
  it('read back as the same float32, bit for bit', () => {
    fc.assert(
      fc.property(float32, (x) => {
        const y = JSON.parse(JSON.stringify(shortestFloat32(x))) as number;
        expect(Math.fround(y)).toBe(x === 0 ? 0 : x);
      }),
      { numRuns: 20000 },
    );
  });

  it('are never longer than the fewest digits that read back', () => {
    fc.assert(
      fc.property(float32, (x) => {
        if (x === 0) return;
        expect(digits(shortestFloat32(x))).toBe(oracleDigits(x));
      }),
      { numRuns: 20000 },
    );
  });

  it('print what was written for typical values', () => {
    const v = Float32Array.from([0.1941, 0.1, -0.3, 1 / 3, 16777216, 3.4028234663852886e38, 1e-45, 1.17549435e-38, 0, 12345.678]);
    expect(JSON.stringify(float32ToJson(v))).toBe('[0.1941,0.1,-0.3,0.33333334,16777216,3.4028235e+38,1e-45,1.1754944e-38,0,12345.678]');
  });
});
