/**
 * SQL of the diagnostics history (table diag_history, migration 0004): batched sample writes with
 * their pruning in one transaction, and the reads behind the chart. Call outcomes come from the
 * runs/attempts tables (read only), so nothing is stored twice.
 */
import type { Store } from '../store/store.js';

export interface HistorySample {
  /** Epoch minutes. */
  minute: number;
  signalDbm: number | null;
  registration: string | null;
  modemUsable: boolean | null;
  /** true connected, false offline, null no link configured. */
  link: boolean | null;
}

export interface HistoryCall {
  at: number;
  outcome: string;
  kind: string;
  runId: string;
  bookingId: string | null;
}

interface SampleRow {
  minute: number;
  signal_dbm: number | null;
  registration: string | null;
  modem_usable: number | null;
  link: number | null;
}

/** Old rows are deleted in chunks of this many minutes (six hours). */
export const PRUNE_SLACK_MINUTES = 360;

const bit = (b: boolean | null) => (b === null ? null : b ? 1 : 0);
const unbit = (n: number | null) => (n === null ? null : n !== 0);

export class HistoryRepo {
  constructor(private readonly store: Store) {}

  /**
   * Write samples in one transaction (one flush, one commit). Rows outside the kept window are
   * dropped only once there are `PRUNE_SLACK_MINUTES` of them (or a clock jump left rows in the
   * future): deleting an hour's rows on every flush would double the pages each flush writes.
   */
  write(samples: HistorySample[], nowMinute: number, keepMinutes: number): void {
    const { db } = this.store;
    const insert = db.prepare(
      `INSERT INTO diag_history (minute, signal_dbm, registration, modem_usable, link)
       VALUES (?, ?, ?, ?, ?)
       ON CONFLICT (minute) DO UPDATE SET signal_dbm = excluded.signal_dbm,
         registration = excluded.registration, modem_usable = excluded.modem_usable,
         link = excluded.link`,
    );
    this.store.tx(() => {
      for (const s of samples) {
        insert.run(s.minute, s.signalDbm, s.registration, bit(s.modemUsable), bit(s.link));
      }
      const span = db
        .prepare<[], { lo: number | null; hi: number | null }>(
          'SELECT min(minute) AS lo, max(minute) AS hi FROM diag_history',
        )
        .get()!;
      const from = nowMinute - keepMinutes;
      const to = nowMinute + keepMinutes;
      if ((span.lo ?? from) < from - PRUNE_SLACK_MINUTES || (span.hi ?? to) > to) {
        db.prepare('DELETE FROM diag_history WHERE minute < ? OR minute > ?').run(from, to);
      }
    });
  }

  samplesSince(fromMinute: number): HistorySample[] {
    return this.store.db
      .prepare<[number], SampleRow>(
        'SELECT * FROM diag_history WHERE minute >= ? ORDER BY minute LIMIT 20000',
      )
      .all(fromMinute)
      .map((r) => ({
        minute: r.minute,
        signalDbm: r.signal_dbm,
        registration: r.registration,
        modemUsable: unbit(r.modem_usable),
        link: unbit(r.link),
      }));
  }

  /** Ended attempts, and runs that ended without one (skipped, refused), since `from` (epoch ms). */
  callsSince(from: number, limit = 1000): HistoryCall[] {
    const { db } = this.store;
    const attempts = db
      .prepare<
        [number, number],
        {
          at: number;
          outcome: string | null;
          status: string;
          kind: string;
          runId: string;
          bookingId: string | null;
        }
      >(
        `SELECT a.ended_at AS at, a.outcome, a.status, r.kind, r.id AS runId, r.booking_id AS bookingId
           FROM attempts a JOIN runs r ON r.id = a.run_id
          WHERE a.ended_at >= ? ORDER BY a.ended_at LIMIT +?`,
      )
      .all(from, limit);
    const unattempted = db
      .prepare<
        [number, number],
        { at: number; status: string; kind: string; runId: string; bookingId: string | null }
      >(
        `SELECT coalesce(r.finished_at, r.updated_at) AS at, r.status, r.kind, r.id AS runId,
                r.booking_id AS bookingId
           FROM runs r
          WHERE r.status IN ('skipped', 'refused') AND r.updated_at >= ?
            AND NOT EXISTS (SELECT 1 FROM attempts a WHERE a.run_id = r.id)
          ORDER BY r.updated_at LIMIT +?`,
      )
      .all(from, limit);
    return [
      ...attempts.map((a) => ({
        at: a.at,
        outcome: a.outcome ?? a.status,
        kind: a.kind,
        runId: a.runId,
        bookingId: a.bookingId,
      })),
      ...unattempted.map((r) => ({
        at: r.at,
        outcome: r.status,
        kind: r.kind,
        runId: r.runId,
        bookingId: r.bookingId,
      })),
    ].sort((a, b) => a.at - b.at);
  }
}
