/**
 * "Does the database answer?" for the watchdog. `store.ping()` (SELECT 1) proves the connection is
 * open but never touches the file; reading the schema table also needs the file lock, so a database
 * that is locked by another process, unreadable or gone fails the probe too.
 */
import type { Store } from '../store/store.js';

export function databaseAnswers(store: Store): () => boolean {
  return () =>
    store.ping() && store.db.prepare('SELECT count(*) AS n FROM sqlite_master').get() !== undefined;
}
