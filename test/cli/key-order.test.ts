/**
 * Deterministic output: a document prints with its attribute keys in the order it was written with,
 * whether it sits in the journal, in a flushed segment (whose Parquet file stores one column per attribute,
 * in first-appearance order) or in a segment made by compaction.
 */
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { cleanupTmp, cli, tmpDir } from '../helpers/cli.js';

afterAll(cleanupTmp);

const input = [
  '{"id":1,"attributes":{"b":1,"a":"x","__proto__":"p"}}',
  '{"id":2,"attributes":{"a":"y","b":2}}',
  '{"id":3,"attributes":{"c":true,"b":3,"a":null}}',
  '{"id":4,"attributes":{}}',
];

describe('attribute key order', () => {
  it('export, get and query print keys as written, before and after a flush and a compaction', async () => {
    const d = join(tmpDir(), 'data');
    const run = async (args: string[], stdin?: string) => {
      const r = await cli(['-d', d, ...args], stdin === undefined ? {} : { input: stdin });
      expect(r.code, r.stderr).toBe(0);
      return r.stdout;
    };
    await run(['init', 'ns', '--text-only']);
    await run(['import', 'ns', '-', '--no-flush'], `${input.join('\n')}\n`);
    const want = `${input.join('\n')}\n`;
    expect(await run(['export', 'ns'])).toBe(want);
    await run(['wal', 'replay', 'ns']);
    expect(await run(['export', 'ns'])).toBe(want);
    // A second segment, then one merged segment.
    await run(['import', 'ns', '-'], '{"id":5,"attributes":{"z":0,"a":"q"}}\n');
    await run(['compact', 'ns']);
    expect(JSON.parse(await run(['describe', 'ns', '--json'])).segments).toHaveLength(1);
    const after = await run(['export', 'ns']);
    expect(after).toBe(`${want}{"id":5,"attributes":{"z":0,"a":"q"}}\n`);
    expect(await run(['get', 'ns', '3', '1'])).toBe(`${input[2]}\n${input[0]}\n`);
  });
});
