/**
 * Read-only view of a namespace's journal for `wal inspect` and `health`: every pending entry with its
 * checksum status, plus the quarantined ones. Needs no writer lock.
 */
import { join } from 'node:path';
import { idKey } from '../model/document.js';
import { decodeDeletes, decodeUpserts } from '../storage/journal-codec.js';
import { checkFormat, journalDamage, journalEntries } from '../storage/manifest.js';
import { asStorageError, type Db, openDb } from '../storage/sqlite.js';

export interface JournalEntryInfo {
  seq: number;
  op: 'upsert' | 'delete';
  documents: number;
  bytes: number;
  crc32: string;
  status: 'ok' | 'corrupt' | 'quarantined';
  problem?: string;
  committed_at: string;
  state: 'pending' | 'quarantined';
}

export interface JournalReport {
  entries: JournalEntryInfo[];
  totals: { pending_entries: number; pending_documents: number; pending_bytes: number; corrupt: number; quarantined: number; oldest_pending_at: string | null };
  manifest_bytes: number;
}

/**
 * Id keys of decoded pending entries, for processes that inspect the same journal again and again (the
 * server's /metrics and /health on every scrape decoded every pending payload each time). Keyed by the
 * manifest file's identity (device and inode: a dropped and re-created namespace is another file) and the
 * entry's seq (AUTOINCREMENT: never reused within a manifest), byte length, CRC-32 and commit time; an
 * entry's payload never changes once written, and one whose bytes fail their CRC is never cached.
 * Bounded by the number of keys held; least recently used entries go first.
 */
const decodedEntries = new Map<string, { keys: string[]; put: boolean }>();
let decodedKeys = 0;
const MAX_DECODED_KEYS = 1_000_000;

function remember(key: string, value: { keys: string[]; put: boolean }): void {
  decodedEntries.set(key, value);
  decodedKeys += value.keys.length;
  for (const [k, v] of decodedEntries) {
    if (decodedKeys <= MAX_DECODED_KEYS) break;
    decodedEntries.delete(k);
    decodedKeys -= v.keys.length;
  }
}

const hex = (n: number) => `0x${(n >>> 0).toString(16).padStart(8, '0')}`;

export function inspectJournal(dir: string, opts: { dump?: (seq: number, payload: Uint8Array) => void } = {}): JournalReport {
  const path = join(dir, 'manifest.db');
  const db = openDb(path, { readonly: true });
  try {
    checkFormat(db, path);
    return db.transaction(() => readJournalReport(db, opts))();
  } catch (e) {
    throw asStorageError(e, path);
  } finally {
    db.close();
  }
}

/**
 * The journal report read through an open manifest connection: inside the caller's read transaction it
 * is of the same snapshot as whatever else the caller reads (health).
 */
export function readJournalReport(
  db: Db,
  opts: {
    dump?: (seq: number, payload: Uint8Array) => void;
    /** Filled with every id key the decodable pending entries touch: true = its last write is an upsert, false = a delete. */
    latest?: Map<string, boolean>;
    /** The manifest file's identity (`dev:ino`): with it, decoded entries are remembered across calls. */
    cacheScope?: string;
  } = {},
): JournalReport {
  const entries: JournalEntryInfo[] = [];
  const totals = { pending_entries: 0, pending_documents: 0, pending_bytes: 0, corrupt: 0, quarantined: 0, oldest_pending_at: null as string | null };
  for (const row of journalEntries(db)) {
    let problem = journalDamage(row);
    if (!problem) {
      const cacheKey = opts.cacheScope === undefined ? null : `${opts.cacheScope}\0${row.seq}\0${row.bytes}\0${row.crc32}\0${row.committed_at}`;
      let decoded = cacheKey === null ? undefined : decodedEntries.get(cacheKey);
      if (decoded === undefined) {
        try {
          decoded =
            row.op === 'upsert'
              ? { keys: decodeUpserts(row.payload).map((d) => idKey(d.id)), put: true }
              : { keys: decodeDeletes(row.payload).map(idKey), put: false };
          if (cacheKey !== null) remember(cacheKey, decoded);
        } catch (e) {
          problem = `undecodable payload: ${(e as Error).message}`;
        }
      } else {
        // Most recently used last.
        decodedEntries.delete(cacheKey!);
        decodedEntries.set(cacheKey!, decoded);
      }
      if (decoded && opts.latest) for (const k of decoded.keys) opts.latest.set(k, decoded.put);
    }
    entries.push({
      seq: row.seq,
      op: row.op,
      documents: row.count,
      bytes: row.bytes,
      crc32: hex(row.crc32),
      status: problem ? 'corrupt' : 'ok',
      ...(problem ? { problem } : {}),
      committed_at: new Date(row.committed_at).toISOString(),
      state: 'pending',
    });
    totals.pending_entries++;
    totals.pending_documents += row.count;
    totals.pending_bytes += row.bytes;
    totals.oldest_pending_at ??= new Date(row.committed_at).toISOString();
    if (problem) totals.corrupt++;
  }
  for (const q of db.prepare('SELECT seq, op, count, bytes, crc32, committed_at, reason, payload FROM quarantine ORDER BY seq').iterate() as Iterable<{
    seq: number;
    op: 'upsert' | 'delete';
    count: number;
    bytes: number;
    crc32: number;
    committed_at: number;
    reason: string;
    payload: Uint8Array;
  }>) {
    entries.push({
      seq: q.seq,
      op: q.op,
      documents: q.count,
      bytes: q.bytes,
      crc32: hex(q.crc32),
      status: 'quarantined',
      problem: q.reason,
      committed_at: new Date(q.committed_at).toISOString(),
      state: 'quarantined',
    });
    totals.quarantined++;
    opts.dump?.(q.seq, q.payload);
  }
  const pageCount = Number(db.pragma('page_count', { simple: true }));
  const pageSize = Number(db.pragma('page_size', { simple: true }));
  return { entries: entries.sort((a, b) => a.seq - b.seq), totals, manifest_bytes: pageCount * pageSize };
}
