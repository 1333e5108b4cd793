/**
 * A database that is not a database any more (power cut on a cheap SD card, a bad block) must not
 * brick the unit: the file is moved aside for analysis, a fresh store is created, and the cloud is
 * asked for a snapshot so the unit gets its bookings back. A failed *migration* is a different thing
 * (the file is fine, this build cannot upgrade it) and keeps refusing to start: see upgrade-guard.ts.
 */
import {
  closeSync,
  existsSync,
  fsyncSync,
  mkdirSync,
  openSync,
  readFileSync,
  renameSync,
  writeSync,
} from 'node:fs';
import { basename, dirname, join } from 'node:path';
import Database from 'better-sqlite3';
import { openDb, STORE_CACHE_KIB, type Db, type OpenOptions } from './db.js';
import { isCorruption } from './storage-health.js';

export interface CorruptionRecovery {
  /** Where the damaged file went (its -wal/-shm next to it). */
  movedTo: string;
  error: string;
  at: number;
  /** The damaged store's outbox sequence as read from the moved file (null: not readable). */
  previousOutboxSeq: number | null;
  /** The fresh store's outbox sequence continues after this (see `outboxSeqFloor`). */
  outboxSeqFloor: number;
}

/**
 * Beside the database (not in corrupt/, which an operator may empty): the floor the last recovery
 * used, for a later one that cannot read its damaged file.
 */
export const seqFloorFileOf = (dbPath: string) => `${dbPath}.outbox-seq-floor`;
/** More events than any store writes in its life: 2^53 leaves room for 8,192 such jumps. */
const SEQ_JUMP = 2 ** 40;

/**
 * Where the fresh store's outbox sequence starts after a recovery: never at a sequence the damaged
 * store used. The cloud receipts by sequence, and receipts for the old rows may still be queued at
 * the broker for the unit's session: had the fresh store begun again at 1, a late receipt would
 * mark its new rows — the recovery event first — as stored by a cloud that never saw them, and the
 * cloud would see "first copies" at sequences it already holds (both found by
 * test/sync/outbox-delivery.model.test.ts).
 *
 * After the damaged store's own high-water mark when it can be read. Otherwise the unit's clock in
 * milliseconds — more than any store that began at 1 has used — unless an earlier recovery also
 * had to guess: a unit without a real-time clock boots at the same time after every power cut, so
 * the floor then jumps SEQ_JUMP past the one that recovery recorded.
 */
function outboxSeqFloor(dbPath: string, previous: number | null, at: number): number {
  const file = seqFloorFileOf(dbPath);
  let recorded = 0;
  try {
    const n = Number(readFileSync(file, 'utf8').trim());
    if (Number.isSafeInteger(n) && n > 0) recorded = n;
  } catch {
    /* no earlier recovery (or its record is gone): the clock decides */
  }
  const floor =
    previous !== null
      ? Math.max(previous, recorded)
      : Math.max(Math.floor(at), recorded > 0 ? recorded + SEQ_JUMP : 0);
  const fd = openSync(file, 'w');
  try {
    writeSync(fd, `${floor}\n`);
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  return floor;
}

/** The damaged file's AUTOINCREMENT high-water mark for the outbox, read-only; null if unreadable. */
function readOutboxSeq(file: string): number | null {
  let db: Database.Database | undefined;
  try {
    db = new Database(file, { readonly: true, fileMustExist: true });
    const row = db.prepare("SELECT seq FROM sqlite_sequence WHERE name = 'outbox'").get() as
      { seq: unknown } | undefined;
    if (row === undefined) return 0; // the table is readable and the outbox never had a row
    return Number.isSafeInteger(row.seq) && (row.seq as number) >= 0 ? (row.seq as number) : null;
  } catch {
    return null;
  } finally {
    try {
      db?.close();
    } catch {
      /* nothing to give back */
    }
  }
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
    const previousOutboxSeq = readOutboxSeq(movedTo);
    return {
      db: openDb(path, opts),
      recovered: {
        movedTo,
        error: (err as Error).message,
        at,
        previousOutboxSeq,
        outboxSeqFloor: outboxSeqFloor(path, previousOutboxSeq, at),
      },
    };
  }
}
