/**
 * SQLite result codes as better-sqlite3 reports them (`error.code`), without loading better-sqlite3:
 * the CLI's error reporting, loaded by every command, uses these too.
 */

/** A SQLite error that means the database file is damaged (SQLITE_CORRUPT*, SQLITE_NOTADB). */
export function isCorrupt(e: unknown): boolean {
  const code = (e as { code?: unknown } | null)?.code;
  return typeof code === 'string' && (code.startsWith('SQLITE_CORRUPT') || code === 'SQLITE_NOTADB');
}
