/** Starts the real `elacsym serve` on an ephemeral port and waits for its listening line (never a sleep). */
import { type ChildProcess, spawn } from 'node:child_process';
import { createInterface } from 'node:readline';
import { BIN, ROOT } from '../helpers/cli.js';

export interface Served {
  url: string;
  proc: ChildProcess;
  /** Every stderr line so far (JSON events, access log). */
  lines: string[];
  /** Resolves with the exit code once the process ended. */
  exited: Promise<number | null>;
  /** Resolves with the first stderr line matching. */
  waitLine(re: RegExp): Promise<string>;
  stop(): Promise<number | null>;
}

export async function serve(dataDir: string, args: string[] = [], env: Record<string, string> = {}): Promise<Served> {
  const clean: Record<string, string> = {};
  for (const [k, v] of Object.entries(process.env)) if (!k.startsWith('ELACSYM_') && v !== undefined) clean[k] = v;
  const proc = spawn(process.execPath, [BIN, '-d', dataDir, 'serve', '--port', '0', ...args], { cwd: ROOT, env: { ...clean, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  const lines: string[] = [];
  const waiters: { re: RegExp; resolve: (l: string) => void }[] = [];
  createInterface({ input: proc.stderr! }).on('line', (l) => {
    lines.push(l);
    for (const w of [...waiters]) if (w.re.test(l)) {
      waiters.splice(waiters.indexOf(w), 1);
      w.resolve(l);
    }
  });
  proc.stdout!.resume();
  const exited = new Promise<number | null>((resolve) => proc.on('exit', (code) => resolve(code)));
  const waitLine = (re: RegExp) =>
    new Promise<string>((resolve, reject) => {
      const seen = lines.find((l) => re.test(l));
      if (seen) return resolve(seen);
      waiters.push({ re, resolve });
      void exited.then((code) => reject(new Error(`server exited (${code}) before a line matching ${re}; stderr:\n${lines.join('\n')}`)));
    });
  const first = await waitLine(/"listening"/);
  const url = (JSON.parse(first) as { listening: string }).listening;
  return {
    url,
    proc,
    lines,
    exited,
    waitLine,
    async stop() {
      if (proc.exitCode === null && proc.signalCode === null) proc.kill('SIGTERM');
      return exited;
    },
  };
}

export async function json(res: Response): Promise<Record<string, any>> {
  return (await res.json()) as Record<string, any>;
}

export const post = (url: string, body: unknown, headers: Record<string, string> = {}) =>
  fetch(url, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body: JSON.stringify(body) });

/**
 * A strict parser of the Prometheus text exposition format 0.0.4: every line is a HELP, a TYPE or a
 * sample; names and labels follow the grammar; every sample belongs to a family declared by TYPE before
 * it; a family is declared once; histograms have ascending `le` buckets with non-decreasing counts, a
 * +Inf bucket equal to _count, and a _sum. Throws on the first violation.
 */
export function parsePrometheus(text: string): Map<string, { type: string; samples: { name: string; labels: Record<string, string>; value: number }[] }> {
  if (!text.endsWith('\n')) throw new Error('exposition must end with a newline');
  const families = new Map<string, { type: string; samples: { name: string; labels: Record<string, string>; value: number }[] }>();
  const helped = new Set<string>();
  const NAME = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/;
  const lines = text.slice(0, -1).split('\n');
  lines.forEach((line, i) => {
    const at = `line ${i + 1}: ${line}`;
    if (line.startsWith('#')) {
      const m = /^# (HELP|TYPE) ([^ ]+) (.*)$/.exec(line);
      if (!m) throw new Error(`bad comment ${at}`);
      const [, kw, name, rest] = m as unknown as [string, string, string, string];
      if (!NAME.test(name)) throw new Error(`bad metric name ${at}`);
      if (kw === 'HELP') {
        if (helped.has(name)) throw new Error(`second HELP ${at}`);
        helped.add(name);
      } else {
        if (!['counter', 'gauge', 'histogram', 'summary', 'untyped'].includes(rest)) throw new Error(`bad type ${at}`);
        if (families.has(name)) throw new Error(`second TYPE ${at}`);
        families.set(name, { type: rest, samples: [] });
      }
      return;
    }
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)(?: -?\d+)?$/.exec(line);
    if (!m) throw new Error(`bad sample ${at}`);
    const [, name, labelText, valueText] = m as unknown as [string, string, string | undefined, string];
    const labels: Record<string, string> = {};
    if (labelText !== undefined && labelText !== '') {
      const re = /([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\\n]|\\[\\"n])*)"(,|$)/y;
      let pos = 0;
      while (pos < labelText.length) {
        re.lastIndex = pos;
        const lm = re.exec(labelText);
        if (!lm) throw new Error(`bad labels ${at}`);
        if (lm[1]! in labels) throw new Error(`duplicate label ${at}`);
        labels[lm[1]!] = lm[2]!;
        pos = re.lastIndex;
      }
    }
    const value = valueText === '+Inf' ? Infinity : valueText === '-Inf' ? -Infinity : valueText === 'NaN' ? NaN : Number(valueText);
    if (!/^(?:[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?|[+-]Inf|NaN)$/.test(valueText)) throw new Error(`bad value ${at}`);
    const base = families.has(name) ? name : name.replace(/_(bucket|sum|count)$/, '');
    const fam = families.get(base);
    if (!fam) throw new Error(`sample without a TYPE before it ${at}`);
    if (base !== name && fam.type !== 'histogram' && fam.type !== 'summary') throw new Error(`suffixed sample of a ${fam.type} ${at}`);
    fam.samples.push({ name, labels, value });
  });
  for (const [name, fam] of families) {
    if (fam.type !== 'histogram') continue;
    const series = new Map<string, { le: number; v: number }[]>();
    const counts = new Map<string, number>();
    const sums = new Set<string>();
    for (const s of fam.samples) {
      const { le, ...rest } = s.labels;
      const key = JSON.stringify(rest);
      if (s.name === `${name}_bucket`) {
        if (le === undefined) throw new Error(`${name}: bucket without le`);
        const list = series.get(key) ?? [];
        list.push({ le: le === '+Inf' ? Infinity : Number(le), v: s.value });
        series.set(key, list);
      } else if (s.name === `${name}_count`) counts.set(key, s.value);
      else if (s.name === `${name}_sum`) sums.add(key);
      else throw new Error(`${name}: unexpected sample ${s.name}`);
    }
    for (const [key, list] of series) {
      for (let i = 1; i < list.length; i++) {
        if (!(list[i]!.le > list[i - 1]!.le)) throw new Error(`${name}${key}: le not ascending`);
        if (list[i]!.v < list[i - 1]!.v) throw new Error(`${name}${key}: bucket counts decrease`);
      }
      const last = list[list.length - 1]!;
      if (last.le !== Infinity) throw new Error(`${name}${key}: no +Inf bucket`);
      if (counts.get(key) !== last.v) throw new Error(`${name}${key}: +Inf bucket != _count`);
      if (!sums.has(key)) throw new Error(`${name}${key}: no _sum`);
    }
  }
  return families;
}
