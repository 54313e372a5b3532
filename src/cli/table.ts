/**
 * Aligned text tables for terminals (`query --format table`): one column per field, separated by two
 * spaces, fitted to the terminal's width. Display width comes from `string-width` (CJK and emoji take two
 * cells, combining marks none), so columns stay aligned for any script.
 *
 * Fitting: columns keep their natural width (the widest cell) while the row fits; otherwise the
 * shrinkable columns (attributes) give up width, widest first, down to a floor of 8 cells, and cells cut
 * short end with "…". Fixed columns (rank, id, score) are never cut: an id must stay copyable.
 */
import stringWidth from 'string-width';

export interface TableColumn {
  head: string;
  /** May be cut to fit the width (attributes); false for rank, id and score. */
  shrink: boolean;
  /** Right-align (numbers). */
  right?: boolean;
}

const GAP = 2;
/** C0 and C1 control characters and DEL (after line breaks and tabs became spaces). */
const CONTROL = /[\u0000-\u001f\u007f-\u009f]/g;
const MIN_SHRUNK = 8;

/** Cut `s` to at most `w` display cells, ending with "…" when cut. */
export function fitCell(s: string, w: number): string {
  if (stringWidth(s) <= w) return s;
  let out = '';
  let used = 0;
  for (const ch of s) {
    const cw = stringWidth(ch);
    if (used + cw > w - 1) break;
    out += ch;
    used += cw;
  }
  return `${out}…`;
}

function pad(s: string, w: number, right: boolean): string {
  const fill = ' '.repeat(Math.max(0, w - stringWidth(s)));
  return right ? fill + s : s + fill;
}

/** Column widths for `rows` within `maxWidth` cells (Infinity: natural widths). */
export function fitWidths(cols: readonly TableColumn[], rows: readonly (readonly string[])[], maxWidth: number): number[] {
  const widths = cols.map((c, i) => Math.max(stringWidth(c.head), ...rows.map((r) => stringWidth(r[i] ?? ''))));
  const total = () => widths.reduce((a, b) => a + b, 0) + GAP * (cols.length - 1);
  while (total() > maxWidth) {
    // Take one cell from the widest shrinkable column still above the floor.
    let best = -1;
    for (let i = 0; i < cols.length; i++) {
      if (cols[i]!.shrink && widths[i]! > MIN_SHRUNK && (best < 0 || widths[i]! > widths[best]!)) best = i;
    }
    if (best < 0) break; // nothing left to shrink: the terminal wraps
    widths[best]! -= Math.max(1, Math.min(widths[best]! - MIN_SHRUNK, total() - maxWidth));
  }
  return widths;
}

/** The table's lines (header first), fitted to `maxWidth` display cells. */
export function renderTable(cols: readonly TableColumn[], raw: readonly (readonly string[])[], maxWidth = Infinity): string[] {
  // One result is one line: breaks and tabs inside a value become spaces before anything is measured;
  // any other control character is shown as its JSON escape (\u001b), never sent to the terminal, where
  // a stored value could retitle the window, recolour or erase the screen (a tester's case).
  const rows = raw.map((r) => r.map((c) => c.replace(/[\n\r\t]/g, ' ').replace(CONTROL, (ch) => `\\u${ch.charCodeAt(0).toString(16).padStart(4, '0')}`)));
  const widths = fitWidths(cols, rows, maxWidth);
  const line = (cells: readonly string[]) =>
    cells
      .map((c, i) => {
        const w = widths[i]!;
        const cell = fitCell(c, w);
        return i === cells.length - 1 && !cols[i]!.right ? cell : pad(cell, w, Boolean(cols[i]!.right));
      })
      .join(' '.repeat(GAP))
      .trimEnd();
  return [line(cols.map((c) => c.head)), ...rows.map(line)];
}
