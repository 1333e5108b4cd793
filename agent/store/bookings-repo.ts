/** Queries on the bookings table. SQL stays here; callers get typed rows. */
import type { Db } from './db.js';
import type { Booking } from '../bookings/schema.js';

export type BookingStatus = 'active' | 'paused' | 'completed' | 'cancelled';

export interface BookingRow {
  id: string;
  version: number;
  status: BookingStatus;
  spec: Booking | null;
  nextSlotAt: number | null;
  cursorAt: number | null;
  remaining: number | null;
  /** Command sequence of the message that last changed it (null: a local change). */
  changedSeq: number | null;
  /** Set when a snapshot as of this sequence cancelled it for being absent. */
  absentAtSeq: number | null;
  createdAt: number;
  updatedAt: number;
}

interface RawBooking {
  id: string;
  version: number;
  status: BookingStatus;
  spec: string | null;
  next_slot_at: number | null;
  cursor_at: number | null;
  remaining: number | null;
  changed_seq: number | null;
  absent_at_seq: number | null;
  created_at: number;
  updated_at: number;
}

const toRow = (r: RawBooking): BookingRow => ({
  id: r.id,
  version: r.version,
  status: r.status,
  spec: r.spec === null ? null : (JSON.parse(r.spec) as Booking),
  nextSlotAt: r.next_slot_at,
  cursorAt: r.cursor_at,
  remaining: r.remaining,
  changedSeq: r.changed_seq,
  absentAtSeq: r.absent_at_seq,
  createdAt: r.created_at,
  updatedAt: r.updated_at,
});

export class BookingsRepo {
  private readonly getStmt;
  private readonly upsertStmt;
  private readonly dueStmt;
  private readonly nextDueStmt;
  private readonly advanceStmt;
  private readonly listStmt;
  private readonly countStmt;
  private readonly activeIdsStmt;
  private readonly scheduledStmt;

  constructor(db: Db) {
    this.getStmt = db.prepare<[string], RawBooking>('SELECT * FROM bookings WHERE id = ?');
    this.upsertStmt = db.prepare(
      `INSERT INTO bookings (id, version, status, spec, next_slot_at, cursor_at, remaining,
         changed_seq, absent_at_seq, created_at, updated_at)
       VALUES (@id, @version, @status, @spec, @nextSlotAt, @cursorAt, @remaining, @changedSeq,
         @absentAtSeq, @now, @now)
       ON CONFLICT (id) DO UPDATE SET version = excluded.version, status = excluded.status,
         spec = excluded.spec, next_slot_at = excluded.next_slot_at, cursor_at = excluded.cursor_at,
         remaining = excluded.remaining, changed_seq = excluded.changed_seq,
         absent_at_seq = excluded.absent_at_seq, updated_at = excluded.updated_at`,
    );
    this.dueStmt = db.prepare<[number, number], RawBooking>(
      `SELECT * FROM bookings WHERE status = 'active' AND next_slot_at IS NOT NULL AND next_slot_at <= ?
       ORDER BY next_slot_at LIMIT +?`,
    );
    this.nextDueStmt = db.prepare<[], { t: number | null }>(
      `SELECT min(next_slot_at) AS t FROM bookings WHERE status = 'active' AND next_slot_at IS NOT NULL`,
    );
    this.advanceStmt = db.prepare(
      `UPDATE bookings SET next_slot_at = @nextSlotAt, cursor_at = @cursorAt, remaining = @remaining,
         status = @status, updated_at = @now WHERE id = @id AND version = @version`,
    );
    this.listStmt = db.prepare<[number], RawBooking>(
      'SELECT * FROM bookings ORDER BY status, next_slot_at IS NULL, next_slot_at, id LIMIT +?',
    );
    // One statement, one snapshot: the total from the smallest index, the rest from the partial
    // index of bookings not active (migration 0009) — never a scan of the table's rows.
    this.countStmt = db.prepare<[], { status: BookingStatus | 'total'; n: number }>(
      `SELECT 'total' AS status, count(*) AS n FROM bookings
       UNION ALL
       SELECT status, count(*) AS n FROM bookings WHERE status <> 'active' GROUP BY status`,
    );
    this.scheduledStmt = db.prepare<[], RawBooking>(
      `SELECT * FROM bookings WHERE status = 'active' AND next_slot_at IS NOT NULL ORDER BY id`,
    );
    this.activeIdsStmt = db.prepare<[], { id: string; version: number; changedSeq: number | null }>(
      `SELECT id, version, changed_seq AS changedSeq FROM bookings WHERE status IN ('active', 'paused', 'completed')`,
    );
  }

  get(id: string): BookingRow | null {
    const r = this.getStmt.get(id);
    return r ? toRow(r) : null;
  }

  save(
    b: Omit<BookingRow, 'createdAt' | 'updatedAt' | 'changedSeq' | 'absentAtSeq'> & {
      changedSeq?: number | null;
      absentAtSeq?: number | null;
    },
    now: number,
  ): void {
    this.upsertStmt.run({
      changedSeq: b.changedSeq ?? null,
      absentAtSeq: b.absentAtSeq ?? null,
      id: b.id,
      version: b.version,
      status: b.status,
      spec: b.spec === null ? null : JSON.stringify(b.spec),
      nextSlotAt: b.nextSlotAt,
      cursorAt: b.cursorAt,
      remaining: b.remaining,
      now,
    });
  }

  /** Active bookings whose next slot is at or before `now`, oldest first. */
  due(now: number, limit = 500): BookingRow[] {
    return this.dueStmt.all(now, limit).map(toRow);
  }

  nextSlotAt(): number | null {
    return this.nextDueStmt.get()?.t ?? null;
  }

  /** Move the cursor; conditioned on the version so a concurrent upsert wins. */
  advance(
    b: Pick<BookingRow, 'id' | 'version' | 'nextSlotAt' | 'cursorAt' | 'remaining' | 'status'>,
    now: number,
  ): boolean {
    return (
      this.advanceStmt.run({
        id: b.id,
        version: b.version,
        nextSlotAt: b.nextSlotAt,
        cursorAt: b.cursorAt,
        remaining: b.remaining,
        status: b.status,
        now,
      }).changes === 1
    );
  }

  /** Every active booking with a next slot (new zone rules: agent/bookings/zone-rules-change.ts). */
  scheduled(): BookingRow[] {
    return this.scheduledStmt.all().map(toRow);
  }

  list(limit = 1000): BookingRow[] {
    return this.listStmt.all(limit).map(toRow);
  }

  counts(): Record<BookingStatus, number> {
    const out: Record<BookingStatus, number> = { active: 0, paused: 0, completed: 0, cancelled: 0 };
    let total = 0;
    for (const r of this.countStmt.all()) {
      if (r.status === 'total') total = r.n;
      else out[r.status] = r.n;
    }
    out.active = total - out.paused - out.completed - out.cancelled;
    return out;
  }

  /**
   * Bookings a snapshot can cancel by absence (active, paused, or completed but perhaps still owing
   * a retry), with the sequence that last changed them.
   */
  liveIds(): { id: string; version: number; changedSeq: number | null }[] {
    return this.activeIdsStmt.all();
  }
}
