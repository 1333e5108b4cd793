/**
 * One planning pass (rule 2: the scheduler owns time). For every booking whose next slot has come,
 * write "a call is owed for slot S" (a run row, unique per booking + slot) and advance the booking's
 * cursor in the same transaction. After downtime, the catch-up window and misfire policy decide:
 *
 * - the slots missed while down collapse to the LATEST one (never a burst of stale calls); the older
 *   ones are reported once as `run.coalesced`;
 * - if the latest slot is no older than `catchUpWindowSec`, it fires now;
 * - otherwise `misfire: fire_once` fires it now (marked late) and `misfire: skip` records it as a
 *   skipped run with the reason, and the cloud hears about it.
 */
import type { Store } from '../store/store.js';
import type { BookingRow } from '../store/bookings-repo.js';
import type { RunLifecycle } from '../lifecycle/lifecycle.js';
import { nextSlotOf, slotsBetween } from '../bookings/slots.js';

export interface PlanResult {
  runsCreated: number;
  skipped: number;
  coalesced: number;
  bookingsCompleted: number;
}

export class Planner {
  constructor(
    private readonly store: Store,
    private readonly lifecycle: RunLifecycle,
    private readonly batch = 500,
  ) {}

  /**
   * Materialise every slot due by `horizon` (default `now`). Runs in one IMMEDIATE transaction per
   * batch. A slot written ahead of its time is a run waiting until it (`due_at` = the slot, as a
   * retry waits): the runner claims it then, with one commit between the slot and the dial.
   */
  planDue(now: number, beforeCommit?: () => void, horizon = now): PlanResult {
    const total: PlanResult = { runsCreated: 0, skipped: 0, coalesced: 0, bookingsCompleted: 0 };
    for (;;) {
      const n = this.store.tx(() => {
        const due = this.store.bookings.due(Math.max(now, horizon), this.batch);
        for (const b of due) this.planBooking(b, now, total);
        beforeCommit?.();
        return due.length;
      });
      if (n < this.batch) return total;
    }
  }

  private planBooking(b: BookingRow, now: number, acc: PlanResult): void {
    const spec = b.spec!;
    const first = b.nextSlotAt!;
    let latest = first;
    let missed = 1;
    const following = nextSlotOf(spec, first);
    if (following !== null && following <= now) {
      const range = slotsBetween(spec, first - 1, now);
      latest = range.latest ?? first;
      missed = range.count;
    }
    // The run row and its event (the misfire rule decides pending or skipped) come from the lifecycle.
    const { created, fires } = this.lifecycle.planSlot(b, latest, now);
    if (created) {
      if (fires) acc.runsCreated++;
      else acc.skipped++;
    }
    if (missed > 1) {
      acc.coalesced += missed - 1;
      this.store.outbox.add(
        'run.coalesced',
        {
          bookingId: b.id,
          count: missed - 1,
          firstSlotAt: new Date(first).toISOString(),
          reason: 'missed_while_down_superseded_by_later_slot',
        },
        now,
      );
    }
    let remaining = b.remaining;
    if (created && fires && remaining !== null) remaining = Math.max(0, remaining - 1);
    const next = remaining === 0 ? null : nextSlotOf(spec, latest);
    const bookingStatus = next === null ? 'completed' : 'active';
    this.store.bookings.advance(
      {
        id: b.id,
        version: b.version,
        nextSlotAt: next,
        cursorAt: latest,
        remaining,
        status: bookingStatus,
      },
      now,
    );
    if (bookingStatus === 'completed') {
      acc.bookingsCompleted++;
      this.store.outbox.add(
        'booking.state',
        { bookingId: b.id, version: b.version, status: 'completed', nextSlotAt: null },
        now,
      );
    }
  }
}
