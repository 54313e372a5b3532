/**
 * The public API of the elacsym core. The CLI is one client of it; it never prints or exits.
 *
 * @example
 * ```ts
 * import { DataDir, Writer, importNdjson, namespaceDir } from 'elacsym';
 * const dir = DataDir.open('./data', { create: true });
 * dir.initNamespace('docs', { vector_dim: 3, vector_metric: 'cosine', attributes: {} });
 * const w = await Writer.open(namespaceDir('./data', 'docs'), 'docs');
 * await importNdjson(w, createReadStream('docs.ndjson'));
 * w.close();
 * ```
 */
export { ElacsymError, ERRORS, EXIT, type ErrorCode } from './errors.js';
export type * from './model/types.js';
export { DataDir } from './store/data-dir.js';
export { Writer, type WriterOptions, type FlushResult } from './store/writer.js';
export { Snapshot } from './store/snapshot.js';
export { importNdjson, type ImportOptions, type ImportSummary } from './store/ingest.js';
export { backupNamespace, restoreNamespace, readBackupMarker, type BackupMarker, type BackupOptions, type BackupReport, type RestoreOptions, type RestoreReport } from './store/backup.js';
export { alterFullText, type AlterReport } from './store/alter.js';

export { namespaceDir } from './store/data-dir.js';
