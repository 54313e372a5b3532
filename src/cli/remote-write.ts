/**
 * Writing commands on an s3:// data directory (`init`, `alter`, `import`, `patch`, `delete`, `compact`,
 * `wal replay`) and the reads that need a whole local namespace (`health`, `wal inspect`, `describe`): the
 * command runs unchanged on a private working copy of the namespace's latest version (store/checkout.ts),
 * then a writing command's result is committed as the next version, only on top of the version it started
 * from. Its output (stdout and stderr) is held until then: what it prints has been committed. Two
 * exceptions, each durable in the store before it is said: an import's per-batch acknowledgements (its
 * batches are journal objects first: store/remote-journal.ts), and a shard's staging (`import --shard`:
 * store/shards.ts, whose last shard commits the job).
 *
 * Cache: `<ELACSYM_CACHE_DIR>/work/<pid>-<n>/` (the working copy, removed at the end, swept after a kill)
 * and `<ELACSYM_CACHE_DIR>/segment-files/<hash of URL and namespace>/` (the segment files of the version
 * last committed from this machine, shared by its writers).
 */
import { createHash, randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, rmSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { ElacsymError, isElacsymError } from '../errors.js';
import { CommitLog } from '../objstore/commit.js';
import { type Checkout, checkoutNamespace, settlePool, stateUnchanged, sweepWorkingCopies } from '../store/checkout.js';
import type { ManifestRecord } from '../objstore/commit.js';
import { publishNamespace, type PublishedNamespace, type PublishReport } from '../store/published.js';
import { discardOutput, err, type GlobalOptions, holdOutput, releaseOutput, type RemoteStatus } from './output.js';
import { interruptSignal } from './interrupt.js';
import { failpoint, failpointPause } from '../util/failpoint.js';
import { cacheBytes, cacheDir, cacheHint, openRemoteStore } from './remote.js';
import { type ShardOption, shardOption } from './args.js';
import { abandonJob, collectStage, commitJob, jobCommittedIn, jobInputConflict, type JobOutcome, listJobs, type ShardStage, uploadStage } from '../store/shards.js';
import { openDb } from '../storage/sqlite.js';
import { JournalUploader, unheldEarlier } from '../store/remote-journal.js';
import { Writer } from '../store/writer.js';
import { toEnvError } from '../util/env-error.js';

/** Commands that change a namespace on an object store (committed), and those that only read a working copy. */
export const REMOTE_WRITES = new Set(['init', 'alter', 'import', 'patch', 'delete', 'compact', 'wal replay']);
export const REMOTE_WORKING_READS = new Set(['health', 'wal inspect', 'describe']);

const GC_GRACE_ENV = 'ELACSYM_GC_GRACE';

/** Garbage collection's grace period for writers, in seconds (ELACSYM_GC_GRACE; default: publish's 900). */
function gcGraceMs(env: NodeJS.ProcessEnv = process.env): number | undefined {
  const v = env[GC_GRACE_ENV];
  if (v === undefined || v === '') return undefined;
  if (!/^\d+$/.test(v)) throw new ElacsymError('USAGE', `${GC_GRACE_ENV}=${v} is not a number of seconds`, { hint: 'set it to a whole number of seconds, e.g. 900' });
  return Number(v) * 1000;
}

/**
 * Runs `run` (the command's own action) on a working copy of namespace `g.namespace` of the s3:// data
 * directory `g.dataDir`, and commits what it wrote (see the module comment). The exit status is the
 * command's; a failed commit is the commit's error (BUSY with reason 'race' when another writer committed
 * first), and then nothing the command printed on stdout is printed.
 */
export async function withRemoteWorkingCopy(
  g: GlobalOptions,
  o: Record<string, unknown>,
  run: (g: GlobalOptions) => Promise<number | void>,
  opts: { rerunnable: boolean; preflight?: () => Promise<unknown> },
): Promise<number> {
  const url = g.dataDir;
  const name = g.namespace;
  const command = g.command ?? '';
  if (!name) {
    // (`compact --all` and `health` over every namespace are local forms: on a store each namespace is its
    // own working copy, so name it; the hint lists them rather than repeating the refused form)
    throw new ElacsymError('USAGE', `\`${command}${command === 'compact' && o.all ? ' --all' : ''}\` on an object store runs on one namespace at a time: name it`, {
      hint: `\`elacsym -d ${url.replace(/\/+$/, '')} namespaces\` lists them; then \`elacsym -d ${url.replace(/\/+$/, '')} ${command} NAME\`${command === 'compact' ? ' for each (--if-needed works there too)' : ''}`,
    });
  }
  const grace = gcGraceMs();
  await opts.preflight?.();
  const root = cacheDir();
  const workParent = join(root, 'work');
  // One pool of segment files per namespace location: pruning it to one version never touches another's.
  const pool = join(root, 'segment-files', createHash('sha256').update(`${url.replace(/\/+$/, '')}/${name}`).digest('hex').slice(0, 16));
  try {
    mkdirSync(workParent, { recursive: true });
  } catch (e) {
    throw cacheHint(toEnvError(e, root, 'writing the cache (ELACSYM_CACHE_DIR) in'), root);
  }
  sweepWorkingCopies(workParent);
  const { opened } = await openRemoteStore(url, o);
  try {
    for (let attempt = 1; ; attempt++) {
      const work = join(workParent, `${process.pid}-${randomBytes(4).toString('hex')}`);
      // What the command prints names its working copy: the user named the URL.
      const rewrite = (t: string) => t.split(work).join(url.replace(/\/$/, ''));
      try {
        return await once(work, rewrite);
      } catch (e) {
        // Another writer committed first: a command whose input can be read again runs again on the new
        // version (its output from this attempt is dropped); one reading standard input cannot.
        if (!(isElacsymError(e, 'BUSY') && e.details.reason === 'race' && opts.rerunnable && attempt < MAX_ATTEMPTS)) {
          // Nothing was committed: what the command printed is dropped (its summaries and acknowledgements
          // would claim what did not happen), and the error says that nothing was committed. An error about
          // the cache names the setting that chooses it, never the working copy's path.
          discardOutput();
          throw named(e, rewrite, root);
        }
        discardOutput();
        if (!g.quiet) err(g.json ? JSON.stringify({ event: 'retry', reason: 'race', version: e.details.version, attempt: attempt + 1 }) : `${name}: version ${String(e.details.version)} was committed by another writer meanwhile; running again on it (attempt ${attempt + 1} of ${MAX_ATTEMPTS})`);
      } finally {
        discardOutput();
        rmSync(work, { recursive: true, force: true });
      }
    }
  } finally {
    await opened.close();
  }

  async function once(work: string, rewrite: (t: string) => string): Promise<number> {
    // init needs nothing from the store but that the name is free: it runs first, so that its usage errors
    // are USAGE even when the store cannot be reached, and the name is checked after (and at the commit).
    // A shard of a sharded import reads no segment: it stages new ones (store/shards.ts).
    // (a dry run of a shard reads like any dry run, and stages nothing)
    const shard = command === 'import' && !o.dryRun ? shardOption(o) : null;
    const checkout: Checkout =
      command === 'init' ? { dataDir: work, base: null, fetched: { objects: 0, bytes: 0 } } : await checkoutNamespace(opened.store, name!, work, pool, { stateOnly: shard !== null, countJournalOnly: command === 'health' });
    const checkFree = async () => {
      const latest = await new CommitLog<PublishedNamespace>(opened.store, `${name}/`).latest();
      if (latest !== null) {
        throw new ElacsymError('NAMESPACE_EXISTS', `namespace ${name} already exists in ${url} (version ${latest.version})`, { hint: 'pick another name', details: { namespace: name } });
      }
    };
    // (tests: `=pause` holds a writer between its checkout and its work, SIGUSR2 resumes it)
    await resumable((resume) => failpointPause('remote:after-checkout', resume));
    if (command !== 'init' && checkout.base === null) {
      throw new ElacsymError('NAMESPACE_NOT_FOUND', `namespace ${name} does not exist in ${url}`, {
        hint: `create it: \`elacsym init ${name} ...\`, or list what is there: \`elacsym namespaces\``,
        details: { namespace: name },
      });
    }
    let input: ShardStage['input'] | null = null;
    if (shard) {
      // The journal's pending entries are the job committer's to flush, not this shard's to stage.
      const db = openDb(join(work, name!, 'manifest.db'));
      try {
        const at = jobCommittedIn(db, shard.job);
        if (at !== null) {
          throw new ElacsymError('JOB_CONFLICT', `job ${shard.job} of ${name} was committed already (${new Date(at).toISOString()}): this shard would import its part again`, {
            hint: 'give a new import a new --job name',
            details: { job: shard.job },
          });
        }
        db.exec('DELETE FROM journal');
      } finally {
        db.close();
      }
    }
    // An import's batches are acknowledged once durable in the store as journal objects (remote-journal.ts).
    // A patch's are not: its documents are whole documents computed from the version it checked out, so a
    // batch of it left in the store's journal (a lost race, a kill) would, applied by the next writer on a
    // newer version, undo what was committed in between (another patch's change, a delete: a tester's
    // case). A patch acknowledges at its commit, like delete, and runs again when it loses a race.
    const uploader = command === 'import' && !shard ? new JournalUploader(opened.store, name!, join(work, name!, 'manifest.db')) : null;
    holdOutput();
    let code = 0;
    let failure: unknown = null;
    try {
      const remoteStatus = command === 'health' && checkout.base ? statusOf(url, checkout, root, await jobsWithConflicts()) : undefined;
      const c = await run({ ...g, dataDir: work, remote: url, afterBatch: uploader ? (onDurable) => uploader.afterBatch(onDurable) : undefined, remoteStatus, onImportSummary: (x) => (input = { lines: x.lines, crc32: x.input_crc32 ?? 0 }) });
      code = typeof c === 'number' ? c : 0;
    } catch (e) {
      failure = e;
    }
    try {
      await uploader?.drain();
    } catch (e) {
      failure ??= e;
    } finally {
      uploader?.close();
    }
    if (command === 'init' && failure === null) await checkFree();
    if (shard && failure === null) return await stageShard(work, shard, checkout, code, rewrite, input!);
    if (shard) {
      // A shard stages all of its part or nothing: the job's commit needs every document of it.
      discardOutput();
      const e = failure as ElacsymError;
      throw named(isElacsymError(failure) ? new ElacsymError(e.code, `${e.message}; shard ${shard.index}/${shard.count} of job ${shard.job} staged nothing`, { hint: e.hint, cause: e.cause, details: e.details }) : failure, rewrite, root);
    }
    let report: PublishReport | null = null;
    // What the command made durable locally is committed even when it then failed (an import that stopped
    // at a bad line keeps the batches before it, as on a local data directory).
    if (REMOTE_WRITES.has(command)) {
      const nsDir = join(work, name!);
      // init that failed made no namespace; any command may have changed nothing
      const nothing = !existsSync(join(nsDir, 'manifest.db')) || stateUnchanged(checkout, name!);
      if (nothing && failure === null) report = unchangedReport(url, name!, checkout.base!);
      else if (!nothing) {
        failpoint('remote:before-commit');
        // A signal from now on stops before the commit (nothing committed, exit 130); one that already
        // interrupted the command lets what it committed locally be committed, as locally.
        const signal = isElacsymError(failure, 'INTERRUPTED') ? undefined : interruptSignal('stopping before the commit (one already under way completes)');
        // A failed commit throws: the held output is dropped by the caller (nothing was committed).
        const journalApplied = { ...checkout.journal?.applied, ...(uploader && uploader.lastSeq > 0 ? { [uploader.writer]: uploader.lastSeq } : {}) };
        // An import whose every batch is a journal object can be committed on any newer version without
        // reading its input again: a fresh checkout applies every pending batch, its own included, in the
        // order they were acknowledged (rebase). A patch cannot: its documents were computed from the base.
        const rebaseable = command === 'import' && uploader !== null && uploader.keys.length > 0 && uploader.complete;
        let rebased: boolean | 'by-other' = false;
        try {
          // Batches another writer acknowledged before this one's last, and that this working copy does not
          // hold, would be applied after this commit, reversing the order they were acknowledged in: an
          // import rebases; any other writer loses as to a race.
          let rebase = false;
          if (uploader && uploader.lastSeq > 0) {
            const early = await unheldEarlier(opened.store, name!, { ...checkout.base?.payload.journal_applied, ...checkout.journal?.applied }, uploader.writer, uploader.lastAck);
            if (early.length > 0 && !rebaseable) {
              throw new ElacsymError('BUSY', `another writer acknowledged ${early.length} batch${early.length === 1 ? '' : 'es'} of ${name} while this command ran, before its own last one: nothing from this run was committed`, {
                hint: 'run the command again: it starts from the latest version',
                details: { reason: 'race', version: checkout.base?.version ?? 0 },
              });
            }
            rebase = early.length > 0;
          }
          if (!rebase) {
            try {
              report = await resumable((resume) => publishNamespace(nsDir, name!, opened.store, { expectBase: checkout.base?.version ?? 0, gcGraceMs: grace, resume, signal, journalApplied, sourcePath: `${url.replace(/\/+$/, '')}/${name}` }));
            } catch (e) {
              if (!(rebaseable && isElacsymError(e, 'BUSY') && e.details.reason === 'race')) throw e;
              rebase = true;
            }
          }
          if (rebase) {
            const r = await commitRebased(work, signal, uploader!);
            report = r.report;
            rebased = r.byOther ? 'by-other' : true;
          }
        } catch (e) {
          // What this run acknowledged is durable in the store's journal whatever happened to the commit.
          if (!(uploader && uploader.keys.length > 0 && isElacsymError(e) && !(e.code === 'BUSY' && e.details.reason === 'race' && opts.rerunnable))) throw e;
          if (e.details.reason === 'attribute_type_race') throw e; // (withdrawHeld said where every batch is)
          // A writer that started after them applied them, maybe: the latest version says so.
          const latest = await new CommitLog<PublishedNamespace>(opened.store, `${name}/`).latest().catch(() => null);
          const by = (latest?.payload.journal_applied?.[uploader.writer] ?? 0) >= uploader.lastSeq ? latest!.version : null;
          // Batches whose acknowledgement was held (they add attributes: JournalUploader.held) were not
          // acknowledged; they are in the store's journal all the same.
          const acked = uploader.keys.length - uploader.heldCount;
          const unacked = uploader.heldCount;
          const n = (k: number) => (k === 1 ? 'batch' : `${k} batches`);
          const pending = (k: number) => `${k === 1 ? 'is' : 'are'} in the store's journal: the next write, or \`elacsym wal replay ${name}\`, commits ${k === 1 ? 'it' : 'them'}`;
          const unless = `unless another writer gives the attributes ${unacked === 1 ? 'it adds' : 'they add'} other types first (then ${unacked === 1 ? 'it is' : 'they are'} set aside in the quarantine: \`elacsym health ${name}\`)`;
          const said =
            acked === 0
              ? `${unacked === 1 ? 'its batch was' : `its ${unacked} batches were`} not acknowledged (${unacked === 1 ? 'it adds' : 'they add'} attributes, whose types only a commit confirms), and ${by !== null ? `${unacked === 1 ? 'it was' : 'they were'} committed by version ${by}` : `${unacked === 1 ? 'it' : 'they'} ${pending(unacked)} ${unless}`}`
              : `the ${n(acked)} it acknowledged ${by !== null ? `${acked === 1 ? 'was' : 'were'} committed by version ${by}` : pending(acked)}${
                  unacked === 0 ? '' : `; the ${n(unacked)} after, not acknowledged (${unacked === 1 ? 'it adds' : 'they add'} attributes), ${by !== null ? 'too' : `${unacked === 1 ? 'is' : 'are'} there too, committed the same way ${unless}`}`
                }`;
          throw new ElacsymError(e.code, `${e.message.replace(/: nothing (from this run )?was committed.*$/, '')}; ${said}`, {
            hint: e.hint,
            cause: e.cause,
            details: { ...e.details, acknowledged_batches: acked, unacknowledged_batches: unacked },
          });
        }
        // The commit stands, with this import's attribute types: the batches held back are acknowledged now.
        uploader?.releaseHeld();
        // A signal that came after the last check before the commit: the commit completed; say so, and exit
        // 130 as for any interruption.
        if (signal?.aborted && failure === null) {
          const why = signal.reason instanceof Error ? signal.reason.message : 'interrupted';
          failure = new ElacsymError('INTERRUPTED', `${why} while the commit was under way: it completed, ${name} is at version ${report!.version}`, { hint: 'nothing to do: the command\'s changes are committed' });
        }
        failpoint('remote:after-commit');
        if (!rebased) {
          const committed = await new CommitLog<PublishedNamespace>(opened.store, `${name}/`).read(report!.version);
          if (committed) settlePool(nsDir, committed.payload, pool);
        }
        if (rebased === 'by-other' && !g.quiet) {
          err(g.json ? JSON.stringify({ event: 'committed_by_other', version: report!.version }) : `${name}: every batch of this import was committed by version ${report!.version} (another writer applied them)`);
          report = null;
        }
        // Journal objects the new version holds go (the next writer drops their record once they are gone).
        const held = [...(checkout.journal?.stale ?? []), ...(checkout.journal?.keys ?? []), ...(uploader?.keys ?? [])];
        if (held.length > 0) await opened.store.delete(held).catch(() => undefined);
      }
    }
    if (report && !g.quiet) {
      if (g.json) err(JSON.stringify({ event: report.skipped ? 'unchanged' : 'published', ...report }));
      else if (report.skipped) err(`nothing changed: ${name} stays at version ${report.version} in ${report.location}`);
      else err(`committed ${name} as version ${report.version} to ${report.location} (${report.objects_uploaded} objects uploaded, ${(report.bytes_uploaded / 1e6).toFixed(1)} MB${report.objects_deleted ? `, ${report.objects_deleted} collected` : ''})`);
    }
    await releaseOutput(true, rewrite);
    if (failure !== null) throw named(failure, rewrite, root);
    // `wal replay` also commits the sharded imports whose every shard staged (their last shard was killed
    // before its commit, or its commit failed).
    // A job that cannot be committed (its shards read different inputs...) is reported, and does not keep
    // `wal replay` from doing the rest.
    if (command === 'wal replay') {
      if (typeof o.abandonJob === 'string') {
        const n = await abandonJob(opened.store, name!, o.abandonJob);
        if (n === 0) {
          throw new ElacsymError('USAGE', `no job ${o.abandonJob} is staged in ${name}`, { hint: `\`elacsym health ${name}\` lists the staged jobs`, details: { option: '--abandon-job' } });
        }
        if (!g.quiet) err(g.json ? JSON.stringify({ event: 'abandoned', job: o.abandonJob, stages: n }) : `abandoned job ${o.abandonJob}: ${n} stage${n === 1 ? '' : 's'} removed (their segments are collected after an hour)`);
      }
      for (const j of await listJobs(opened.store, name!)) {
        if (j.missing.length > 0) continue;
        try {
          const outcome = await commitJob(opened.store, name!, j.job, j.of, { since: checkout.base?.version ?? 0, workParent: join(work, 'job'), pool, gcGraceMs: grace, signal: interruptSignal('stopping before the commit of the job') });
          sayJobOutcome(j.job, j.of, outcome);
        } catch (e) {
          if (!isElacsymError(e) || !['JOB_CONFLICT', 'INVALID_SCHEMA'].includes(e.code)) throw e;
          if (!g.quiet) {
            err(
              g.json
                ? JSON.stringify({ event: 'job_not_committed', job: j.job, error: { code: e.code, message: e.message } })
                : `elacsym: warning: job ${j.job} was not committed: ${e.message}\n  hint: run the shard that read another input again on the right one (same --job), or drop the job: \`elacsym wal replay ${name} --abandon-job ${j.job}\``,
            );
          }
        }
      }
    }
    return code;
  }

  /** The staged jobs, with why a complete one cannot be committed (for health). */
  async function jobsWithConflicts(): Promise<RemoteStatus['jobs']> {
    const jobs: RemoteStatus['jobs'] = await listJobs(opened.store, name!);
    for (const j of jobs) if (j.missing.length === 0) j.conflict = await jobInputConflict(opened.store, name!, j.job, j.of);
    return jobs;
  }

  /**
   * Commits an import's acknowledged batches on the latest version (see `rebaseable`): a fresh working copy
   * applies every journal object no version holds (this import's included), flushes them as the import
   * did, and commits; a lost race starts over. `byOther`: another writer had committed them all already.
   */
  async function commitRebased(work: string, signal: AbortSignal | undefined, uploader: JournalUploader): Promise<{ report: PublishReport; byOther: boolean }> {
    for (let attempt = 1; ; attempt++) {
      if (!g.quiet) err(g.json ? JSON.stringify({ event: 'rebase', attempt }) : `${name}: other writers committed or acknowledged batches meanwhile; committing this import's batches on the latest version (attempt ${attempt} of ${MAX_ATTEMPTS})`);
      const w2 = `${work}.r${attempt}`;
      try {
        const c2 = await checkoutNamespace(opened.store, name!, w2, pool);
        if (c2.base === null) throw new ElacsymError('NAMESPACE_NOT_FOUND', `namespace ${name} does not exist in ${url} any more`, { details: { namespace: name } });
        // (an acknowledged batch of this import cannot meet a type it did not check; one set aside for
        // damage in the store is the quarantine's, reported by health, as any writer's)
        const heldKeys = new Set(uploader.heldKeys);
        const setAside = [...(c2.journal?.quarantinedKeys ?? [])].filter(([k]) => heldKeys.has(k));
        if (setAside.length > 0) await withdrawHeld(uploader, setAside[0]![1]);
        const ns2 = join(w2, name!);
        if (o.flush !== false) (await Writer.open(ns2, name!, { signal })).close();
        if (stateUnchanged(c2, name!)) return { report: unchangedReport(url, name!, c2.base), byOther: true };
        const r = await resumable((resume) => publishNamespace(ns2, name!, opened.store, { expectBase: c2.base!.version, gcGraceMs: grace, resume, signal, journalApplied: c2.journal?.applied, sourcePath: `${url.replace(/\/+$/, '')}/${name}` }));
        const committed = await new CommitLog<PublishedNamespace>(opened.store, `${name}/`).read(r.version);
        if (committed) settlePool(ns2, committed.payload, pool);
        const held = [...(c2.journal?.stale ?? []), ...(c2.journal?.keys ?? [])];
        if (held.length > 0) await opened.store.delete(held).catch(() => undefined);
        return { report: r, byOther: false };
      } catch (e) {
        if (!(isElacsymError(e, 'BUSY') && e.details.reason === 'race' && attempt < MAX_ATTEMPTS)) throw e;
      } finally {
        rmSync(w2, { recursive: true, force: true });
      }
    }
  }

  /**
   * A rebase found batches of this import that cannot be applied on the latest version (another writer gave
   * an attribute they add another type first): nothing is committed. They are among the batches whose
   * acknowledgement was held (JournalUploader.held: only a batch adding an attribute can meet a type it
   * did not check); those are withdrawn from the store's journal, so that no later writer commits what
   * this command says it did not, and the acknowledged ones before them stay there for the next write.
   */
  async function withdrawHeld(uploader: JournalUploader, why: string): Promise<never> {
    const held = uploader.heldKeys;
    const acked = uploader.keys.length - held.length;
    await opened.store.delete(held);
    throw new ElacsymError(
      'INVALID_DOCUMENT',
      `another writer committed or acknowledged a conflicting attribute type first: ${why.replace(/^its documents/, `this import's documents`)}; nothing from this run was committed, and its last ${held.length === 1 ? 'batch' : `${held.length} batches`} (from the first one that added an attribute on) ${held.length === 1 ? 'was' : 'were'} not acknowledged and ${held.length === 1 ? 'is' : 'are'} withdrawn${acked > 0 ? `; the ${acked === 1 ? 'batch' : `${acked} batches`} it acknowledged before ${acked === 1 ? 'is' : 'are'} in the store's journal: the next write, or \`elacsym wal replay ${name}\`, commits ${acked === 1 ? 'it' : 'them'}` : ''}`,
      {
        hint: `give that attribute the namespace's type in the input (\`elacsym describe ${name}\` shows it) and import those documents again`,
        details: { reason: 'attribute_type_race', acknowledged_batches: acked, withdrawn_batches: held.length },
      },
    );
  }

  /**
   * A shard's end (store/shards.ts): its new segments and its stage go to the store, then the job is
   * committed when every shard has staged. The import's own output follows the staging (it is durable in
   * the store); the job's outcome is said after it.
   */
  async function stageShard(work: string, shard: ShardOption, checkout: Checkout, code: number, rewrite: (t: string) => string, input: ShardStage['input']): Promise<number> {
    const nsDir = join(work, name!);
    const db = openDb(join(nsDir, 'manifest.db'), { readonly: true });
    let stage: ShardStage;
    try {
      stage = collectStage(db, { job: shard.job, shard: shard.index, of: shard.count, baseVersion: checkout.base!.version, firstSegmentId: checkout.segmentIds!.jumped, input });
    } finally {
      db.close();
    }
    // One job, one N: a shard that says another N than the stages there would never complete either job.
    const others = (await listJobs(opened.store, name!)).filter((j) => j.job === shard.job && j.of !== shard.count);
    if (others.length > 0) {
      throw new ElacsymError('JOB_CONFLICT', `job ${shard.job} of ${name} has shards staged as parts of ${others[0]!.of}; this shard says ${shard.index}/${shard.count}: nothing was staged`, {
        hint: `give every shard of one import the same N, or drop the other: \`elacsym wal replay ${name} --abandon-job ${shard.job}\``,
        details: { job: shard.job },
      });
    }
    failpoint('shard:before-stage');
    const up = await uploadStage(opened.store, name!, nsDir, stage);
    failpoint('shard:after-stage');
    const staged = { event: 'staged', namespace: name, job: shard.job, shard: shard.index, of: shard.count, documents: stage.documents, segments: stage.segments.length, objects_uploaded: up.objects, bytes_uploaded: up.bytes };
    if (!g.quiet) err(g.json ? JSON.stringify(staged) : `staged shard ${shard.index}/${shard.count} of job ${shard.job}: ${stage.documents} document${stage.documents === 1 ? '' : 's'} in ${stage.segments.length} segment${stage.segments.length === 1 ? '' : 's'} (${up.objects} objects, ${(up.bytes / 1e6).toFixed(1)} MB uploaded)`);
    await releaseOutput(true, rewrite);
    const signal = interruptSignal('stopping before the commit of the job (one already under way completes)');
    const outcome = await commitJob(opened.store, name!, shard.job, shard.count, { since: checkout.base!.version, workParent: join(work, 'job'), pool, gcGraceMs: grace, signal });
    sayJobOutcome(shard.job, shard.count, outcome);
    return code;
  }

  function sayJobOutcome(job: string, of: number, outcome: JobOutcome): void {
    if (g.quiet) return;
    const n = (k: number, what: string) => `${k} ${what}${k === 1 ? '' : 's'}`;
    if (outcome.status === 'waiting') {
      err(g.json ? JSON.stringify({ event: 'waiting', job, staged: outcome.staged, missing: outcome.missing }) : `job ${job}: ${outcome.staged.length} of ${n(of, 'shard')} staged; waiting for ${outcome.missing.length === 1 ? 'shard' : 'shards'} ${listShards(outcome.missing)} (the last shard to stage commits the job)`);
    } else if (outcome.status === 'already') {
      err(g.json ? JSON.stringify({ event: 'committed', job, version: outcome.version, by: 'another shard' }) : `job ${job} was committed as version ${outcome.version} by another shard`);
    } else {
      const r = outcome.report;
      err(
        g.json
          ? JSON.stringify({ event: 'published', job, shards: of, documents: outcome.documents, ...r })
          : `committed job ${job} (${n(of, 'shard')}, ${n(outcome.documents, 'document')} in ${n(outcome.segments, 'segment')}) as version ${r.version} of ${name} in ${r.location}`,
      );
    }
  }
}

/** What `health` reports of the store and of this machine's cache (output.ts RemoteStatus). */
function statusOf(url: string, c: Checkout, root: string, jobs: RemoteStatus['jobs']): RemoteStatus {
  const files = c.base!.payload.segments.length;
  const blocks = dirBytes(join(root, 'blocks'));
  const pool = dirBytes(join(root, 'segment-files'));
  return {
    url,
    version: c.base!.version,
    committed_at: c.base!.committed_at,
    manifest_age_s: Math.max(0, Math.round((Date.now() - Date.parse(c.base!.committed_at)) / 1000)),
    cache: { dir: root, bytes: blocks + pool + dirBytes(join(root, 'state')), blocks_bytes: blocks, segment_files_bytes: pool, max_bytes: cacheBytes() },
    checkout: { segment_files: files, cache_hits: files - c.fetched.objects, hit_ratio: files === 0 ? 1 : Number(((files - c.fetched.objects) / files).toFixed(4)), fetched_objects: c.fetched.objects, fetched_bytes: c.fetched.bytes },
    pending_journal_objects: (c.journal?.entries ?? 0) + (c.journal?.quarantined ?? 0),
    damaged_journal_objects: [...(c.journal?.quarantinedKeys ?? [])].map(([key, why]) => ({ key, why })),
    jobs,
  };
}

/** Bytes of the files under `dir` (0 when it does not exist). */
function dirBytes(dir: string): number {
  let n = 0;
  try {
    for (const e of readdirSync(dir, { withFileTypes: true, recursive: true })) {
      if (e.isFile()) {
        try {
          n += statSync(join(e.parentPath, e.name)).size;
        } catch {
          // removed meanwhile
        }
      }
    }
  } catch {
    // no such directory
  }
  return n;
}

/** "1, 2, 5" (the first 20, then how many more). */
function listShards(xs: number[]): string {
  return xs.length <= 20 ? xs.join(', ') : `${xs.slice(0, 20).join(', ')} and ${xs.length - 20} more`;
}

/** Attempts of a command that keeps losing commit races to other writers. */
const MAX_ATTEMPTS = 5;

/** The report of a command that changed nothing: no commit, the version it read stays the latest. */
function unchangedReport(url: string, name: string, base: ManifestRecord<PublishedNamespace>): PublishReport {
  return {
    namespace: name,
    location: `${url.replace(/\/$/, '')}/${name}/`,
    version: base.version,
    epoch: base.epoch,
    segments: base.payload.segments.filter((g) => g.name.endsWith('.idx')).length,
    journal_entries: base.payload.journal_entries,
    objects_uploaded: 0,
    bytes_uploaded: 0,
    objects_present: 0,
    objects_deleted: 0,
    objects_repaired: 0,
    skipped: 'unchanged',
  };
}

/**
 * An error as the user should read it: one about a file of the cache (the working copy included: a full or
 * read-only disk) names the cache and the setting that moves it; any other has the working copy's path
 * made the URL.
 */
function named(e: unknown, rewrite: (t: string) => string, root: string): unknown {
  const c = cacheHint(e, root);
  return c !== e ? c : renamed(e, rewrite);
}

/** The command's error with its working copy's path made the URL (message, hint, details.path). */
function renamed(e: unknown, rewrite: (t: string) => string): unknown {
  if (!(e instanceof ElacsymError)) return e;
  const details = { ...e.details };
  if (typeof details.path === 'string') details.path = rewrite(details.path);
  return new ElacsymError(e.code, rewrite(e.message), { hint: rewrite(e.hint), cause: e.cause, details });
}

/**
 * Runs `fn` with a signal that SIGUSR2 aborts: it ends a pause at a fail point armed with `=pause` inside
 * (`publish:before-commit`: tests let another writer commit after this one's uploads, then resume it; a
 * commit race without timing).
 */
async function resumable<T>(fn: (resume?: AbortSignal) => Promise<T>): Promise<T> {
  // Only when a pause is armed: otherwise SIGUSR2 keeps its default meaning.
  if (!process.env.ELACSYM_FAILPOINTS?.includes('=pause')) return fn(undefined);
  const ac = new AbortController();
  const resume = () => ac.abort();
  process.on('SIGUSR2', resume);
  try {
    return await fn(ac.signal);
  } finally {
    process.off('SIGUSR2', resume);
  }
}
