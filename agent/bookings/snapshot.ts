/**
 * Applying a snapshot: the cloud's full set of live bookings **as of** a command sequence S.
 * Applied atomically (docs/protocol.md "Snapshots"):
 *
 * - each item follows the usual version rules (an item the unit already holds at that version is
 *   unchanged; an older one is ignored);
 * - an item that fails validation is reported and counts as present: it never cancels what is held;
 * - a booking the unit holds but the snapshot lacks is cancelled only if it was last changed at or
 *   before S — a command newer than the snapshot is never undone — and the cancellation remembers S,
 *   so a later message (a newer snapshot, a newer command) may create it again at the same version;
 * - `snapshot.applied` lists every item not applied, and why.
 */
import type { Store } from '../store/store.js';
import { bookingSchema, type CommandResult, type RejectionReason } from './schema.js';
import { bookingIdOf, zodReasons, type ApplyContext, type CommandApplier } from './apply.js';

export interface SnapshotInput {
  snapshotId: string;
  /** The command sequence the snapshot is as of (0 = before any command). */
  asOf: number;
  bookings: unknown[];
}

export interface NotApplied {
  index: number;
  bookingId: string | null;
  status: 'ignored_stale' | 'rejected';
  reasons: RejectionReason[];
}

export interface SnapshotOutcome {
  snapshotId: string;
  asOf: number;
  accepted: number;
  unchanged: number;
  rejected: number;
  cancelled: string[];
  /** Held bookings absent from the snapshot but changed by a newer command: kept. */
  keptNewer: string[];
  notApplied: NotApplied[];
}

/** At most this many items are listed one by one in `snapshot.applied`; the counts are exact. */
export const NOT_APPLIED_LISTED = 200;

export function applySnapshot(
  store: Store,
  applier: CommandApplier,
  snapshot: SnapshotInput,
  _ctx: ApplyContext,
): SnapshotOutcome {
  return applier.withChanges((now, changed) => {
    const present = new Set<string>();
    const out: SnapshotOutcome = {
      snapshotId: snapshot.snapshotId,
      asOf: snapshot.asOf,
      accepted: 0,
      unchanged: 0,
      rejected: 0,
      cancelled: [],
      keptNewer: [],
      notApplied: [],
    };
    snapshot.bookings.forEach((raw, index) => {
      const id = bookingIdOf(raw);
      // Present even when invalid: a bad item must not cancel the booking the unit holds.
      if (id !== null) present.add(id);
      const parsed = bookingSchema.safeParse(raw);
      let r: CommandResult;
      if (!parsed.success) {
        r = {
          commandId: `${snapshot.snapshotId}:${index}`,
          status: 'rejected',
          bookingId: id,
          currentVersion: id === null ? null : (store.bookings.get(id)?.version ?? null),
          reasons: zodReasons(parsed.error, `bookings.${index}`),
        };
      } else {
        r = applier.upsert(
          parsed.data,
          { commandId: `${snapshot.snapshotId}:${index}`, seq: snapshot.asOf },
          now,
        );
      }
      if (r.status === 'accepted') {
        out.accepted++;
        changed.push(r.bookingId!);
      } else {
        if (r.status === 'rejected') out.rejected++;
        else out.unchanged++;
        // A held booking at the same version is simply in step; anything else is reported.
        const inStep = r.status === 'ignored_stale' && r.reasons[0]?.code === 'stale_version';
        if (!inStep)
          out.notApplied.push({
            index,
            bookingId: r.bookingId,
            status: r.status === 'rejected' ? 'rejected' : 'ignored_stale',
            reasons: r.reasons,
          });
      }
    });
    for (const live of store.bookings.liveIds()) {
      if (present.has(live.id)) continue;
      if ((live.changedSeq ?? 0) > snapshot.asOf) {
        out.keptNewer.push(live.id);
        continue;
      }
      const row = store.bookings.get(live.id)!;
      applier.tombstone(row, row.version, now, 'absent_from_snapshot', {
        seq: snapshot.asOf,
        absentAtSeq: snapshot.asOf,
      });
      changed.push(live.id);
      out.cancelled.push(live.id);
    }
    store.outbox.add(
      'snapshot.applied',
      {
        snapshotId: out.snapshotId,
        asOf: out.asOf,
        bookings: snapshot.bookings.length,
        accepted: out.accepted,
        unchanged: out.unchanged,
        rejected: out.rejected,
        cancelled: out.cancelled.length,
        keptNewer: out.keptNewer,
        notApplied: out.notApplied.slice(0, NOT_APPLIED_LISTED),
        notAppliedCount: out.notApplied.length,
      },
      now,
    );
    return out;
  });
}
