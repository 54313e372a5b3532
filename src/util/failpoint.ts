/**
 * Named crash points for the crash tests. `ELACSYM_FAILPOINTS=flush:after-segment-write,...` makes the
 * process SIGKILL itself when it reaches one of them; unarmed, a call costs one Set lookup.
 * This is the one place outside cli/ that reads process.env, on purpose: tests arm it from outside.
 */
const armed = new Set((process.env.ELACSYM_FAILPOINTS ?? '').split(',').filter(Boolean));

/** Every fail point in the code base; test/crash iterates this list. */
export const FAILPOINTS = [
  'init:after-dir-create',
  'import:after-journal-commit',
  'import:before-journal-commit',
  'flush:after-parquet-write',
  'flush:after-index-write',
  'flush:after-manifest-commit',
  'flush:after-gc',
  'compact:after-segment-write',
  'compact:after-manifest-commit',
  'compact:after-gc',
  'drop:after-rename',
  'backup:before-rename',
  'restore:before-publish',
  'restore:after-old-renamed',
] as const;
export type FailpointName = (typeof FAILPOINTS)[number];

export function failpoint(name: FailpointName): void {
  if (armed.size > 0 && armed.has(name)) process.kill(process.pid, 'SIGKILL');
}
