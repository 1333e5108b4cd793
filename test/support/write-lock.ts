/**
 * A real competing writer: a second SQLite connection holding the write lock (BEGIN IMMEDIATE), as
 * a CLI `apply` in another process would. The agent's writes then get a real SQLITE_BUSY.
 */
import Database from 'better-sqlite3';

export interface HeldLock {
  release(): void;
}

export function holdWriteLock(dbPath: string): HeldLock {
  const db = new Database(dbPath);
  db.pragma('busy_timeout = 0');
  db.exec('BEGIN IMMEDIATE');
  let held = true;
  return {
    release() {
      if (!held) return;
      held = false;
      db.exec('ROLLBACK');
      db.close();
    },
  };
}
