/**
 * Durable acknowledgement on an object store (issue 14): an import or patch on `s3://` runs on a working
 * copy (store/checkout.ts) and commits one version at its end; each batch it acknowledges before that is
 * first made durable in the store as an immutable journal object:
 *
 *   <ns>/journal/<ack>-<writer>-<seq>   <ack>    = when the batch was acknowledged (ms, 13 digits; per
 *                                                  writer never decreasing)
 *                                       <writer> = <start time, ms, 13 digits>-<8 random hex digits>
 *                                       <seq>    = the batch's journal sequence in the writer's working copy
 *
 * holding the journal entry (op, count, CRC-32, payload, commit time) and the writer's schema at that
 * batch (a batch may add attributes). A version records, per writer, the highest sequence its state holds
 * (`PublishedNamespace.journal_applied`): the writer's own at its commit, and those it applied. Every
 * command on a working copy applies, at checkout, the journal objects the latest version does not hold, in
 * the order they were acknowledged in (ack time, then writer and sequence), into the working copy's
 * journal: a killed importer's acknowledged batches are seen by the next
 * `wal inspect`, and committed by the next write or `wal replay`. Objects a version holds are deleted by
 * the writer that committed them or by the next one; a writer's record is dropped once its objects are
 * gone.
 *
 * A journal object whose bytes fail their CRC-32, or whose batch adds an attribute with another type than
 * the namespace has meanwhile, is quarantined in the working copy (as a damaged local journal entry is:
 * `wal inspect` shows it), never applied.
 */
import { randomBytes } from 'node:crypto';
import type { ObjectStore } from '../objstore/object-store.js';
import type { JournalOp } from '../storage/journal-codec.js';
import { ensureImportsCrc, getMeta, journalHighWater, type JournalRow, setMeta } from '../storage/manifest.js';
import { type Db, openDb } from '../storage/sqlite.js';
import type { AttributeSchema, Schema } from '../model/types.js';
import { crc32 } from '../util/crc32.js';
import { namespacePrefix } from './published.js';

/** Per writer, the highest journal sequence a version's state holds (see the module comment). */
export type JournalApplied = Record<string, number>;

/** A journal object's name under `<ns>/journal/`: ack time, writer id, sequence. */
const OBJECT_RE = /^(\d{13})-(\d{13}-[0-9a-f]{8})-(\d{12})$/;
const SEQ_DIGITS = 12;

/** A new writer id (`<ms>-<8 hex>`; published.ts checks a version's journal_applied keys for this form). */
export function newJournalWriter(now = Date.now()): string {
  return `${String(now).padStart(13, '0')}-${randomBytes(4).toString('hex')}`;
}

export function journalPrefix(ns: string): string {
  return `${namespacePrefix(ns)}journal/`;
}

export function journalObjectKey(ns: string, ack: number, writer: string, seq: number): string {
  return `${journalPrefix(ns)}${String(ack).padStart(13, '0')}-${writer}-${String(seq).padStart(SEQ_DIGITS, '0')}`;
}

/** A journal object listed under `<ns>/journal/`, or null for a key that is not one. */
export interface ListedJournalObject {
  key: string;
  ack: number;
  writer: string;
  seq: number;
}

/** The journal objects in the store, in the order they were acknowledged (ack time, writer, sequence). */
export async function listJournalObjects(store: ObjectStore, ns: string): Promise<ListedJournalObject[]> {
  const prefix = journalPrefix(ns);
  const out: ListedJournalObject[] = [];
  for (const key of await store.list(prefix)) {
    const m = OBJECT_RE.exec(key.slice(prefix.length));
    if (m) out.push({ key, ack: Number(m[1]), writer: m[2]!, seq: Number(m[3]) });
  }
  // The key sorts by ack time, then writer, then sequence (fixed-width fields).
  return out.sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
}

/**
 * Journal objects of other writers that a working copy holding `held` (per writer, the highest sequence:
 * its base version's record and what it applied at checkout) does not hold, acknowledged before `before`
 * (ms). A writer whose own acknowledgements came later than such an object must not commit: that batch
 * would then be applied after the writer's own, reversing the order they were acknowledged in.
 */
export async function unheldEarlier(store: ObjectStore, ns: string, held: JournalApplied, self: string, before: number): Promise<ListedJournalObject[]> {
  return (await listJournalObjects(store, ns)).filter((o) => o.writer !== self && o.seq > (held[o.writer] ?? 0) && o.ack < before);
}

interface Header {
  op: JournalOp;
  count: number;
  bytes: number;
  crc32: number;
  committed_at: number;
  attributes: Record<string, Pick<AttributeSchema, 'type'>>;
  /**
   * Resume points (`import FILE --resume`) the batch moved, as the writer's `imports` table holds them after
   * it: applied with the batch, so that a resume after a kill starts after the acknowledged lines. Absent
   * in objects written before session 42 and when the batch moved none.
   */
  imports?: ImportRow[];
}

interface ImportRow {
  source: string;
  lines: number;
  updated_at: number;
  crc32: number | null;
}

const isImportRow = (r: unknown): r is ImportRow => {
  const x = r as ImportRow;
  return typeof x === 'object' && x !== null && typeof x.source === 'string' && Number.isSafeInteger(x.lines) && Number.isSafeInteger(x.updated_at) && (x.crc32 === null || Number.isSafeInteger(x.crc32));
};

/** A journal object: one JSON header line, then the entry's payload bytes. */
function encode(h: Header, payload: Uint8Array): Buffer {
  return Buffer.concat([Buffer.from(`${JSON.stringify(h)}\n`), payload]);
}

function decode(b: Uint8Array): { header: Header; payload: Buffer } | null {
  const buf = Buffer.from(b.buffer, b.byteOffset, b.byteLength);
  const nl = buf.indexOf(10);
  if (nl < 0) return null;
  try {
    const header = JSON.parse(buf.subarray(0, nl).toString('utf8')) as Header;
    if ((header.op !== 'upsert' && header.op !== 'delete') || !Number.isSafeInteger(header.count) || !Number.isSafeInteger(header.bytes) || !Number.isSafeInteger(header.crc32)) return null;
    if (typeof header.attributes !== 'object' || header.attributes === null) return null;
    if (header.imports !== undefined && !(Array.isArray(header.imports) && header.imports.every(isImportRow))) return null;
    return { header, payload: buf.subarray(nl + 1) };
  } catch {
    return null;
  }
}

/**
 * Uploads the batches a working copy's writer commits to its journal (`dbPath`), one object each, in the
 * background and in order; `afterBatch` (called right after each batch's local commit, before anything
 * could flush it) reads the new entries at once and calls `onDurable` once they are in the store. The
 * first upload failure stops the import at its next batch; `drain` waits for the uploads and rethrows it.
 */
export class JournalUploader {
  readonly writer = newJournalWriter();
  /** The highest sequence uploaded (0: none), and when the last upload was acknowledged (ms). */
  lastSeq = 0;
  lastAck = 0;
  private read = 0;
  private db: Db | null = null;
  private chain: Promise<void> = Promise.resolve();
  private failure: unknown = null;
  /** Keys of the objects uploaded. */
  readonly keys: string[] = [];
  /**
   * Acknowledgements held until the commit (`releaseHeld`), from the first batch that gave the namespace an
   * attribute its working copy did not have at the start: another writer may give that attribute another
   * type meanwhile, and then whichever batch is applied second cannot be (it goes to the quarantine). Such
   * a batch, and every later one of this writer (they rely on its types), is not acknowledged before the
   * commit proves its types stand. null: none held so far.
   */
  private held: (() => void)[] | null = null;
  /** The attributes of the working copy when the command started (the version read and others' batches). */
  private readonly startAttributes: ReadonlySet<string>;

  constructor(
    private readonly store: ObjectStore,
    private readonly ns: string,
    private readonly dbPath: string,
  ) {
    // Entries already in the journal (applied from other writers' objects at checkout) are not this one's.
    this.db = openDb(dbPath, { readonly: true });
    this.read = journalHighWater(this.db);
    this.startAttributes = new Set(Object.keys((JSON.parse(getMeta(this.db, 'schema') ?? '{"attributes":{}}') as Schema).attributes));
    this.importsSeen = this.importRows();
  }

  /** The working copy's resume points as last uploaded (source -> row as JSON). */
  private importsSeen: Map<string, string>;

  private importRows(): Map<string, string> {
    let rows: ImportRow[];
    try {
      rows = this.db!.prepare('SELECT source, lines, updated_at, crc32 FROM imports').all() as ImportRow[];
    } catch {
      return new Map(); // a state written before imports.crc32 (the writer adds it when it opens)
    }
    return new Map(rows.map((r) => [r.source, JSON.stringify(r)]));
  }

  /** Objects uploaded whose acknowledgement waits for the commit (see `held`). */
  private readonly heldObjects: string[] = [];

  /** How many uploaded objects' acknowledgement waits for the commit (see `held`). */
  get heldCount(): number {
    return this.heldObjects.length;
  }

  /** Keys of the objects whose acknowledgement is held (the last `heldCount` uploaded, in order). */
  get heldKeys(): string[] {
    return [...this.heldObjects];
  }

  /** The commit stands: acknowledge the held batches, in order. */
  releaseHeld(): void {
    const h = this.held ?? [];
    this.held = null;
    this.heldObjects.length = 0;
    for (const f of h) f();
  }

  afterBatch(onDurable: () => void): void {
    if (this.failure !== null) throw this.failure;
    this.db ??= openDb(this.dbPath, { readonly: true });
    const rows = this.db.prepare('SELECT seq, op, count, bytes, crc32, committed_at, payload FROM journal WHERE seq > ? ORDER BY seq').all(this.read) as (JournalRow & { payload: Buffer })[];
    if (rows.length === 0) return;
    this.read = rows[rows.length - 1]!.seq;
    const schema = JSON.parse(getMeta(this.db, 'schema') ?? '{"attributes":{}}') as Schema;
    const attributes: Header['attributes'] = {};
    for (const [k, a] of Object.entries(schema.attributes)) attributes[k] = { type: a.type };
    if (this.held === null && Object.keys(attributes).some((k) => !this.startAttributes.has(k))) this.held = [];
    // The resume points this batch moved (its transaction wrote them with it): carried by its last object.
    const now = this.importRows();
    const moved: ImportRow[] = [];
    for (const [k, v] of now) if (this.importsSeen.get(k) !== v) moved.push(JSON.parse(v) as ImportRow);
    this.importsSeen = now;
    const held = this.held;
    this.chain = this.chain.then(async () => {
      if (this.failure !== null) return;
      try {
        for (const r of rows) {
          // never decreasing, so that this writer's batches keep their order among all writers'
          const ack = Math.max(Date.now(), this.lastAck);
          const key = journalObjectKey(this.ns, ack, this.writer, r.seq);
          const last = r === rows[rows.length - 1];
          await this.store.putIfAbsent(key, encode({ op: r.op, count: r.count, bytes: r.bytes, crc32: r.crc32, committed_at: r.committed_at, attributes, ...(last && moved.length > 0 ? { imports: moved } : {}) }, r.payload));
          this.keys.push(key);
          if (held !== null) this.heldObjects.push(key);
          this.lastSeq = r.seq;
          this.lastAck = ack;
        }
        if (held !== null) held.push(onDurable);
        else onDurable();
      } catch (e) {
        this.failure = e;
      }
    });
  }

  /** Whether every batch read so far was uploaded (no upload failed). */
  get complete(): boolean {
    return this.failure === null;
  }

  /** Waits for every upload; throws the first failure. */
  async drain(): Promise<void> {
    await this.chain;
    this.close();
    if (this.failure !== null) throw this.failure;
  }

  close(): void {
    this.db?.close();
    this.db = null;
  }
}

/** What checkout applied of the store's journal objects (see applyJournalObjects). */
export interface AppliedJournal {
  /** What the next version records: the base's writers whose objects are still there, and those applied. */
  applied: JournalApplied;
  /** Entries applied to the working copy's journal, their documents, and those quarantined. */
  entries: number;
  docs: number;
  quarantined: number;
  /** Objects the base version already holds: deleted after the next commit. */
  stale: string[];
  /** Objects applied (or quarantined) here: held by the next version once it commits. */
  keys: string[];
  /** Of those, the ones set aside in the quarantine, with why (`countOnly`: the damaged ones found). */
  quarantinedKeys: Map<string, string>;
}

/**
 * Applies to the state database `db` of a working copy of `ns` (checked out at a version recording
 * `base`) the journal objects in the store that it does not hold (module comment). Errors: the store's.
 */
export async function applyJournalObjects(store: ObjectStore, ns: string, db: Db, base: JournalApplied, opts: { countOnly?: boolean } = {}): Promise<AppliedJournal> {
  const listed = await listJournalObjects(store, ns);
  const out: AppliedJournal = { applied: {}, entries: 0, docs: 0, quarantined: 0, stale: [], keys: [], quarantinedKeys: new Map() };
  const writers = new Set(listed.map((o) => o.writer));
  for (const [w, seq] of Object.entries(base)) if (writers.has(w)) out.applied[w] = seq;
  const now = Date.now();
  {
    for (const o of listed) {
      const writer = o.writer;
      const held = base[writer] ?? 0;
      if (o.seq <= held) {
        out.stale.push(o.key);
        continue;
      }
      if (opts.countOnly) {
        // (health: what is pending, without making it look committed in the working copy; each object is
        // read and checked, so that a damaged one is reported before a replay sets it aside)
        out.entries++;
        const raw = await store.get(o.key);
        if (raw === null) continue;
        const d = decode(raw);
        if (d === null) out.quarantinedKeys.set(o.key, 'not readable as a journal object');
        else if (d.payload.length !== d.header.bytes || crc32(d.payload) !== d.header.crc32) out.quarantinedKeys.set(o.key, 'fails its CRC-32');
        continue;
      }
      const raw = await store.get(o.key);
      if (raw === null) continue; // deleted meanwhile by a writer that committed it
      const d = decode(raw);
      const schema = JSON.parse(getMeta(db, 'schema') ?? 'null') as Schema;
      let why: string | null = null;
      if (d === null) why = 'journal object is not readable';
      else if (d.payload.length !== d.header.bytes || crc32(d.payload) !== d.header.crc32) why = `journal object ${o.key} fails its CRC-32`;
      const added: [string, AttributeSchema][] = [];
      if (d && why === null) {
        for (const [k, a] of Object.entries(d.header.attributes)) {
          const have = Object.hasOwn(schema.attributes, k) ? schema.attributes[k] : undefined;
          if (!have) added.push([k, { type: a.type, full_text: null } as AttributeSchema]);
          else if (have.type !== a.type) why = `its documents give attribute ${JSON.stringify(k)} type ${a.type}; the namespace has ${have.type}`;
        }
      }
      db.transaction(() => {
        if (why !== null || d === null) {
          const h = d?.header;
          db.prepare('INSERT INTO quarantine (seq, op, count, bytes, crc32, committed_at, payload, reason, quarantined_at) VALUES ((SELECT COALESCE(MAX(seq), 0) + 1 FROM quarantine), ?, ?, ?, ?, ?, ?, ?, ?)').run(
            h?.op ?? 'upsert',
            h?.count ?? 0,
            h?.bytes ?? raw.length,
            h?.crc32 ?? 0,
            h?.committed_at ?? now,
            d?.payload ?? Buffer.from(raw),
            `from ${o.key}: ${why ?? 'unreadable'}`,
            now,
          );
          out.quarantined++;
          out.quarantinedKeys.set(o.key, why ?? 'unreadable');
        } else {
          if (added.length > 0) {
            const next: Schema = { ...schema, attributes: Object.assign(Object.create(null) as Schema['attributes'], schema.attributes) };
            for (const [k, a] of added) next.attributes[k] = a;
            setMeta(db, 'schema', JSON.stringify(next));
          }
          db.prepare('INSERT INTO journal (op, count, bytes, crc32, committed_at, payload) VALUES (?, ?, ?, ?, ?, ?)').run(d.header.op, d.header.count, d.header.bytes, d.header.crc32, d.header.committed_at, d.payload);
          // With the batch, the resume point it moved (as the writer's own transaction did locally).
          if (d.header.imports) ensureImportsCrc(db);
          const imp = db.prepare('INSERT INTO imports (source, lines, updated_at, crc32) VALUES (?, ?, ?, ?) ON CONFLICT (source) DO UPDATE SET lines = excluded.lines, updated_at = excluded.updated_at, crc32 = excluded.crc32');
          for (const x of d.header.imports ?? []) imp.run(x.source, x.lines, x.updated_at, x.crc32);
          out.entries++;
          out.docs += d.header.count;
        }
      })();
      out.applied[writer] = Math.max(out.applied[writer] ?? 0, o.seq);
      out.keys.push(o.key);
    }
  }
  return out;
}
