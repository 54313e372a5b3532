/**
 * A full garbage collection on demand, for the few points where a command knows that most of the
 * JavaScript heap just became garbage and is about to allocate as much again: the start of a segment
 * build (a compaction's merge group decoded, an import's journal batches parsed).
 *
 * Why: V8 sizes its next collection from the heap that survived the last one, so after a merge group of
 * 200k documents was decoded (~250 MB live) it let the garbage of the decoding grow to ~450 MB before
 * collecting, and the build's own allocations came on top of that: a 1M compaction peaked at 800-980 MB
 * RSS where ~300 MB of it was garbage (docs/performance.md, "Session 16").
 *
 * How: `gc` is exposed by V8's --expose-gc flag, set here at run time and read from a fresh context (the
 * flag only takes effect for contexts made after it is set). Node documents flags set after start as
 * possibly without effect; then this does nothing, which is what it does anyway where it is not wanted.
 * The CLI does not pass the flag on its command line: bin/elacsym's launcher lines pass no V8 flags, since
 * V8 rejects a code cache built under other flags (docs/design.md, "The launcher").
 */
// node:v8 is loaded at the first collection, not with this module: a cold `elacsym query` initializes
// modules that import this one (storage/doc-source.ts through parquet.ts) and never collects, and
// node:v8 brings heap_utils, serdes and stream_base_commons with it (test/cli/cold-start-modules.test.ts).
// node:vm is loaded by the launcher anyway.
import { runInNewContext } from 'node:vm';

/**
 * Builds and merge groups of at least this many documents collect garbage before they start and between
 * their phases: with a segment of 100k documents that took 25-40 MiB off an import's peak, and ~120 MB
 * off a 1M compaction's. Smaller ones leave little garbage, and a full collection costs a pass over the
 * heap (a compaction of many small groups would pay it for each).
 */
export const COLLECT_FROM_DOCS = 10_000;

let collect: (() => void) | null | undefined;

/** Runs a full (mark-compact) collection of this thread's heap, or nothing where V8 does not allow it. */
export function fullCollection(): void {
  if (collect === undefined) {
    try {
      process.getBuiltinModule('node:v8').setFlagsFromString('--expose-gc');
      const gc = runInNewContext('typeof gc === "function" ? gc : null') as (() => void) | null;
      collect = gc;
    } catch {
      collect = null;
    }
  }
  collect?.();
}
