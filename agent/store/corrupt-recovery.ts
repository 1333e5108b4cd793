/**
 * A database that is not a database any more (power cut on a cheap SD card, a bad block) must not
 * brick the unit: the file is moved aside for analysis, a fresh store is created, and the cloud is
 * asked for a snapshot so the unit gets its bookings back. A failed *migration* is a different thing
 * (the file is fine, this build cannot upgrade it) and keeps refusing to start: see upgrade-guard.ts.
 */
import { existsSync, mkdirSync, renameSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { openDb, STORE_CACHE_KIB, type Db, type OpenOptions } from './db.js';
import { isCorruption } from './storage-health.js';
import {
  readCounters,
  recoveryFloors,
  type Counters,
  type ReadCounters,
} from './recovery-floors.js';

export interface CorruptionRecovery {
  /** Where the damaged file went (its -wal/-shm next to it). */
  movedTo: string;
  error: string;
  at: number;
  /** The damaged store's counters as read from the moved file (null: not readable). */
  previous: ReadCounters;
  /** The fresh store's counters continue after these (agent/store/recovery-floors.ts). */
  floors: Counters;
}

/** Meta key: the link asks the cloud for a snapshot on connect while this is set. */
export const SNAPSHOT_NEEDED_KEY = 'snapshot_needed';

export function corruptDirOf(dbPath: string): string {
  return join(dirname(dbPath), 'corrupt');
}

/**
 * Open the store; on SQLITE_CORRUPT / SQLITE_NOTADB (at open, or found by a quick check) move the
 * files aside and open a fresh one. Other errors (a failed migration, permissions) propagate as before.
 */
export function openDbRecovering(
  path: string,
  opts: OpenOptions,
  now: () => number,
): { db: Db; recovered: CorruptionRecovery | null } {
  try {
    const db = openDb(path, opts);
    try {
      // A header can be fine while inner pages are garbage: a cheap structural check finds that now,
      // at start, rather than as a failing write in the middle of a call.
      // Run it through a small page cache and give the memory back: it touches every page.
      db.pragma('cache_size = -256');
      const check = db.pragma('quick_check(1)', { simple: true });
      db.pragma(`cache_size = -${STORE_CACHE_KIB}`);
      db.pragma('shrink_memory');
      if (check !== 'ok')
        throw Object.assign(new Error(`quick_check: ${String(check)}`), { code: 'SQLITE_CORRUPT' });
    } catch (err) {
      db.close();
      throw err;
    }
    return { db, recovered: null };
  } catch (err) {
    if (!isCorruption(err)) throw err;
    const at = now();
    const dir = corruptDirOf(path);
    mkdirSync(dir, { recursive: true });
    const movedTo = join(
      dir,
      `${basename(path)}.${new Date(at).toISOString().replace(/[:.]/g, '-')}`,
    );
    for (const suffix of ['', '-wal', '-shm']) {
      if (existsSync(path + suffix)) renameSync(path + suffix, movedTo + suffix);
    }
    const previous = readCounters(movedTo);
    return {
      db: openDb(path, opts),
      recovered: {
        movedTo,
        error: (err as Error).message,
        at,
        previous,
        floors: recoveryFloors(path, previous, at),
      },
    };
  }
}
