/**
 * The counters the cloud orders things by, carried over when a corrupt store is replaced by a
 * fresh one (agent/store/corrupt-recovery.ts). A fresh store that began them again would go back
 * on what the cloud already holds:
 *
 * - the outbox sequence: the cloud receipts by sequence, and receipts for the damaged store's rows
 *   may still be queued at the broker for the unit's session. Begun again at 1, a late receipt
 *   marked the fresh store's first row — the recovery event — as stored by a cloud that never saw
 *   it, and the cloud saw "first copies" at sequences it already held (both found by
 *   test/sync/outbox-delivery.model.test.ts);
 * - the connect count: the newest status is the one with the highest count (docs/protocol.md
 *   "Status"). Begun again at 1, every `online` would rank below the old store's last `lost` — a
 *   unit shown as gone while it is up.
 *
 * Each continues after the damaged store's value when that can still be read from the moved file.
 * Otherwise it jumps to the unit's clock (milliseconds for the sequence, seconds for the count:
 * more than a store that began at 1 has used) — unless an earlier recovery also had to guess with
 * a clock that reads no later (a unit without a real-time clock boots at the same time after every
 * power cut): then `jump` past what that recovery recorded beside the database.
 */
import { closeSync, fsyncSync, openSync, readFileSync, renameSync, writeSync } from 'node:fs';
import { dirname } from 'node:path';
import Database from 'better-sqlite3';
import { fsyncPath } from './backup.js';
import { META } from './meta.js';

export interface Counters {
  outboxSeq: number;
  connectCount: number;
}
/** What could be read from a damaged file: null where it could not. */
export type ReadCounters = { [K in keyof Counters]: number | null };

const SPEC: {
  [K in keyof Counters]: { sql: string; fromClock: (atMs: number) => number; jump: number };
} = {
  outboxSeq: {
    sql: "SELECT seq AS v FROM sqlite_sequence WHERE name = 'outbox'",
    fromClock: (at) => Math.floor(at),
    // More events than any store writes in its life; 2^53 leaves room for 8,192 such jumps.
    jump: 2 ** 40,
  },
  connectCount: {
    sql: `SELECT value AS v FROM meta WHERE key = '${META.connectCount}'`,
    fromClock: (at) => Math.floor(at / 1000),
    jump: 2 ** 30,
  },
};
const KEYS = Object.keys(SPEC) as (keyof Counters)[];

/** Beside the database (not in corrupt/, which an operator may empty). */
export const floorsFileOf = (dbPath: string) => `${dbPath}.recovery-floors.json`;

/** The counters of a damaged database file, read-only, each on its own (one may be readable). */
export function readCounters(file: string): ReadCounters {
  const out: ReadCounters = { outboxSeq: null, connectCount: null };
  let db: Database.Database | undefined;
  try {
    db = new Database(file, { readonly: true, fileMustExist: true });
    for (const k of KEYS) {
      try {
        const row = db.prepare(SPEC[k].sql).get() as { v: unknown } | undefined;
        // Readable and never set (no event, no connect yet): nothing used.
        const v = row === undefined ? 0 : Number(row.v);
        out[k] = Number.isSafeInteger(v) && v >= 0 ? v : null;
      } catch {
        /* this one is on a damaged page */
      }
    }
  } catch {
    /* not openable at all */
  } finally {
    try {
      db?.close();
    } catch {
      /* nothing to give back */
    }
  }
  return out;
}

/** Where the fresh store's counters start; recorded (fsync'd) for a later recovery that must guess. */
export function recoveryFloors(dbPath: string, previous: ReadCounters, atMs: number): Counters {
  const file = floorsFileOf(dbPath);
  let recorded: Partial<Record<keyof Counters, unknown>> = {};
  try {
    recorded = JSON.parse(readFileSync(file, 'utf8')) as typeof recorded;
  } catch {
    /* no earlier recovery (or its record is gone): the clock decides */
  }
  const floors = {} as Counters;
  for (const k of KEYS) {
    const r = recorded[k];
    const last = typeof r === 'number' && Number.isSafeInteger(r) && r > 0 ? r : 0;
    const p = previous[k];
    floors[k] =
      p !== null
        ? Math.max(p, last)
        : Math.max(SPEC[k].fromClock(atMs), last > 0 ? last + SPEC[k].jump : 0);
  }
  // Written aside and renamed: a power cut mid-write leaves the old record, never half of one.
  const tmp = `${file}.partial`;
  const fd = openSync(tmp, 'w', 0o600);
  try {
    writeSync(fd, `${JSON.stringify(floors)}\n`);
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  renameSync(tmp, file);
  fsyncPath(dirname(file));
  return floors;
}
