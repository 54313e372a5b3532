/**
 * Sharded import on an object store (`elacsym import --shard I/N --job NAME`, issue 14): N processes, on
 * any machines, each import the documents of their shard of one input into segments of their own, and one
 * commit publishes them all.
 *
 *   1. A shard owns the documents whose id hashes to it (ingest.ts shardOf): every id lives in exactly one
 *      shard, so the shards never disagree on a document, and input order decides within a shard as it does
 *      in a single import (a later line of an id wins).
 *   2. Each shard runs the import on a working copy of the namespace's state (store/checkout.ts; segment
 *      files are not fetched: a shard only writes new segments), uploads its new segment files (immutable
 *      objects under names its random segment-id jump makes its own) and then its stage object
 *      `<ns>/shards/<job>/<I>-of-<N>.json.gz`: the segments' manifest rows, which of their rows are live
 *      (`[id key, ordinal]`), and the schema the shard ended with. A shard re-run replaces its stage.
 *   3. The shard that finds all N stages present commits the job: on a working copy of the latest version
 *      (its pending journal flushed first, so the job's documents supersede what was acknowledged before
 *      it), each staged segment is registered as a flush registers its own (an id's older row is marked
 *      deleted), the stages' schemas are merged, and the result is committed as the next version, which
 *      records the job's name. A lost race is retried on the newer version: the stages are the input.
 *      The stage objects are deleted after the commit.
 *
 * Collection statistics stay those of the whole namespace: BM25's N, document frequencies and average
 * length are summed over live documents of every segment at query time (index/fulltext/bm25.ts), and each
 * segment's IVF is trained on the vectors it holds, as for any segment; the next `compact` merges shard
 * segments like any others.
 *
 * Idempotent: a stage whose segments the namespace already holds (the same files) is skipped, so a commit
 * interrupted after its version was written, or two shards committing the same job, never registers a
 * segment twice.
 */
import { randomBytes } from 'node:crypto';
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { gunzipSync, gzipSync } from 'node:zlib';
import { ElacsymError, isElacsymError } from '../errors.js';
import { CommitLog } from '../objstore/commit.js';
import type { ObjectStore } from '../objstore/object-store.js';
import { parseSchema } from '../model/schema.js';
import type { Schema } from '../model/types.js';
import { FORMAT_VERSION, getMeta, journalHighWater, raiseFormatVersion, readSchema, type SegmentRow, SEGMENT_FORMAT_VERSION, setMeta } from '../storage/manifest.js';
import { type Db, openDb } from '../storage/sqlite.js';
import { crc32 } from '../util/crc32.js';
import { checkoutNamespace, settlePool } from './checkout.js';
import { namespacePrefix, publishNamespace, type PublishedNamespace, type PublishReport } from './published.js';
import { Writer } from './writer.js';

/** A staged segment: its manifest row, and its live rows (id key, ordinal), ordinals ascending. */
export type StagedSegment = Omit<SegmentRow, 'level' | 'max_seq'> & { live: [string, number][] };

/** The stage object of one shard (see the module comment). */
export interface ShardStage {
  kind: 'elacsym-shard-stage';
  job: string;
  shard: number;
  of: number;
  /** The segment data format (storage/manifest.ts), which the namespace must have at the commit. */
  format_version: number;
  /** The version the shard ran on (informational: a job commits on whatever version is latest). */
  base_version: number;
  /** The shard's schema at its end: the namespace's plus the attributes its documents added. */
  schema: Schema;
  /** What the shard read: input lines and the CRC-32 of its bytes (every shard of a job reads the same). */
  input: { lines: number; crc32: number };
  documents: number;
  segments: StagedSegment[];
}

/** `<ns>/shards/<job>/` */
export function jobPrefix(ns: string, job: string): string {
  return `${namespacePrefix(ns)}shards/${job}/`;
}

/** The stage object's key of shard `shard` (1-based) of `of`. */
export function stageKey(ns: string, job: string, shard: number, of: number): string {
  return `${jobPrefix(ns, job)}${shard}-of-${of}.json.gz`;
}

/**
 * The stage of a shard's working copy: the segments it created (ids from `firstSegmentId` on: the
 * working copy's jumped next id) with their live rows, read from the state database `db`.
 */
export function collectStage(db: Db, a: { job: string; shard: number; of: number; baseVersion: number; firstSegmentId: number; input: ShardStage['input'] }): ShardStage {
  const rows = db.prepare('SELECT id, doc_count, parquet_file, parquet_bytes, parquet_crc32, index_file, index_bytes, index_crc32, created_at FROM segments WHERE id >= ? ORDER BY id').all(a.firstSegmentId) as Omit<StagedSegment, 'live'>[];
  const liveOf = db.prepare('SELECT id_key, ord FROM docs WHERE segment_id = ? ORDER BY ord').raw();
  const segments = rows.map((r) => ({ ...r, live: liveOf.all(r.id) as [string, number][] }));
  return {
    kind: 'elacsym-shard-stage',
    job: a.job,
    shard: a.shard,
    of: a.of,
    format_version: Number(getMeta(db, 'format_version') ?? '0'),
    base_version: a.baseVersion,
    schema: JSON.parse(getMeta(db, 'schema') ?? 'null') as Schema,
    input: a.input,
    documents: segments.reduce((n, g) => n + g.live.length, 0),
    segments,
  };
}

/** The meta key of the jobs a namespace's state has committed: `{ "<job>": <commit time, ms> }`. */
const JOBS_KEY = 'shard_jobs';
/** How many committed job names a state remembers (the oldest are forgotten). */
const JOBS_KEPT = 1000;

/** When job `job` was committed into this state (ms), or null. */
export function jobCommittedIn(db: Db, job: string): number | null {
  const jobs = JSON.parse(getMeta(db, JOBS_KEY) ?? '{}') as Record<string, number>;
  return Object.hasOwn(jobs, job) ? jobs[job]! : null;
}

/** The jobs with stage objects in the store: name, N, and the shards staged and missing. */
export async function listJobs(store: ObjectStore, ns: string): Promise<{ job: string; of: number; staged: number[]; missing: number[] }[]> {
  const prefix = `${namespacePrefix(ns)}shards/`;
  const jobs = new Map<string, { job: string; of: number; staged: number[] }>();
  for (const k of await store.list(prefix)) {
    const m = /^([^/]+)\/(\d+)-of-(\d+)\.json\.gz$/.exec(k.slice(prefix.length));
    if (!m) continue;
    const id = `${m[1]}/${m[3]}`;
    let j = jobs.get(id);
    if (!j) jobs.set(id, (j = { job: m[1]!, of: Number(m[3]), staged: [] }));
    if (Number(m[2]) >= 1 && Number(m[2]) <= j.of) j.staged.push(Number(m[2]));
  }
  return [...jobs.values()].map((j) => ({ ...j, staged: j.staged.sort((a, b) => a - b), missing: Array.from({ length: j.of }, (_, i) => i + 1).filter((i) => !j.staged.includes(i)) }));
}

/**
 * Uploads a stage: its segment files from `nsDir/segments/` (each checked against its row's size and
 * CRC-32 first; an object already there with the same bytes is kept, other bytes are PREFIX_CONFLICT),
 * then the stage object itself, which replaces an earlier run's of the same shard.
 * Returns what was uploaded.
 */
export async function uploadStage(store: ObjectStore, ns: string, nsDir: string, stage: ShardStage): Promise<{ objects: number; bytes: number }> {
  const prefix = namespacePrefix(ns);
  let objects = 0;
  let bytes = 0;
  for (const g of stage.segments) {
    for (const [file, size, crc] of [
      [g.parquet_file, g.parquet_bytes, g.parquet_crc32],
      [g.index_file, g.index_bytes, g.index_crc32],
    ] as const) {
      const data = readFileSync(join(nsDir, 'segments', file));
      if (data.length !== size || crc32(data) !== crc) {
        throw new ElacsymError('CORRUPT_SEGMENT', `segment file ${file} of this shard does not match its size and CRC-32: nothing was staged`, { hint: 'run the shard again' });
      }
      const key = `${prefix}segments/${file}`;
      if ((await store.putIfAbsent(key, data)) === 'exists') {
        const there = await store.get(key);
        if (there === null || !Buffer.from(there.buffer, there.byteOffset, there.byteLength).equals(data)) {
          throw new ElacsymError('PREFIX_CONFLICT', `${store.location.replace(/\/$/, '')}/${key} exists with other bytes than this shard's segment file of that name`, { hint: 'run the shard again (its segments get new names)', details: { path: key } });
        }
      } else {
        objects++;
        bytes += data.length;
      }
    }
  }
  const body = gzipSync(JSON.stringify(stage));
  await store.put(stageKey(ns, stage.job, stage.shard, stage.of), body);
  return { objects: objects + 1, bytes: bytes + body.length };
}

/** The shards (1-based) of job `job` of `of` shards whose stage objects are in the store, ascending. */
export async function stagedShards(store: ObjectStore, ns: string, job: string, of: number): Promise<number[]> {
  const re = new RegExp(`^(\\d+)-of-${of}\\.json\\.gz$`);
  const prefix = jobPrefix(ns, job);
  const found = new Set<number>();
  for (const k of await store.list(prefix)) {
    const m = re.exec(k.slice(prefix.length));
    if (m && Number(m[1]) >= 1 && Number(m[1]) <= of) found.add(Number(m[1]));
  }
  return [...found].sort((a, b) => a - b);
}

/** Reads and checks a stage object; null when it is gone. CORRUPT_MANIFEST when it is not a stage. */
export async function readStage(store: ObjectStore, key: string): Promise<ShardStage | null> {
  const raw = await store.get(key);
  if (raw === null) return null;
  const where = `${store.location.replace(/\/$/, '')}/${key}`;
  const bad = (why: string) => new ElacsymError('CORRUPT_MANIFEST', `${where} is not a shard stage: ${why}`, { hint: 'run that shard again: its stage is replaced', details: { path: key } });
  let s: ShardStage;
  try {
    s = JSON.parse(gunzipSync(raw).toString('utf8')) as ShardStage;
  } catch (e) {
    throw bad((e as Error).message);
  }
  if (s?.kind !== 'elacsym-shard-stage' || !Array.isArray(s.segments) || !Number.isSafeInteger(s.shard) || !Number.isSafeInteger(s.of)) throw bad('unexpected content');
  try {
    s.schema = parseSchema(s.schema, `${where} schema`, true);
  } catch (e) {
    throw bad((e as Error).message);
  }
  const name = /^[A-Za-z0-9._-]+$/;
  for (const g of s.segments) {
    const ints = [g?.id, g?.doc_count, g?.parquet_bytes, g?.parquet_crc32, g?.index_bytes, g?.index_crc32];
    if (!ints.every((n) => Number.isSafeInteger(n) && (n as number) >= 0) || !name.test(g.parquet_file) || !name.test(g.index_file) || !Array.isArray(g.live)) throw bad('invalid segment entry');
    for (const r of g.live) {
      if (!Array.isArray(r) || typeof r[0] !== 'string' || !Number.isSafeInteger(r[1]) || r[1] < 0 || r[1] >= g.doc_count) throw bad(`invalid live row in segment ${g.id}`);
    }
  }
  return s;
}

/**
 * The schema with the stages' attributes added. The vector settings and every attribute the namespace
 * already has must be the stages' own: a namespace altered since a shard ran is BUSY (reason 'schema': run
 * the job again); two shards that inferred different types for a new attribute are INVALID_SCHEMA.
 */
export function mergeSchemas(current: Schema, stages: readonly ShardStage[]): Schema {
  const out: Schema = { ...current, attributes: Object.assign(Object.create(null) as Schema['attributes'], current.attributes) };
  for (const st of stages) {
    const s = st.schema;
    const changed = () =>
      new ElacsymError('JOB_CONFLICT', `the namespace's schema changed after shard ${st.shard} of job ${st.job} ran: its segments were built for another schema; nothing was committed`, {
        hint: 'run the shards again: each stage is replaced',
        details: { reason: 'schema', job: st.job },
      });
    if (s.vector_dim !== current.vector_dim || s.vector_metric !== current.vector_metric) throw changed();
    for (const [k, a] of Object.entries(current.attributes)) {
      const theirs = Object.hasOwn(s.attributes, k) ? s.attributes[k] : undefined;
      if (theirs && JSON.stringify(theirs) !== JSON.stringify(a)) throw changed();
      if (!theirs && a.full_text) throw changed();
    }
    for (const [k, a] of Object.entries(s.attributes)) {
      const have = Object.hasOwn(out.attributes, k) ? out.attributes[k] : undefined;
      if (!have) out.attributes[k] = a;
      else if (JSON.stringify(have) !== JSON.stringify(a)) {
        throw new ElacsymError('INVALID_SCHEMA', `shards of job ${st.job} disagree on the type of the new attribute ${JSON.stringify(k)} (${have.type} and ${a.type}): nothing was committed`, {
          hint: 'give the attribute one type in every document (or declare it in the schema at `elacsym init`), then run the shards again',
        });
      }
    }
  }
  return out;
}

/**
 * Registers the stages' segments in the state database `db` of a working copy whose segment files
 * directory already holds their files, as a flush registers a segment it built: an id's row in an older
 * segment is marked deleted, the id map points at the staged row, and a staged segment's rows that are not
 * live (superseded within its shard) are marked deleted. A stage whose segments are all there already is
 * skipped (committed before); one with only some of them is CORRUPT_MANIFEST. The schema is replaced by
 * `schema` (mergeSchemas). One transaction. Returns what was registered.
 */
export function registerStages(db: Db, stages: readonly ShardStage[], schema: Schema, now: number): { segments: number; documents: number; skipped: number } {
  const out = { segments: 0, documents: 0, skipped: 0 };
  const existing = db.prepare('SELECT parquet_file, index_file FROM segments WHERE id = ?');
  const insert = db.prepare(
    `INSERT INTO segments (id, level, doc_count, parquet_file, parquet_bytes, parquet_crc32, index_file, index_bytes, index_crc32, max_seq, created_at)
     VALUES (?, 0, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
  );
  const getLoc = db.prepare('SELECT segment_id, ord FROM docs INDEXED BY sqlite_autoindex_docs_1 WHERE id_key = ?');
  const getCopy = db.prepare('SELECT segment_id, ord FROM docs INDEXED BY docs_copy WHERE id_key = ?');
  const putLoc = db.prepare('INSERT OR REPLACE INTO docs (id_key, segment_id, ord) VALUES (?, ?, ?)');
  const markDeleted = db.prepare('INSERT OR IGNORE INTO deleted (segment_id, ord) VALUES (?, ?)');
  db.transaction(() => {
    // Journal entries through this seq are in segments (the caller flushed the journal).
    const seq = journalHighWater(db);
    let next = Number(getMeta(db, 'next_segment_id') ?? '1');
    for (const st of stages) {
      const there = st.segments.map((g) => existing.get(g.id) as { parquet_file: string; index_file: string } | undefined);
      if (st.segments.length > 0 && there.every((t, i) => t?.parquet_file === st.segments[i]!.parquet_file && t?.index_file === st.segments[i]!.index_file)) {
        out.skipped++;
        continue;
      }
      if (there.some((t) => t !== undefined)) {
        throw new ElacsymError('CORRUPT_MANIFEST', `shard ${st.shard} of job ${st.job} names segment ids the namespace uses for other files: nothing was committed`, { hint: 'run that shard again: its segments get new ids' });
      }
      for (const g of st.segments) {
        insert.run(g.id, g.doc_count, g.parquet_file, g.parquet_bytes, g.parquet_crc32, g.index_file, g.index_bytes, g.index_crc32, seq, now);
        next = Math.max(next, g.id + 1);
        const live = new Set<number>();
        for (const [key, ord] of g.live) {
          const old = getLoc.get(key) as { segment_id: number; ord: number } | undefined;
          const copy = getCopy.get(key) as { segment_id: number; ord: number } | undefined;
          if (old?.segment_id !== copy?.segment_id || old?.ord !== copy?.ord) throw new ElacsymError('CORRUPT_MANIFEST', `the id map's two copies disagree on ${key}: nothing was committed`);
          if (old) markDeleted.run(old.segment_id, old.ord);
          putLoc.run(key, g.id, ord);
          live.add(ord);
          out.documents++;
        }
        for (let ord = 0; ord < g.doc_count; ord++) if (!live.has(ord)) markDeleted.run(g.id, ord);
        out.segments++;
      }
    }
    setMeta(db, 'next_segment_id', String(next));
    setMeta(db, 'schema', JSON.stringify(schema));
    // The stages' segments may need a newer format than the namespace had (6: text stored once): raised
    // with them, as a flush raises it (manifest.ts insertSegment), so an older elacsym refuses the namespace.
    raiseFormatVersion(db, Math.max(0, ...stages.map((st) => st.format_version)));
    // The job is remembered: a shard of it run again later is refused (JOB_CONFLICT), not committed twice.
    const jobs = JSON.parse(getMeta(db, JOBS_KEY) ?? '{}') as Record<string, number>;
    for (const st of stages) jobs[st.job] = now;
    const kept = Object.entries(jobs).sort((a, b) => a[1] - b[1]).slice(-JOBS_KEPT);
    setMeta(db, JOBS_KEY, JSON.stringify(Object.fromEntries(kept)));
  })();
  return out;
}

/**
 * Whether job `job` was committed in a version after `after`: the versions from the latest down, each
 * recording the job it committed (PublishedNamespace.job). Returns that version, or null.
 */
export async function jobCommittedAfter(log: CommitLog<PublishedNamespace>, job: string, after: number): Promise<number | null> {
  const latest = await log.latest();
  for (let v = latest?.version ?? 0; v > after; v--) {
    try {
      const rec = v === latest!.version ? latest : await log.read(v);
      if ((rec?.payload as { job?: unknown } | undefined)?.job === job) return v;
    } catch (e) {
      if (!isElacsymError(e)) throw e;
    }
  }
  return null;
}

/** Attempts of a job commit that keeps losing races to other writers. */
const MAX_COMMIT_ATTEMPTS = 5;

export type JobOutcome =
  | { status: 'waiting'; staged: number[]; missing: number[] }
  | { status: 'committed'; report: PublishReport; segments: number; documents: number }
  | { status: 'already'; version: number };

/**
 * Commits job `job` of `of` shards of namespace `ns` when every shard has staged (module comment, step 3):
 * 'waiting' (shards missing), 'committed' (by this call), or 'already' (by another shard's call, found by
 * the job name its version records). `since` is the version the caller's shard ran on: a job committed
 * after it is found. Working copies go under `workParent`, segment files through `pool` (checkout.ts).
 *
 * Errors: BUSY (reason 'schema': the namespace was altered after a shard ran; or other writers kept
 * committing), INVALID_SCHEMA (shards inferred different types for one attribute), CORRUPT_MANIFEST or
 * CORRUPT_SEGMENT (a stage or a staged segment object is damaged: run that shard again), the store's and
 * publishNamespace's errors.
 */
export async function commitJob(
  store: ObjectStore,
  ns: string,
  job: string,
  of: number,
  a: { since: number; workParent: string; pool: string; gcGraceMs?: number; signal?: AbortSignal },
): Promise<JobOutcome> {
  const log = new CommitLog<PublishedNamespace>(store, namespacePrefix(ns));
  for (let attempt = 1; ; attempt++) {
    const staged = await stagedShards(store, ns, job, of);
    const already = async () => {
      const v = await jobCommittedAfter(log, job, a.since);
      return v === null ? null : ({ status: 'already', version: v } as const);
    };
    if (staged.length < of) {
      return (await already()) ?? { status: 'waiting', staged, missing: Array.from({ length: of }, (_, i) => i + 1).filter((i) => !staged.includes(i)) };
    }
    const keys = staged.map((i) => stageKey(ns, job, i, of));
    const stages = await Promise.all(keys.map((k) => readStage(store, k)));
    if (stages.some((s) => s === null)) {
      // deleted meanwhile: the job was committed by another shard (or a shard is being re-run)
      const done = await already();
      if (done) return done;
      continue;
    }
    const all = stages as ShardStage[];
    const mismatch = inputMismatch(all);
    if (mismatch) {
      throw new ElacsymError('JOB_CONFLICT', `the shards of job ${job} ${mismatch}: nothing was committed`, {
        hint: `run the shard that read another input again on the right one (same --job), or drop the job: \`elacsym wal replay ${ns} --abandon-job ${job}\``,
        details: { job },
      });
    }
    for (const st of all) {
      // The stage records its working copy's manifest format: the segment format, 5 for a schema with
      // position-less full-text fields, 6 when a segment stores long text once.
      if (st.format_version < SEGMENT_FORMAT_VERSION || st.format_version > FORMAT_VERSION) {
        throw new ElacsymError(st.format_version > FORMAT_VERSION ? 'FORMAT_TOO_NEW' : 'FORMAT_TOO_OLD', `shard ${st.shard} of job ${job} was built in format ${st.format_version}; this elacsym writes ${SEGMENT_FORMAT_VERSION} to ${FORMAT_VERSION}`, {
          hint: 'run every shard with the same elacsym release',
        });
      }
    }
    const done = await already();
    if (done) {
      await store.delete(keys).catch(() => undefined);
      return done;
    }
    const work = join(a.workParent, `${process.pid}-${randomBytes(4).toString('hex')}`);
    try {
      const checkout = await checkoutNamespace(store, ns, work, a.pool);
      if (checkout.base === null) {
        throw new ElacsymError('NAMESPACE_NOT_FOUND', `namespace ${ns} does not exist in ${store.location} any more: job ${job} cannot be committed`, { details: { namespace: ns } });
      }
      const nsDir = join(work, ns);
      // What was acknowledged before the job is flushed first: the job's documents supersede it.
      (await Writer.open(nsDir, ns, { signal: a.signal })).close();
      const db = openDb(join(nsDir, 'manifest.db'));
      let reg: ReturnType<typeof registerStages>;
      try {
        const present = db.prepare('SELECT 1 FROM segments WHERE id = ? AND parquet_file = ?').pluck();
        for (const st of all) {
          for (const g of st.segments) {
            if (present.get(g.id, g.parquet_file)) continue; // committed before (registerStages skips the stage)
            await fetchSegmentFile(store, ns, nsDir, g.parquet_file, g.parquet_bytes, g.parquet_crc32);
            await fetchSegmentFile(store, ns, nsDir, g.index_file, g.index_bytes, g.index_crc32);
          }
        }
        reg = registerStages(db, all, mergeSchemas(readSchema(db), all), Date.now());
      } finally {
        db.close();
      }
      const report = await publishNamespace(nsDir, ns, store, { expectBase: checkout.base.version, gcGraceMs: a.gcGraceMs, signal: a.signal, job, journalApplied: checkout.journal?.applied, sourcePath: `${store.location.replace(/\/+$/, '')}/${ns}` });
      const committed = await log.read(report.version);
      if (committed) settlePool(nsDir, committed.payload, a.pool);
      await store.delete([...keys, ...(checkout.journal?.stale ?? []), ...(checkout.journal?.keys ?? [])]).catch(() => undefined);
      return { status: 'committed', report, segments: reg.segments, documents: reg.documents };
    } catch (e) {
      if (!(isElacsymError(e, 'BUSY') && e.details.reason === 'race' && attempt < MAX_COMMIT_ATTEMPTS)) throw e;
    } finally {
      rmSync(work, { recursive: true, force: true });
    }
  }
}

/** Fetches a staged segment file into the working copy, checked against its size and CRC-32. */
async function fetchSegmentFile(store: ObjectStore, ns: string, nsDir: string, file: string, bytes: number, crc: number): Promise<void> {
  const key = `${namespacePrefix(ns)}segments/${file}`;
  const data = await store.get(key);
  if (data === null || data.length !== bytes || crc32(data) !== crc) {
    throw new ElacsymError(data === null ? 'CORRUPT_MANIFEST' : 'CORRUPT_SEGMENT', `${store.location.replace(/\/$/, '')}/${key} is ${data === null ? 'missing' : 'damaged'}: a shard staged it; nothing was committed`, {
      hint: 'run the shard that staged it again',
      details: { path: key },
    });
  }
  writeFileSync(join(nsDir, 'segments', file), data);
}

/**
 * Why the complete job `job` of `of` shards cannot be committed as staged (its shards read different
 * inputs), or null. Reads the stages.
 */
export async function jobInputConflict(store: ObjectStore, ns: string, job: string, of: number): Promise<string | null> {
  const stages = (await Promise.all(Array.from({ length: of }, (_, i) => readStage(store, stageKey(ns, job, i + 1, of))))).filter((s): s is ShardStage => s !== null);
  const mismatch = inputMismatch(stages);
  return mismatch ? `its shards ${mismatch}` : null;
}

/** "read different inputs (shard 1: ...; shard 2: ...)" when the stages' inputs differ, else null. */
function inputMismatch(stages: readonly ShardStage[]): string | null {
  const first = stages[0];
  const other = stages.find((st) => st.input?.lines !== first?.input?.lines || st.input?.crc32 !== first?.input?.crc32);
  const of = (st: ShardStage) => `shard ${st.shard}: ${st.input?.lines} lines, CRC-32 ${st.input?.crc32}`;
  return other ? `read different inputs (${of(first!)}; ${of(other)})` : null;
}

/** Deletes the stage objects of job `job` (every N); their segments become orphans for garbage collection. Returns how many. */
export async function abandonJob(store: ObjectStore, ns: string, job: string): Promise<number> {
  const keys = await store.list(jobPrefix(ns, job));
  if (keys.length > 0) await store.delete(keys);
  return keys.length;
}
