/** compact, wal inspect/replay, health and corruption handling, through the real binary. */
import { execFileSync } from 'node:child_process';
import { appendFileSync, readdirSync, readFileSync, rmSync, statSync, truncateSync, writeFileSync } from 'node:fs';
import { totalmem } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterAll, describe, expect, it } from 'vitest';
import { generateDocs } from '../../src/bench/dataset.js';
import { cleanupTmp, cli, errorCode, exportMap, tmpDir } from '../helpers/cli.js';

afterAll(cleanupTmp);

const docs = [...generateDocs({ docs: 900, dim: 8, seed: 9 })];
const lines = docs.map((x) => JSON.stringify(x));

async function setup(): Promise<string> {
  const d = join(tmpDir(), 'data');
  expect((await cli(['-d', d, 'init', 'ns', '--dim', '8', '--full-text', 'title,body'])).code).toBe(0);
  return d;
}

async function results(d: string, args: string[]) {
  const r = (await cli(['-d', d, 'query', 'ns', ...args, '--format', 'json', '--top-k', '15']));
  expect(r.code, r.stderr).toBe(0);
  return (JSON.parse(r.stdout) as { results: { id: number; score: number }[] }).results;
}

const nsDir = (d: string) => join(d, 'ns');

const segFiles = (d: string, ext: string) => readdirSync(join(nsDir(d), 'segments')).filter((f) => f.endsWith(ext)).sort();

/** Many small imports, updates and deletes: the fragmented state compaction exists for. */
async function fragment(d: string): Promise<void> {
  for (let i = 0; i < 9; i++) {
    expect((await cli(['-d', d, 'import', 'ns', '-'], { input: lines.slice(i * 100, (i + 1) * 100).join('\n') })).code).toBe(0);
  }
  for (let round = 0; round < 3; round++) {
    const upd = docs.slice(round * 150, round * 150 + 150).map((x) => JSON.stringify({ ...x, attributes: { ...x.attributes, price: x.attributes.price + round + 1 } }));
    expect((await cli(['-d', d, 'import', 'ns', '-'], { input: upd.join('\n') })).code).toBe(0);
  }
  expect((await cli(['-d', d, 'delete', 'ns', '--ids', Array.from({ length: 60 }, (_, i) => 800 + i).join(',')])).code).toBe(0);
}

describe('compact', () => {
  it('keeps query results identical, drops dead rows and shrinks disk to within 1.5x of a fresh import', async () => {
    const d = (await setup());
    (await fragment(d));
    const before = (await exportMap(d, 'ns'));
    const v = JSON.stringify(docs[42]!.vector);
    const qs = [['--vector', v], ['--text', 'water plant'], ['--vector', v, '--text', 'people'], ['--vector', v, '--filter', '{"field":"bucket","op":"lt","value":20}']];
    const resBefore: { id: number; score: number }[][] = [];
    for (const a of qs) resBefore.push(await results(d, a));
    const dry = (await cli(['-d', d, '--json', 'compact', 'ns', '--dry-run']));
    expect(JSON.parse(dry.stdout)).toMatchObject({ dry_run: true, nothing_to_do: false, segments_before: 12 });
    expect(segFiles(d, '.idx')).toHaveLength(12);
    const r = (await cli(['-d', d, '--json', 'compact', 'ns']));
    expect(r.code, r.stderr).toBe(0);
    const rep = JSON.parse(r.stdout);
    expect(rep).toMatchObject({ segments_before: 12, segments_after: 1, documents_after: 840 });
    expect(rep.bytes_after).toBeLessThan(rep.bytes_before);
    // the process's peak resident memory, in bytes: more than an empty Node process holds, less than the machine
    expect(rep.peak_rss_bytes).toBeGreaterThan(20 * 1048576);
    expect(rep.peak_rss_bytes).toBeLessThan(totalmem());
    expect(segFiles(d, '.idx')).toHaveLength(1); // retired files removed
    expect((await exportMap(d, 'ns'))).toEqual(before);
    for (const [i, a] of qs.entries()) {
      const after = (await results(d, a));
      expect(after.map((x) => x.id)).toEqual(resBefore[i]!.map((x) => x.id));
      after.forEach((x, j) => expect(x.score).toBeCloseTo(resBefore[i]![j]!.score, 5));
    }
    // footprint vs a fresh import of the live documents
    const fresh = (await setup());
    expect((await cli(['-d', fresh, 'import', 'ns', '-'], { input: [...before.values()].join('\n') })).code).toBe(0);
    const size = (dd: string) => readdirSync(join(nsDir(dd), 'segments')).reduce((a, f) => a + statSync(join(nsDir(dd), 'segments', f)).size, 0) + statSync(join(nsDir(dd), 'manifest.db')).size;
    expect(size(d)).toBeLessThanOrEqual(size(fresh) * 1.5);
    // nothing left to do
    expect(JSON.parse((await cli(['-d', d, '--json', 'compact', 'ns', '--if-needed'])).stdout).nothing_to_do).toBe(true);
  });

  it('--if-needed follows the tiered policy', async () => {
    const d = (await setup());
    expect((await cli(['-d', d, 'import', 'ns', '-'], { input: lines.slice(0, 100).join('\n') })).code).toBe(0);
    expect(JSON.parse((await cli(['-d', d, '--json', 'compact', 'ns', '--if-needed'])).stdout).nothing_to_do).toBe(true);
    for (let i = 1; i < 4; i++) (await cli(['-d', d, 'import', 'ns', '-'], { input: lines.slice(i * 100, (i + 1) * 100).join('\n') }));
    const r = JSON.parse((await cli(['-d', d, '--json', 'compact', 'ns', '--if-needed'])).stdout);
    expect(r.nothing_to_do).toBe(false);
    expect(r.reason.join()).toContain('tier 0 holds 4 segments');
    expect(r.segments_after).toBe(1);
  });

  it('reports the live documents count gives, also with re-imports of existing ids pending in the journal (a tester saw 130 of 100)', async () => {
    const d = await setup();
    expect((await cli(['-d', d, 'import', 'ns', '-'], { input: lines.slice(0, 100).join('\n') })).code).toBe(0);
    // 30 existing ids again and 5 new ones, left in the journal.
    expect((await cli(['-d', d, 'import', 'ns', '-', '--no-flush'], { input: [...lines.slice(0, 30), ...lines.slice(100, 105)].join('\n') })).code).toBe(0);
    const count = JSON.parse((await cli(['-d', d, '--json', 'count', 'ns'])).stdout) as { count: number };
    expect(count.count).toBe(105);
    const idle = JSON.parse((await cli(['-d', d, '--json', 'compact', 'ns', '--if-needed'])).stdout) as { nothing_to_do: boolean; documents_before: number; documents_after: number };
    expect(idle).toMatchObject({ nothing_to_do: true, documents_before: 105, documents_after: 105 });
    const full = JSON.parse((await cli(['-d', d, '--json', 'compact', 'ns'])).stdout) as { documents_before: number; documents_after: number };
    expect(full).toMatchObject({ documents_before: 105, documents_after: 105 });
  });

  it('exits 75 at once while another writer holds the namespace, and waits with --wait', async () => {
    const d = (await setup());
    const { spawn } = await import('node:child_process');
    const { BIN } = await import('../helpers/cli.js');
    // A writer that holds the lock: import from a stdin we keep open. Its first committed-batch event
    // (--json, --batch-size 1) proves it holds the lock; no wall-clock wait.
    const child = spawn(process.execPath, [BIN, '-d', d, '--json', 'import', 'ns', '-', '--batch-size', '1'], { stdio: ['pipe', 'ignore', 'pipe'] });
    const committed = new Promise<void>((resolve, reject) => {
      let buf = '';
      child.stderr.on('data', (b: Buffer) => {
        buf += b.toString();
        if (buf.includes('"event":"committed"')) resolve();
      });
      child.on('exit', () => reject(new Error(`writer exited before committing: ${buf}`)));
    });
    child.stdin.write(`${lines[0]}\n`);
    await committed;
    const busy = (await cli(['-d', d, 'compact', 'ns']));
    expect(busy.code).toBe(75);
    expect(errorCode(busy.stderr)).toBe('BUSY');
    expect((await cli(['-d', d, 'import', 'ns', '-'], { input: lines[1] })).code).toBe(75);
    // queries keep working while the writer holds the lock
    expect((await cli(['-d', d, 'query', 'ns', '--text', 'water'])).code).toBe(0);
    const { cliAsync } = await import('../helpers/cli.js');
    const waiter = cliAsync(['-d', d, '--json', 'compact', 'ns', '--wait', '30']);
    let waitErr = '';
    // The waiter announces that it found the lock held and is waiting (its "waiting" event on stderr,
    // printed after its first refused attempt). Watching its open files for the lock instead was a race:
    // between attempts the waiter holds no descriptor, and a poll could miss every brief attempt.
    const waiting = new Promise<void>((resolve, reject) => {
      waiter.stderr.on('data', (b: Buffer) => {
        waitErr += b.toString();
        if (waitErr.includes('"event":"waiting"')) resolve();
      });
      waiter.on('exit', () => reject(new Error(`the waiting compaction exited before it waited: ${waitErr}`)));
    });
    const waiterExit = new Promise<number | null>((r) => waiter.on('exit', r));
    await waiting;
    child.stdin.end(); // the writer finishes; the waiting compaction then gets the lock
    await new Promise((r) => child.on('exit', r));
    expect(await waiterExit, waitErr).toBe(0);
    expect([...(await exportMap(d, 'ns')).keys()]).toEqual([JSON.stringify(docs[0]!.id)]);
  });

  it('survives fail points between every compaction step', async () => {
    for (const fp of ['compact:after-segment-write', 'compact:after-manifest-commit', 'compact:after-gc']) {
      const d = (await setup());
      for (let i = 0; i < 3; i++) (await cli(['-d', d, 'import', 'ns', '-'], { input: lines.slice(i * 100, (i + 1) * 100).join('\n') }));
      (await cli(['-d', d, 'delete', 'ns', '--ids', '5,6,7']));
      const before = (await exportMap(d, 'ns'));
      const r = (await cli(['-d', d, 'compact', 'ns'], { env: { ELACSYM_FAILPOINTS: fp } }));
      expect(r.code, fp).toBe(137);
      expect((await exportMap(d, 'ns')), fp).toEqual(before);
      expect((await cli(['-d', d, 'health', '--deep'])).code, fp).toBe(fp === 'compact:after-segment-write' || fp === 'compact:after-manifest-commit' ? 6 : 0); // orphans until the next writer
      expect((await cli(['-d', d, 'compact', 'ns'])).code, fp).toBe(0);
      expect((await exportMap(d, 'ns')), fp).toEqual(before);
      expect((await cli(['-d', d, 'health', '--deep'])).code, fp).toBe(0);
    }
  });
});

describe('wal inspect / replay', () => {
  it('lists pending entries, replays them idempotently, and keeps the journal bounded', async () => {
    const d = (await setup());
    expect((await cli(['-d', d, 'import', 'ns', '-', '--no-flush', '--batch-size', '100'], { input: lines.slice(0, 300).join('\n') })).code).toBe(0);
    const ins = JSON.parse((await cli(['-d', d, '--json', 'wal', 'inspect', 'ns'])).stdout);
    expect(ins.totals).toMatchObject({ pending_entries: 3, pending_documents: 300, corrupt: 0 });
    expect(ins.entries.map((e: { status: string }) => e.status)).toEqual(['ok', 'ok', 'ok']);
    // pending documents are queryable before any replay
    expect(JSON.parse((await cli(['-d', d, 'query', 'ns', '--top-k', '1000', '--format', 'json'])).stdout).results).toHaveLength(300);
    const dry = JSON.parse((await cli(['-d', d, '--json', 'wal', 'replay', 'ns', '--dry-run'])).stdout);
    expect(dry).toMatchObject({ would_apply_entries: 3, would_apply_documents: 300 });
    const rep = JSON.parse((await cli(['-d', d, '--json', 'wal', 'replay', 'ns'])).stdout);
    expect(rep).toMatchObject({ applied_entries: 3, documents: 300, inserted: 300 });
    const again = JSON.parse((await cli(['-d', d, '--json', 'wal', 'replay', 'ns'])).stdout);
    expect(again).toMatchObject({ applied_entries: 0, documents: 0 });
    expect((await exportMap(d, 'ns')).size).toBe(300);
  });

  it('replays a large backlog in bounded segments', async () => {
    const d = await setup();
    expect((await cli(['-d', d, 'import', 'ns', '-', '--no-flush', '--batch-size', '250'], { input: lines.slice(0, 900).join('\n') })).code).toBe(0);
    const rep = JSON.parse((await cli(['-d', d, '--json', 'wal', 'replay', 'ns', '--segment-docs', '300'])).stdout);
    expect(rep).toMatchObject({ applied_entries: 4, documents: 900, inserted: 900 });
    expect(segFiles(d, '.idx').length).toBe(3); // exactly 300 each: entries of 250 are split where a segment ends
    expect((await exportMap(d, 'ns')).size).toBe(900);
  });

  it('the journal and manifest stay bounded over a long import', async () => {
    const d = (await setup());
    const big = [...generateDocs({ docs: 6000, dim: 8, seed: 77 })].map((x) => JSON.stringify(x)).join('\n');
    const r = (await cli(['-d', d, 'import', 'ns', '-', '--batch-size', '200', '--segment-docs', '1000'], { input: big }));
    expect(r.code, r.stderr).toBe(0);
    const ins = JSON.parse((await cli(['-d', d, '--json', 'wal', 'inspect', 'ns'])).stdout);
    expect(ins.totals.pending_entries).toBe(0);
    // bound: the manifest holds the id table (~60 bytes/doc) plus at most one segment's worth of journal
    const manifest = statSync(join(nsDir(d), 'manifest.db')).size;
    const wal = statSync(join(nsDir(d), 'manifest.db-wal')).size;
    expect(manifest).toBeLessThan(6000 * 200 + 1_000_000);
    expect(wal).toBeLessThan(8 * 1024 * 1024);
  });

  it('a corrupt journal entry is reported, never applied, quarantined with its bytes, and the rest stays usable', async () => {
    const d = (await setup());
    expect((await cli(['-d', d, 'import', 'ns', '-', '--no-flush', '--batch-size', '100'], { input: lines.slice(0, 300).join('\n') })).code).toBe(0);
    const db = new Database(join(nsDir(d), 'manifest.db'));
    const row = db.prepare('SELECT payload FROM journal WHERE seq = 2').get() as { payload: Buffer };
    row.payload[40] = row.payload[40]! ^ 0xff;
    db.prepare('UPDATE journal SET payload = ? WHERE seq = 2').run(row.payload);
    db.close();
    const ins = (await cli(['-d', d, '--json', 'wal', 'inspect', 'ns']));
    expect(ins.code).toBe(5);
    expect(ins.stderr).toBe(''); // --json: the report says it (a plain line on stderr was beside it)
    const rep = JSON.parse(ins.stdout);
    expect(rep.entries.find((e: { seq: number }) => e.seq === 2)).toMatchObject({ status: 'corrupt' });
    expect(rep.entries.find((e: { seq: number }) => e.seq === 2).problem).toContain('CRC-32 mismatch');
    expect((await cli(['-d', d, 'health'])).code).toBe(5);
    // readers fail closed until a writer sets it aside (see test/cli/journal-damage.test.ts)
    const q = (await cli(['-d', d, 'query', 'ns', '--top-k', '1000', '--format', 'json']));
    expect(q.code).toBe(5);
    expect(errorCode(q.stderr)).toBe('CORRUPT_JOURNAL');
    // replay quarantines it and applies the others
    const replay = JSON.parse((await cli(['-d', d, '--json', 'wal', 'replay', 'ns'])).stdout);
    expect(replay).toMatchObject({ applied_entries: 2, quarantined: 1, documents: 200 });
    const dump = join(tmpDir(), 'dump');
    const after = (await cli(['-d', d, 'wal', 'inspect', 'ns', '--dump', dump]));
    expect(after.code).toBe(5);
    expect(after.stdout).toContain('quarantined');
    expect(readFileSync(join(dump, 'quarantined-2.bin')).equals(row.payload)).toBe(true);
    const dumpJson = await cli(['-d', d, '--json', 'wal', 'inspect', 'ns', '--dump', join(tmpDir(), 'dump2')]);
    expect(JSON.parse(dumpJson.stdout)).toMatchObject({ dumped: 1, totals: { quarantined: 1 } });
    expect(dumpJson.stderr).toBe('');
    expect((await cli(['-d', d, 'health'])).code).toBe(6); // degraded: quarantined entry kept for the user
    expect((await exportMap(d, 'ns')).size).toBe(200);
    const purge = JSON.parse((await cli(['-d', d, '--json', 'wal', 'replay', 'ns', '--purge-quarantine'])).stdout);
    expect(purge.purged).toBe(1);
    expect((await cli(['-d', d, 'wal', 'inspect', 'ns'])).code).toBe(0);
    expect((await cli(['-d', d, 'health'])).code).toBe(0);
  });
});

describe('corruption of segment files', () => {
  async function damaged(mutate: (idx: string, parquet: string) => void) {
    const d = (await setup());
    (await cli(['-d', d, 'import', 'ns', '-'], { input: lines.slice(0, 400).join('\n') }));
    (await cli(['-d', d, 'import', 'ns', '-'], { input: lines.slice(400, 800).join('\n') }));
    const idx = join(nsDir(d), 'segments', segFiles(d, '.idx')[0]!);
    const pq = join(nsDir(d), 'segments', segFiles(d, '.parquet')[0]!);
    mutate(idx, pq);
    return { d, idx, pq };
  }
  const flip = (p: string, at: (size: number) => number) => {
    const b = readFileSync(p);
    const i = at(b.length);
    b[i] = b[i]! ^ 0x5a;
    writeFileSync(p, b);
  };

  it.each([
    ['index file: flipped byte in the middle', (idx: string) => flip(idx, (n) => Math.floor(n / 2))],
    ['index file: flipped byte in the header', (idx: string) => flip(idx, () => 5)],
    ['index file: truncated', (idx: string) => truncateSync(idx, 1000)],
    ['index file: extended', (idx: string) => appendFileSync(idx, 'garbage')],
  ])('%s: queries fail closed with status 5 naming the file; health --deep finds it', async (_name, mutate) => {
    const { d, idx } = (await damaged((i) => mutate(i)));
    const q = (await cli(['-d', d, 'query', 'ns', '--vector', JSON.stringify(docs[1]!.vector), '--text', 'water']));
    expect(q.code).toBe(5);
    expect(errorCode(q.stderr)).toBe('CORRUPT_SEGMENT');
    expect(q.stderr).toContain(idx.split('/').pop()!);
    const h = (await cli(['-d', d, '--json', 'health', '--deep']));
    expect(h.code).toBe(5);
    expect(h.stdout).toContain(idx.split('/').pop()!);
  });

  it('a damaged Parquet file is found by health --deep and export, and compaction refuses it', async () => {
    const { d, pq } = (await damaged((_i, p) => flip(p, (n) => Math.floor(n / 3))));
    expect((await cli(['-d', d, 'health'])).code).toBe(0); // sizes match: only --deep reads every byte
    const h = (await cli(['-d', d, 'health', '--deep']));
    expect(h.code).toBe(5);
    expect(h.stdout).toContain(pq.split('/').pop()!);
    const e = (await cli(['-d', d, 'export', 'ns']));
    expect(e.code).toBe(5);
    expect((await cli(['-d', d, 'compact', 'ns'])).code).toBe(5);
    // the undamaged segment still answers queries
    expect((await cli(['-d', d, 'query', 'ns', '--text', 'water'])).code).toBe(0);
  });

  it('a named pipe in place of a segment file is damage, not a hang (a tester\'s export and health --deep blocked in open() for ever)', async () => {
    const { d, pq } = await damaged((_i, p) => {
      rmSync(p);
      execFileSync('mkfifo', [p]);
    });
    // Were open() to block, these would never return and the test would time out.
    const h = await cli(['-d', d, 'health', '--deep']);
    expect(h.code).toBe(5);
    expect(h.stdout).toContain(pq.split('/').pop()!);
    const e = await cli(['-d', d, 'export', 'ns']);
    expect(e.code).toBe(5);
    expect(errorCode(e.stderr)).toBe('CORRUPT_SEGMENT');
    expect((await cli(['-d', d, 'compact', 'ns'])).code).toBe(5);
  });
});

describe('health', () => {
  it('reports backlog, orphan files and prometheus metrics', async () => {
    const d = (await setup());
    (await cli(['-d', d, 'import', 'ns', '-', '--no-flush'], { input: lines.slice(0, 50).join('\n') }));
    expect((await cli(['-d', d, 'health'])).code).toBe(6); // no index covers the pending documents yet
    const back = (await cli(['-d', d, '--json', 'health', '--max-backlog', '10']));
    expect(back.code).toBe(6);
    const problems = JSON.parse(back.stdout).namespaces[0].problems.map((p: { code: string }) => p.code);
    expect(problems).toEqual(expect.arrayContaining(['JOURNAL_BACKLOG', 'INDEX_EMPTY']));
    expect((await cli(['-d', d, 'wal', 'replay', 'ns'])).code).toBe(0);
    expect((await cli(['-d', d, 'health', '--deep'])).code).toBe(0);
    writeFileSync(join(nsDir(d), 'segments', 'seg-00000099.idx.tmp-1'), 'leftover');
    const orphan = (await cli(['-d', d, '--json', 'health']));
    expect(orphan.code).toBe(6);
    expect(JSON.parse(orphan.stdout).namespaces[0].orphan_files).toEqual(['seg-00000099.idx.tmp-1']);
    const prom = (await cli(['-d', d, 'health', '--prometheus']));
    expect(prom.code).toBe(6);
    // text exposition format: HELP/TYPE comments, then name{labels} value
    const sample = /^[a-zA-Z_:][a-zA-Z0-9_:]*(\{([a-zA-Z_][a-zA-Z0-9_]*="(\\.|[^"\\])*",?)*\})? -?[0-9.eE+-]+$/;
    const metricLines = prom.stdout.trim().split('\n');
    for (const l of metricLines) expect(l.startsWith('# HELP ') || l.startsWith('# TYPE ') || sample.test(l), l).toBe(true);
    expect(prom.stdout).toContain('elacsym_orphan_files{namespace="ns"} 1');
    expect(prom.stdout).toContain('elacsym_health_status{namespace="ns"} 1');
    expect(prom.stdout).toContain('elacsym_documents{namespace="ns"} 50');
    // the next writer collects the orphan
    (await cli(['-d', d, 'compact', 'ns']));
    expect((await cli(['-d', d, 'health'])).code).toBe(0);
  });
});

describe('manifest size', () => {
  const manifestPages = (d: string) => {
    const db = new Database(join(nsDir(d), 'manifest.db'), { readonly: true });
    try {
      return {
        autoVacuum: Number(db.pragma('auto_vacuum', { simple: true })),
        free: Number(db.pragma('freelist_count', { simple: true })),
        pages: Number(db.pragma('page_count', { simple: true })),
      };
    } finally {
      db.close();
    }
  };

  it('gives the journal pages back once they are flushed (incremental auto-vacuum from init)', async () => {
    const d = await setup();
    expect(manifestPages(d).autoVacuum).toBe(2);
    // --no-flush: the journal holds every document, then a replay flushes it into a segment
    expect((await cli(['-d', d, 'import', 'ns', '-', '--no-flush'], { input: lines.join('\n') })).code).toBe(0);
    const full = manifestPages(d);
    expect((await cli(['-d', d, 'wal', 'replay', 'ns'])).code).toBe(0);
    const after = manifestPages(d);
    expect(after.free).toBe(0);
    expect(after.pages).toBeLessThan(full.pages / 2);
  });

  it('an import that flushes several times ends with no free pages, also when a bad line stops it', async () => {
    // 800 documents in segments of 200: the fourth flush takes the last of them, the last flush finds none.
    const f = await setup();
    expect((await cli(['-d', f, 'import', 'ns', '-', '--segment-docs', '200', '--batch-size', '50'], { input: lines.slice(0, 800).join('\n') })).code).toBe(0);
    expect(manifestPages(f).free).toBe(0);
    expect((await exportMap(f, 'ns')).size).toBe(800);
    // A bad line right after a flush took every document: exit 2, nothing left to flush.
    const g = await setup();
    const bad = await cli(['-d', g, 'import', 'ns', '-', '--segment-docs', '200', '--batch-size', '50'], { input: [...lines.slice(0, 400), '{"id":"bad","vector":[1]}'].join('\n') });
    expect(bad.code).toBe(2);
    expect(manifestPages(g).free).toBe(0);
    expect((await exportMap(g, 'ns')).size).toBe(400);
  });

  it('converts a manifest created without auto-vacuum (earlier builds) once its journal is flushed', async () => {
    const d = await setup();
    expect((await cli(['-d', d, 'import', 'ns', '-', '--no-flush'], { input: lines.join('\n') })).code).toBe(0);
    {
      // what an earlier build left: no auto-vacuum, a journal full of pending documents
      const db = new Database(join(nsDir(d), 'manifest.db'));
      db.pragma('auto_vacuum = NONE');
      db.exec('VACUUM');
      expect(Number(db.pragma('auto_vacuum', { simple: true }))).toBe(0);
      db.close();
    }
    const full = manifestPages(d);
    expect(full.autoVacuum).toBe(0);
    expect((await cli(['-d', d, 'wal', 'replay', 'ns'])).code).toBe(0);
    const after = manifestPages(d);
    expect(after.autoVacuum).toBe(2);
    expect(after.free).toBe(0);
    expect(after.pages).toBeLessThan(full.pages / 2);
    // nothing lost in the conversion
    expect((await exportMap(d, 'ns')).size).toBe(docs.length);
    expect((await cli(['-d', d, 'health', 'ns', '--deep'])).code).toBe(0);
  });
});
