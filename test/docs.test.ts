/**
 * The manual pages are part of the interface: this test fails when they fall behind the code.
 * It walks the commander program (every command, subcommand, option, argument and help example) and the
 * error table of src/errors.ts, and checks man/ (and README.md, once it exists) against them.
 * Pure file reading: nothing is spawned.
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Command, Option } from 'commander';
import { describe, expect, it } from 'vitest';
import { buildProgram } from '../src/cli/main.js';
import { ERRORS, EXIT } from '../src/errors.js';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const manDir = join(root, 'man');
const readmePath = join(root, 'README.md');

// The default of --data-dir is taken from ELACSYM_DATA_DIR when the program is built; document the real one.
delete process.env.ELACSYM_DATA_DIR;
const program = buildProgram();

// ---------------------------------------------------------------------------------------------------------
// roff helpers

const pageCache = new Map<string, string>();
function readPage(file: string): string {
  let s = pageCache.get(file);
  if (s === undefined) {
    s = readFileSync(join(manDir, file), 'utf8');
    pageCache.set(file, s);
  }
  return s;
}

/** roff source -> the characters a reader sees (fonts dropped, escapes resolved); lines are kept. */
function plain(roff: string): string {
  return roff
    .replace(/\\f(?:\[[^\]]*\]|\(..|.)/g, '')
    .replace(/\\-/g, '-')
    .replace(/\\\(aq/g, "'")
    .replace(/\\\(dq/g, '"')
    .replace(/\\\(mu/g, '×')
    .replace(/\\\(em/g, '—')
    .replace(/\\&/g, '')
    .replace(/\\e/g, '\\');
}

const squash = (s: string) => s.replace(/\s+/g, ' ').trim();
const escapeRe = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
/** An option or word as a token: not glued to other option characters on either side. */
const tokenRe = (s: string) => new RegExp(`(?<![\\w-])${escapeRe(s)}(?![\\w-])`);

/** The source lines of section `.SH name` (quoted or not), up to the next `.SH`. */
function section(roff: string, name: string): string[] {
  const lines = roff.split('\n');
  const start = lines.findIndex((l) => /^\.SH\s/.test(l) && l.replace(/^\.SH\s+/, '').replace(/"/g, '').trim() === name);
  if (start < 0) return [];
  const end = lines.findIndex((l, i) => i > start && /^\.SH\s/.test(l));
  return lines.slice(start + 1, end < 0 ? lines.length : end);
}

interface Paragraph {
  /** The tag line of a `.TP` entry, in plain text. */
  tag: string;
  /** The tag and its body, in plain text on one line. */
  text: string;
}

/** Every `.TP` entry of a list of source lines: its tag line and its body up to the next .TP/.SH/.SS. */
function tagged(lines: string[]): Paragraph[] {
  const out: Paragraph[] = [];
  for (let i = 0; i < lines.length; i++) {
    if (!/^\.TP\b/.test(lines[i]!) || i + 1 >= lines.length) continue;
    let j = i + 1;
    while (j < lines.length && !(j > i + 1 && /^\.(TP|SH|SS)\b/.test(lines[j]!))) j++;
    const body = lines.slice(i + 1, j).map((l) => plain(l).replace(/^\.[A-Za-z]+\s?/, '')).join(' ');
    out.push({ tag: plain(lines[i + 1]!), text: squash(body.replace(/"/g, ' ')) });
  }
  return out;
}

// ---------------------------------------------------------------------------------------------------------
// the program

interface Entry {
  /** ['init'], ['wal'], ['wal', 'inspect'] ... */
  path: string[];
  cmd: Command;
  /** The man page that documents it. */
  page: string;
}

function walk(cmd: Command, parent: string[], out: Entry[]): Entry[] {
  for (const c of cmd.commands) {
    if (c.name() === 'help') continue; // commander's implicit help command, if it ever shows up here
    const path = [...parent, c.name()];
    out.push({ path, cmd: c, page: `elacsym-${path[0]}.1` });
    walk(c, path, out);
  }
  return out;
}

const entries = walk(program, [], []);
const label = (e: Entry) => e.path.join(' ');

/** The text commander prints for `--help`, examples included (addHelpText is only emitted here). */
function helpText(cmd: Command): string {
  let buf = '';
  cmd.configureOutput({ writeOut: (s) => (buf += s), writeErr: (s) => (buf += s), getOutHelpWidth: () => 1000 });
  cmd.outputHelp();
  return buf;
}

/** The `$ ...` example lines of a command's help. */
function examples(cmd: Command): string[] {
  return helpText(cmd)
    .split('\n')
    .filter((l) => /^\s+\$ /.test(l))
    .map((l) => squash(l.replace(/^\s+\$ /, '')));
}

/** Plain text of a page with shell continuations joined, for looking up examples. */
function exampleText(roff: string): string {
  return squash(plain(roff).replace(/\\\n/g, ' '));
}

function checkOption(page: string, o: Option, where: string): void {
  const roff = readPage(page);
  const text = plain(roff);
  const flags = [o.long, o.short].filter((f): f is string => typeof f === 'string');
  for (const f of flags) expect(tokenRe(f).test(text), `${where}: ${f} is not mentioned in man/${page}`).toBe(true);
  if (!o.long) return;
  const entry = tagged(roff.split('\n')).find((p) => tokenRe(o.long!).test(p.tag));
  expect(entry, `${where}: man/${page} has no .TP entry for ${o.long}`).toBeDefined();
  // A default or a list of choices that changed in the code must change in the page.
  const def: unknown = o.defaultValue;
  if (!o.negate && (typeof def === 'string' || typeof def === 'number')) {
    expect(entry!.text, `${where}: the entry for ${o.long} in man/${page} does not give its default ${String(def)}`).toMatch(tokenRe(String(def)));
  }
  for (const choice of o.argChoices ?? []) {
    expect(entry!.text, `${where}: the entry for ${o.long} in man/${page} does not name the choice ${choice}`).toMatch(tokenRe(choice));
  }
}

// ---------------------------------------------------------------------------------------------------------

describe('man pages', () => {
  it('the program has the commands this test expects to walk', () => {
    expect(entries.map(label)).toEqual(expect.arrayContaining(['init', 'import', 'query', 'wal', 'wal inspect', 'wal replay']));
  });

  describe.each(entries.map((e) => [label(e), e] as const))('%s', (_name, e) => {
    it(`has a man page (man/${e.page})`, () => {
      expect(existsSync(join(manDir, e.page)), `man/${e.page} is missing`).toBe(true);
    });

    it('documents every option with its default and choices', () => {
      for (const o of e.cmd.options) checkOption(e.page, o, label(e));
    });

    it('names every argument', () => {
      const text = plain(readPage(e.page));
      for (const a of e.cmd.registeredArguments) {
        expect(tokenRe(a.name()).test(text), `${label(e)}: argument <${a.name()}> is not in man/${e.page}`).toBe(true);
      }
    });

    it('carries the examples of its --help', () => {
      const text = exampleText(readPage(e.page));
      for (const ex of examples(e.cmd)) expect(text, `${label(e)}: man/${e.page} lacks the example: ${ex}`).toContain(ex);
    });

    it.skipIf(e.path.length > 1)('gives the description in its NAME line', () => {
      const name = squash(plain(section(readPage(e.page), 'NAME').join(' ')));
      expect(name.toLowerCase()).toContain(e.cmd.description().toLowerCase());
    });

    it('is listed in man/elacsym.1 with its aliases', () => {
      const commands = squash(plain(section(readPage('elacsym.1'), 'COMMANDS').join('\n')));
      for (const n of [label(e), ...e.cmd.aliases()]) {
        expect(tokenRe(n).test(commands), `"${n}" is not in the COMMANDS section of man/elacsym.1`).toBe(true);
      }
      for (const alias of e.cmd.aliases()) {
        expect(tokenRe(alias).test(plain(readPage(e.page))), `alias ${alias} is not in man/${e.page}`).toBe(true);
      }
    });

    it('lists only real exit statuses', () => {
      const known = new Set<number>(Object.values(EXIT));
      const tags = tagged(section(readPage(e.page), 'EXIT STATUS')).map((p) => p.tag.replace(/^\.B\s+/, '').trim());
      expect(tags.length, `man/${e.page} has no EXIT STATUS entries`).toBeGreaterThan(0);
      for (const t of tags) expect(known.has(Number(t)), `man/${e.page}: exit status ${t} is not in EXIT`).toBe(true);
    });

    it.skipIf(!existsSync(readmePath))('appears in README.md', () => {
      const readme = readFileSync(readmePath, 'utf8');
      expect(tokenRe(label(e)).test(readme), `"${label(e)}" is not mentioned in README.md`).toBe(true);
    });
  });

  describe('elacsym.1', () => {
    const roff = () => readPage('elacsym.1');

    it('documents the global options', () => {
      for (const o of program.options) checkOption('elacsym.1', o, 'elacsym');
    });

    it('lists exactly the exit statuses of EXIT', () => {
      const tags = tagged(section(roff(), 'EXIT STATUS')).map((p) => Number(p.tag.replace(/^\.B\s+/, '')));
      expect(tags.sort((a, b) => a - b)).toEqual([...new Set<number>(Object.values(EXIT))].sort((a, b) => a - b));
    });

    it('lists every error code with its exit status and hint, and no other', () => {
      const entriesByCode = new Map<string, Paragraph>();
      for (const p of tagged(section(roff(), 'ERRORS'))) {
        const m = /^\.BR?\s+([A-Z][A-Z_]+)\s+"\s*\(exit (\d+)\)"/.exec(p.tag);
        if (m) entriesByCode.set(m[1]!, p);
      }
      for (const [code, spec] of Object.entries(ERRORS)) {
        const p = entriesByCode.get(code);
        expect(p, `error code ${code} is not in the ERRORS section of man/elacsym.1`).toBeDefined();
        expect(p!.tag, `${code}: wrong exit status in man/elacsym.1`).toContain(`(exit ${spec.exit})`);
        expect(p!.text, `${code}: the hint in man/elacsym.1 differs from src/errors.ts`).toContain(squash(spec.hint.replace(/`/g, '')));
      }
      for (const code of entriesByCode.keys()) expect(Object.keys(ERRORS), `man/elacsym.1 documents an unknown code ${code}`).toContain(code);
    });

    it('documents the environment', () => {
      const env = plain(section(roff(), 'ENVIRONMENT').join('\n'));
      expect(env).toContain('ELACSYM_DATA_DIR');
      expect(env).toContain('ELACSYM_FAILPOINTS');
    });
  });

  describe('every page', () => {
    const files = existsSync(manDir) ? readdirSync(manDir).filter((f) => /\.\d$/.test(f)) : [];
    const expected = new Set(['elacsym.1', 'elacsym-format.5', ...entries.map((e) => e.page)]);

    it('documents something that exists', () => {
      for (const f of files) expect(expected.has(f), `man/${f} matches no command`).toBe(true);
      for (const f of expected) expect(files, `man/${f} is missing`).toContain(f);
    });

    it.each(files)('%s has a title line and the usual sections, and its references resolve', (f) => {
      const roff = readPage(f);
      const [, name, sec] = /^(.+)\.(\d)$/.exec(f)!;
      expect(roff, `man/${f}: no .TH line for ${name}(${sec})`).toMatch(new RegExp(`^\\.TH ${escapeRe(name!.toUpperCase().replace(/-/g, '\\-'))} ${sec}\\b`, 'm'));
      for (const s of ['NAME', 'DESCRIPTION', 'SEE ALSO']) expect(section(roff, s).length, `man/${f} lacks .SH ${s}`).toBeGreaterThan(0);
      if (sec === '1') for (const s of ['SYNOPSIS', 'EXIT STATUS', 'EXAMPLES']) expect(section(roff, s).length, `man/${f} lacks .SH ${s}`).toBeGreaterThan(0);
      for (const m of plain(roff).matchAll(/\b(elacsym(?:-[a-z]+)?)\s?\((\d)\)/g)) {
        expect(existsSync(join(manDir, `${m[1]}.${m[2]}`)), `man/${f} refers to ${m[1]}(${m[2]}), which does not exist`).toBe(true);
      }
    });
  });
});
