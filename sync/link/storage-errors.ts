/**
 * The storage errors the link rides out instead of dying on (sync/ cannot import agent/, so it
 * reads SQLite's error code itself): a busy, locked or failing disk clears; a full one waits for
 * space. Anything else is a bug and fails loudly.
 */
function sqliteCode(err: unknown): string {
  const code = (err as { code?: unknown } | null)?.code;
  return typeof code === 'string' ? code : '';
}

/** A commit that failed for a reason that clears (busy, locked, I/O): not acknowledged, comes again. */
export function isRetryableStorage(err: unknown): boolean {
  const c = sqliteCode(err);
  return (
    c.startsWith('SQLITE_BUSY') || c.startsWith('SQLITE_LOCKED') || c.startsWith('SQLITE_IOERR')
  );
}

export function isStorageFull(err: unknown): boolean {
  return sqliteCode(err) === 'SQLITE_FULL';
}
