/**
 * `elacsym doctor`: check that a store does what elacsym relies on, before anyone writes to it.
 *
 * Every check works on probe objects under `.elacsym-doctor/<random>/`, removed at the end whatever
 * happens. The check that matters most is `conditional-create`: the commit protocol (commit.ts) is only
 * correct on a store that refuses to create a key that exists (HTTP 412 for If-None-Match: *). Some S3
 * emulators accept the second create and overwrite: two writers would then both "win" a version and one
 * commit would be silently lost. Such a store is refused for writing (verdict 'unsafe', STORE_UNSAFE).
 */
import { randomBytes } from 'node:crypto';
import { ElacsymError, type ErrorCode } from '../errors.js';
import type { ObjectStore } from './object-store.js';

export const DOCTOR_CHECKS = ['write-read', 'head', 'range-read', 'conditional-create', 'list', 'delete'] as const;
export type DoctorCheckName = (typeof DOCTOR_CHECKS)[number];

export interface DoctorCheck {
  name: DoctorCheckName;
  status: 'ok' | 'fail' | 'skipped';
  /** What was found, in words; for a failure, what is wrong. */
  detail: string;
  /** The error code when the check failed by an error of the store (unavailable, access denied...). */
  code?: ErrorCode;
}

export interface DoctorReport {
  location: string;
  /**
   * ok: safe to write; unsafe: conditional creates are not refused (or reads are wrong); failed: the store
   * erred; interrupted: stopped before every check ran (nothing is known to be wrong).
   */
  verdict: 'ok' | 'unsafe' | 'failed' | 'interrupted';
  checks: DoctorCheck[];
  /** Probe objects that could not be removed (left for the operator; normally empty). */
  leftovers: string[];
}

export interface DoctorOptions {
  /** The probe directory's random part (tests inject it). */
  probeId?: string;
  /**
   * Stops the run between checks (Ctrl-C): the remaining checks are skipped, the probe objects written so
   * far are still removed, and the report says `interrupted`.
   */
  signal?: AbortSignal;
}

const enc = (s: string) => new TextEncoder().encode(s);
const dec = (b: Uint8Array | null) => (b === null ? null : new TextDecoder().decode(b));

class CheckFailed extends Error {}
function expectEq(what: string, got: unknown, want: unknown): void {
  if (JSON.stringify(got) !== JSON.stringify(want)) throw new CheckFailed(`${what}: expected ${JSON.stringify(want)}, got ${JSON.stringify(got)}`);
}

/** Run every check in order; a check that throws a store error stops the run (the rest are skipped). */
export async function runDoctor(store: ObjectStore, o: DoctorOptions = {}): Promise<DoctorReport> {
  const base = `.elacsym-doctor/${o.probeId ?? randomBytes(6).toString('hex')}/`;
  const written = new Set<string>();
  // Keys are remembered once written, for the clean-up (a write that failed outright left nothing).
  const put = async (k: string, v: string) => {
    await store.put(base + k, enc(v));
    written.add(base + k);
  };
  const body = 'elacsym doctor probe 0123456789';

  const steps: Record<DoctorCheckName, () => Promise<string>> = {
    'write-read': async () => {
      await put('object', body);
      expectEq('read back', dec(await store.get(base + 'object')), body);
      expectEq('missing key', await store.get(base + 'missing'), null);
      return `wrote and read back ${body.length} bytes; a missing key reads as absent`;
    },
    head: async () => {
      const h = await store.head(base + 'object');
      expectEq('size', h?.size, body.length);
      expectEq('missing key', await store.head(base + 'missing'), null);
      return `size ${h!.size}, etag ${h!.etag || '(none)'}`;
    },
    'range-read': async () => {
      expectEq('bytes 21-24', dec(await store.get(base + 'object', { offset: 21, length: 4 })), body.slice(21, 25));
      expectEq('last byte', dec(await store.get(base + 'object', { offset: body.length - 1, length: 1 })), body.slice(-1));
      expectEq('range past the end', dec(await store.get(base + 'object', { offset: body.length - 2, length: 10 })), body.slice(-2));
      return 'middle, last byte, and a range clipped at the end';
    },
    'conditional-create': async () => {
      const k = base + 'conditional';
      const first = await store.putIfAbsent(k, enc('first'));
      written.add(k);
      expectEq('first conditional create', first, 'created');
      const second = await store.putIfAbsent(k, enc('second'));
      const now = dec(await store.get(k));
      if (second !== 'exists' || now !== 'first') {
        throw new CheckFailed(
          `a conditional create (If-None-Match: *) of an existing key was accepted${now === 'second' ? ' and overwrote the object' : ''}: ` +
            'concurrent commits would silently overwrite each other',
        );
      }
      return 'a second create of the same key was refused (412) and left the first object';
    },
    list: async () => {
      const keys = ['list/a', 'list/b', 'list/c'].map((k) => base + k);
      for (const k of [...keys].reverse()) await put(k.slice(base.length), k);
      // Two keys per page: three keys take two listing requests, so the pagination is exercised.
      const got = await store.list(`${base}list/`, { pageSize: 2 });
      expectEq('listing', got, keys);
      return 'three keys in two pages, in order';
    },
    delete: async () => {
      await store.delete([...written]);
      for (const k of written) expectEq(`after delete, ${k}`, await store.get(k), null);
      expectEq('listing after delete', await store.list(base), []);
      written.clear();
      return 'probe objects deleted and no longer listed';
    },
  };

  const checks: DoctorCheck[] = [];
  let stopped = false;
  let interrupted = false;
  for (const name of DOCTOR_CHECKS) {
    if (!stopped && o.signal?.aborted) interrupted = stopped = true;
    if (stopped) {
      checks.push({ name, status: 'skipped', detail: interrupted ? 'skipped: interrupted' : 'skipped after an earlier failure' });
      continue;
    }
    try {
      checks.push({ name, status: 'ok', detail: await steps[name]() });
    } catch (e) {
      if (e instanceof CheckFailed) checks.push({ name, status: 'fail', detail: e.message });
      else if (e instanceof ElacsymError) {
        checks.push({ name, status: 'fail', detail: e.message, code: e.code });
        stopped = true; // the store itself fails: further checks would only repeat the error
      } else throw e;
    }
  }

  // Clean up whatever a failed run left (best effort; reported, never thrown).
  const leftovers: string[] = [];
  if (written.size) {
    try {
      await store.delete([...written]);
    } catch {
      leftovers.push(...written);
    }
  }

  // A local store keeps its temporary directory between writes (pruning it raced concurrent writers): the
  // probe leaves nothing behind, so remove it when empty.
  await (store as { tidy?: () => Promise<void> }).tidy?.();

  const failed = checks.filter((c) => c.status === 'fail');
  // A wrong behaviour (a check failing without a store error) outranks a store error: the store is unsafe
  // whatever else happens, while an error may be transient.
  const verdict = failed.some((c) => !c.code) ? 'unsafe' : failed.length > 0 ? 'failed' : interrupted ? 'interrupted' : 'ok';
  return { location: store.location, verdict, checks, leftovers };
}

/** The error a non-ok report stands for: the store's own error, or STORE_UNSAFE naming the failed checks. */
export function doctorError(r: DoctorReport): ElacsymError | null {
  if (r.verdict === 'ok') return null;
  if (r.verdict === 'interrupted') {
    return new ElacsymError('INTERRUPTED', `doctor: interrupted on ${r.location} before every check ran`, {
      hint: r.leftovers.length > 0 ? 'remove the probe objects listed in the report, then run `elacsym doctor` again' : 'its probe objects were removed; run `elacsym doctor` again',
    });
  }
  const failed = r.checks.filter((c) => c.status === 'fail');
  const withCode = failed.find((c) => c.code);
  if (withCode && r.verdict === 'failed') return new ElacsymError(withCode.code!, `doctor: ${withCode.name} failed on ${r.location}: ${withCode.detail}`);
  const wrong = failed.filter((c) => !c.code);
  return new ElacsymError('STORE_UNSAFE', `${r.location} is not safe to write: ${wrong.map((c) => `${c.name}: ${c.detail}`).join('; ')}`, {
    hint: 'use another store for elacsym data: one that refuses a conditional create of an existing key (HTTP 412), as AWS S3 and Ceph radosgw do; this one could lose commits',
    details: { checks: wrong.map((c) => c.name) },
  });
}
