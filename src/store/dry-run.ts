/**
 * `import --dry-run`: the import pipeline with a sink that writes nothing. Every line is read and
 * validated exactly as a real import would (types, first-sight typing of new attributes, batches,
 * rejects), and the ids are then classified against one snapshot of the namespace: an id that is live
 * there (in a segment or pending in the journal) would be updated, any other inserted. No lock is taken
 * and no recovery runs, so a dry run never changes the data directory.
 */
import { idKey } from '../model/document.js';
import { attributeOf, dataRecord, inferType } from '../model/schema.js';
import type { AttributeSchema, AttrValue, Doc, Schema } from '../model/types.js';
import { Snapshot } from './snapshot.js';
import { DEFAULT_SEGMENT_BYTES, type FlushResult } from './writer.js';

export class DryRunSink {
  schema: Schema;
  segmentDocs = 100_000;
  segmentBytes: number;
  readonly pendingDocCount = 0;
  readonly pendingByteCount = 0;
  /** Distinct ids the input would write (the newest line of an id wins, as in an import). */
  private readonly keys = new Set<string>();
  /** Documents the input would write, repeats of an id included. */
  private records = 0;

  constructor(
    readonly dir: string,
    readonly name: string,
    schema: Schema,
    segmentBytes = DEFAULT_SEGMENT_BYTES,
  ) {
    this.schema = { ...schema, attributes: Object.assign(dataRecord<AttributeSchema>(), schema.attributes) };
    this.segmentBytes = segmentBytes;
  }

  /** Opens the namespace's current schema (read-only). */
  static open(dir: string, name: string, segmentBytes?: number): DryRunSink {
    const snap = Snapshot.open(dir);
    try {
      return new DryRunSink(dir, name, snap.schema, segmentBytes);
    } finally {
      snap.close();
    }
  }

  /** Records the batch's ids and types its new attributes, as Writer.appendUpserts would; writes nothing. */
  appendUpserts(docs: Doc[], newAttrs: ReadonlyMap<string, AttrValue>): number {
    for (const d of docs) this.keys.add(idKey(d.id));
    this.records += docs.length;
    for (const [name, v] of newAttrs) {
      if (attributeOf(this.schema, name)) continue;
      const t = inferType(v);
      if (t) this.schema.attributes[name] = { type: t, full_text: null };
    }
    return 0;
  }

  forgetPending(): void {}

  async flush(): Promise<FlushResult> {
    return { segmentId: null, docs: 0, inserted: 0, updated: 0, deleted: 0, entries: 0, quarantined: 0 };
  }

  /**
   * Would-be inserts and updates, counted as an import counts them (writer.ts flushOps): the first write
   * of an id not live now is an insert, every other write an update (of the live document, or of the
   * input's own earlier line).
   */
  classify(): { inserted: number; updated: number } {
    const keys = [...this.keys];
    const snap = Snapshot.open(this.dir, { locate: keys });
    try {
      const pending = new Set(snap.pendingDocs.map((d) => idKey(d.id)));
      let inserted = 0;
      for (const k of keys) if (!snap.located.has(k) && !pending.has(k)) inserted++;
      return { inserted, updated: this.records - inserted };
    } finally {
      snap.close();
    }
  }
}
