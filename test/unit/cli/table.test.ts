import { describe, expect, it } from 'vitest';
import stringWidth from 'string-width';
import { fitCell, renderTable, type TableColumn } from '../../../src/cli/table.js';

const cols: TableColumn[] = [
  { head: 'rank', shrink: false, right: true },
  { head: 'id', shrink: false },
  { head: 'title', shrink: true },
  { head: 'body', shrink: true },
];

describe('table output', () => {
  it('keeps natural widths when the rows fit, one column per attribute, aligned', () => {
    const lines = renderTable(cols, [['1', '42', 'short', 'text'], ['10', '"doc-7"', 'a longer title', 'x']], 200);
    expect(lines).toEqual(['rank  id       title           body', '   1  42       short           text', '  10  "doc-7"  a longer title  x']);
  });

  it('fits a narrow terminal by cutting attribute columns only, never rank or id, widest first', () => {
    const long = 'lorem ipsum dolor sit amet '.repeat(10);
    const rows = [['1', '"an-id-that-must-stay-whole"', long, long.slice(0, 30)]];
    for (const width of [60, 80, 120]) {
      const lines = renderTable(cols, rows, width);
      for (const l of lines) expect(stringWidth(l), `${width}: ${l}`).toBeLessThanOrEqual(width);
      expect(lines[1]).toContain('"an-id-that-must-stay-whole"');
      expect(lines[1]).toContain('…');
    }
  });

  it('measures display cells, so CJK text stays aligned and is cut on character boundaries', () => {
    const lines = renderTable(cols, [['1', '1', '我们正在构建向量数据库', 'b'], ['2', '2', 'ascii', 'b']], 200);
    const colOfB = (l: string) => stringWidth(l.slice(0, l.lastIndexOf('b')));
    expect(colOfB(lines[1]!)).toBe(colOfB(lines[2]!));
    const cut = fitCell('我们正在构建向量数据库', 9);
    expect(stringWidth(cut)).toBeLessThanOrEqual(9);
    expect(cut.endsWith('…')).toBe(true);
  });

  it('flattens line breaks and tabs inside cells so one result is one line', () => {
    const lines = renderTable(cols, [['1', '1', 'two\nlines', 'tab\there']], 200);
    expect(lines).toHaveLength(2);
    expect(lines[1]).toContain('two lines');
  });
});

describe('control characters', () => {
  it('are shown as escapes, never written to the terminal (a stored value must not retitle or recolour it)', () => {
    const cols: TableColumn[] = [{ head: 'id', shrink: false }, { head: 't', shrink: true }];
    const lines = renderTable(cols, [['1', 'evil \u001b]0;pwned\u0007 \u001b[31mred\u009b2J\u007f']], 200);
    expect(lines[1]).toBe('1   evil \\u001b]0;pwned\\u0007 \\u001b[31mred\\u009b2J\\u007f');
    expect(lines.join('\n')).not.toMatch(/[\u0000-\u0009\u000b-\u001f\u007f-\u009f]/);
  });
});
