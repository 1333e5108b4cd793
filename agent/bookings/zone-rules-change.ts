/**
 * New zone rules (a tzdata upgrade; the package's file trigger restarts the agent onto them,
 * docs/packaging.md). Each active booking's next slot is stored, computed under the rules of the
 * day it was computed; the slots after it are computed under the rules in memory. At start, when
 * the time zone database's version is not the one the store last saw, every active booking's next
 * slot is found again under the rules now on disk, so a DST law change that reaches the unit
 * shortly before it takes effect moves that slot too.
 *
 * Which slot is "the same" under new rules: the occurrence nearest the stored instant, never one at
 * or before the booking's cursor (`recomputedNextSlot`). Under unchanged rules it is the stored
 * slot itself (tested), so a first start or a version that changed nothing moves nothing.
 *
 * | the slot under the new rules   | what happens                                                     |
 * | ------------------------------ | ---------------------------------------------------------------- |
 * | the stored instant             | nothing                                                          |
 * | another instant                | stored, with a `booking.state` event (reason `zone_rules_changed`) |
 * | ... already past               | the same: the planner's catch-up window and misfire rule decide, |
 * |                                | as for a slot missed while the unit was off                       |
 * | none (the schedule ends)       | the stored slot is kept: the planner completes the booking after |
 *
 * One transaction with the version mark: a crash half-way recomputes everything at the next start.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Logger } from '../log.js';
import type { Store } from '../store/store.js';
import type { BookingRow } from '../store/bookings-repo.js';
import { zoneinfoDir } from '../schedule/tzif.js';
import { forgetCompiledSchedules } from '../schedule/compile.js';
import { nextSlotOf, slotsBetween } from './slots.js';

export const TZDATA_VERSION_KEY = 'tzdata_version';
const DAY_MS = 86_400_000;

/** The version tzdata.zi names (`# version 2025b`), or null where there is no such file. */
export function tzdataVersion(dir = zoneinfoDir()): string | null {
  let head: string;
  try {
    head = readFileSync(join(dir, 'tzdata.zi'), { encoding: 'latin1' }).slice(0, 200);
  } catch {
    return null;
  }
  return /^# version (\S+)/.exec(head)?.[1] ?? null;
}

export interface ZoneRulesChange {
  from: string | null;
  to: string;
  checked: number;
  moved: { bookingId: string; from: number; to: number }[];
}

/**
 * The stored slot's occurrence under the rules in memory: of the slot before it (but after the
 * booking's base) and the first at or after it, the nearer one: a rule change moves an
 * occurrence by less than half the time between two of a booking's occurrences (DST laws move
 * clocks by an hour; a schedule every hour at :15 is the same in UTC either way). Never the
 * occurrence already planned: the slot before must come after the booking's cursor and its last
 * change. Under unchanged rules this is the stored slot itself.
 */
export function recomputedNextSlot(b: BookingRow): number | null {
  const spec = b.spec!;
  const stored = b.nextSlotAt!;
  // An instant with its offset: no zone rules involved.
  if (spec.schedule.kind === 'once') return stored;
  const base = Math.max(b.cursorAt ?? -Infinity, b.updatedAt, stored - DAY_MS);
  const after = nextSlotOf(spec, stored - 1);
  const before = base < stored - 1 ? slotsBetween(spec, base, stored - 1).latest : null;
  if (before === null) return after;
  if (after === null) return before;
  return stored - before < after - stored ? before : after;
}

/** Recompute the next slots when the rules changed since the store last looked; null when they did not. */
export function rescheduleForZoneRules(
  store: Store,
  now: number,
  version: string | null,
  log?: Logger,
): ZoneRulesChange | null {
  if (version === null || store.meta.get(TZDATA_VERSION_KEY) === version) return null;
  const change = recompute(store, now, version);
  if (change)
    log?.[change.moved.length > 0 ? 'warn' : 'info'](
      { from: change.from, to: change.to, checked: change.checked, moved: change.moved.length },
      'time zone rules changed: next slots computed again',
    );
  return change;
}

function recompute(store: Store, now: number, version: string): ZoneRulesChange | null {
  return store.tx(() => {
    const from = store.meta.get(TZDATA_VERSION_KEY);
    if (from === version) return null;
    forgetCompiledSchedules(); // rules read before this point (in this process) may be old ones
    const change: ZoneRulesChange = { from, to: version, checked: 0, moved: [] };
    for (const b of store.bookings.scheduled()) {
      change.checked++;
      const next = recomputedNextSlot(b);
      if (next === null || next === b.nextSlotAt) continue;
      store.bookings.advance({ ...b, nextSlotAt: next }, now);
      store.outbox.add(
        'booking.state',
        {
          bookingId: b.id,
          version: b.version,
          status: 'active',
          nextSlotAt: new Date(next).toISOString(),
          reason: 'zone_rules_changed',
        },
        now,
      );
      change.moved.push({ bookingId: b.id, from: b.nextSlotAt!, to: next });
    }
    store.meta.set(TZDATA_VERSION_KEY, version);
    return change;
  });
}
