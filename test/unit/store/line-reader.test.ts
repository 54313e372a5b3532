import { describe, expect, it } from 'vitest';
import { type LineReaderStats, readLines } from '../../../src/store/ingest.js';

/** A stream of `chunk`-byte pieces, like stdin's 64 KiB reads. */
async function* chunks(data: Buffer, chunk: number): AsyncGenerator<Buffer> {
  for (let i = 0; i < data.length; i += chunk) yield data.subarray(i, i + chunk);
}

async function collect(it: AsyncIterable<{ bytes: Buffer; consumed: number }>) {
  const out: { text: string; len: number; consumed: number }[] = [];
  for await (const l of it) out.push({ text: l.bytes.subarray(0, 8).toString(), len: l.bytes.length, consumed: l.consumed });
  return out;
}

describe('readLines', () => {
  it('is linear in the line length: a line spanning many chunks is joined once, whatever the chunk size', async () => {
    const long = 4 * 1024 * 1024;
    const data = Buffer.concat([Buffer.from('{"a":1}\n'), Buffer.alloc(long, 0x61), Buffer.from('\r\nlast')]);
    for (const chunk of [65536, 4096, 1 << 20]) {
      const stats: LineReaderStats = { copiedBytes: 0 };
      const lines = await collect(readLines(chunks(data, chunk), 64 * 1024 * 1024, undefined, stats));
      expect(lines.map((l) => l.len)).toEqual([7, long, 4]);
      expect(lines.map((l) => l.consumed)).toEqual([8, 8 + long + 2, data.length]);
      // Concatenating every chunk onto the partial line copied ~long²/(2·chunk) bytes (128 GiB at 4 KiB).
      expect(stats.copiedBytes).toBeLessThanOrEqual(long + 2 + 4);
    }
  });

  it('reports an over-long line once and resynchronises on the next line without buffering it', async () => {
    const data = Buffer.concat([Buffer.alloc(300_000, 0x62), Buffer.from('\n{"ok":1}\n')]);
    const stats: LineReaderStats = { copiedBytes: 0 };
    const lines = await collect(readLines(chunks(data, 65536), 100_000, undefined, stats));
    expect(lines).toEqual([
      { text: 'bbbbbbbb', len: 256, consumed: -1 },
      { text: '{"ok":1}', len: 8, consumed: data.length },
    ]);
    expect(stats.copiedBytes).toBe(0);
  });

  it('after an abort yields the complete lines already received but never the partial line after them', async () => {
    const ac = new AbortController();
    async function* input(): AsyncGenerator<Buffer> {
      yield Buffer.from('{"id":1}\n{"id":2}\n{"id":');
      ac.abort();
      yield Buffer.from('3}\n');
    }
    const lines = await collect(readLines(input(), 1024, ac.signal));
    expect(lines.map((l) => l.text)).toEqual(['{"id":1}', '{"id":2}']);
  });

  it('an abort ends a read that is still waiting for input', async () => {
    const ac = new AbortController();
    let release: () => void = () => undefined;
    async function* quiet(): AsyncGenerator<Buffer> {
      yield Buffer.from('{"id":1}\n');
      await new Promise<void>((r) => {
        release = r;
        ac.abort(); // the signal arrives while the read waits
      });
      yield Buffer.from('{"id":2}\n');
    }
    const lines = await collect(readLines(quiet(), 1024, ac.signal));
    release();
    expect(lines.map((l) => l.text)).toEqual(['{"id":1}']);
  });
});
