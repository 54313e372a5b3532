/**
 * Completion scripts come from the commander program: the bash one is sourced in a real bash and its
 * function called as bash would (COMP_WORDS/COMP_CWORD), completing commands, options, choices and
 * namespace names (through `elacsym ls`). zsh and fish scripts are syntax-checked where those shells exist.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { BIN, cleanupTmp, cli, tmpDir } from '../helpers/cli.js';

afterAll(cleanupTmp);

const has = (shell: string) => spawnSync('sh', ['-c', `command -v ${shell}`]).status === 0;

async function script(shell: string): Promise<string> {
  const r = await cli(['completion', shell]);
  expect(r.code, r.stderr).toBe(0);
  const path = join(tmpDir(), `elacsym.${shell}`);
  writeFileSync(path, r.stdout);
  return path;
}

/** Complete the last word of `words` (the line typed so far) with the generated bash function. */
function bashComplete(path: string, words: string[]): string[] {
  const q = (s: string) => `'${s.replace(/'/g, `'\\''`)}'`;
  const prog = [
    `source ${q(path)}`,
    `COMP_WORDS=(${words.map(q).join(' ')})`,
    `COMP_CWORD=${words.length - 1}`,
    'COMPREPLY=()',
    '_elacsym',
    'printf "%s\\n" "${COMPREPLY[@]}"',
  ].join('\n');
  return execFileSync('bash', ['-c', prog], { encoding: 'utf8' }).split('\n').filter(Boolean);
}

describe('completion', () => {
  it('bash: the script parses, and completes commands, options, choices and namespace names', async () => {
    const path = await script('bash');
    execFileSync('bash', ['-n', path]);
    expect(bashComplete(path, [BIN, 'ba'])).toEqual(['backup']);
    expect(bashComplete(path, [BIN, 'wal', ''])).toEqual(['inspect', 'replay']);
    expect(bashComplete(path, [BIN, 'import', 'docs', '--on'])).toEqual(['--on-error']);
    expect(bashComplete(path, [BIN, 'query', 'docs', '--format', ''])).toEqual(['json', 'ndjson', 'table']);
    expect(bashComplete(path, [BIN, 'completion', ''])).toEqual(['bash', 'zsh', 'fish']);
    expect(bashComplete(path, [BIN, 'restore', 'x', 'y', '--f'])).toEqual(['--force']);
    // Namespace names come from `elacsym ls`, in the data directory typed on the line.
    const d = join(tmpDir(), 'data');
    for (const ns of ['alpha', 'beta']) expect((await cli(['-d', d, 'init', ns, '--dim', '2'])).code).toBe(0);
    expect(bashComplete(path, [BIN, '-d', d, 'describe', ''])).toEqual(['alpha', 'beta']);
    expect(bashComplete(path, [BIN, '--data-dir', d, 'backup', 'al'])).toEqual(['alpha']);
    expect(bashComplete(path, [BIN, '-d', d, 'wal', 'inspect', 'b'])).toEqual(['beta']);
  });

  it('bash: every command and option of the program is offered (the script cannot go stale)', async () => {
    const { buildProgram } = await import('../../src/cli/main.js');
    const path = await script('bash');
    const program = buildProgram();
    const top = bashComplete(path, [BIN, '']);
    for (const c of program.commands) {
      expect(top).toContain(c.name());
      const path2 = c.commands.length ? [c.name(), c.commands[0]!.name()] : [c.name()];
      const cmd = c.commands.length ? c.commands[0]! : c;
      const offered = bashComplete(path, [BIN, ...path2, '--']);
      for (const o of cmd.options) if (o.long) expect(offered, `${path2.join(' ')} ${o.long}`).toContain(o.long);
    }
  });

  it.skipIf(!has('zsh'))('zsh: the script parses (zsh -n; skipped: zsh is not installed here)', async () => {
    execFileSync('zsh', ['-n', await script('zsh')]);
  });

  it.skipIf(!has('fish'))('fish: the script parses (fish --no-execute; skipped: fish is not installed here)', async () => {
    execFileSync('fish', ['--no-execute', await script('fish')]);
  });

  it('zsh and fish scripts are generated from the same program', async () => {
    const z = await cli(['completion', 'zsh']);
    expect(z.stdout).toMatch(/^#compdef elacsym/);
    expect(z.stdout).toContain("'backup') subs=''");
    const f = await cli(['completion', 'fish']);
    expect(f.stdout).toContain("complete -c elacsym -n '__fish_seen_subcommand_from query' -l format -x -a 'json ndjson table'");
    expect(f.stdout).toContain("-a '(__elacsym_namespaces)'");
    const bad = await cli(['completion', 'tcsh']);
    expect(bad.code).toBe(2);
  });
});
