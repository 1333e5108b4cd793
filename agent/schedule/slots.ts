/**
 * When does a booking fire? Recurrence is evaluated in local wall-clock minutes, then each matching
 * wall time is converted to an instant with explicit DST rules (DESIGN.md rule 9):
 *
 *  - wall time in a spring-forward gap: dstGap 'shift' (default) fires at Temporal's 'compatible'
 *    instant, i.e. moved forward by the gap length (Berlin 02:30 → 03:30 CEST); 'skip' drops it.
 *  - wall time in a repeated fall-back hour: fires once, at the first occurrence ('earlier').
 *  - the slot set is a set of instants: a shifted slot that lands on another slot is one slot, and
 *    slots are returned in instant order, so iteration is strictly increasing with no duplicates.
 *
 * Pure functions of their inputs; no clock is read here.
 */
import { MS_PER_MINUTE } from './civil.js';
import { type Compiled, compileSchedule } from './compile.js';
import { nextCronMinute } from './cron.js';
import type { Schedule, SlotOptions } from './types.js';

/** No recurring schedule we accept is silent for longer (Feb 29 waits ≤ 8 years: 2096 → 2104). */
const HORIZON_MS = 9 * 366 * 86_400_000;
/** How far back a gap can reach: wall times up to this before "now" may shift to after it. */
const LOOKBACK_MS = 2 * 86_400_000;

function compiledOrThrow(schedule: Schedule): Compiled {
  const r = compileSchedule(schedule);
  if (!r.ok) throw new RangeError(`invalid schedule: ${r.errors.join('; ')}`);
  return r.compiled;
}

/** First slot instant strictly after `lower`, ignoring startsAt/endsAt. */
function nextRecurring(
  c: Extract<Compiled, { kind: 'recurring' }>,
  lower: number,
  skipGaps: boolean,
): number | null {
  const zone = c.zone;
  // A wall time in a gap before `lower`'s wall time can shift to after `lower`; starting the search
  // at lower + (smallest recent offset) covers exactly those (no-op when no transition is near).
  const startLocal = lower + zone.minOffsetBetween(lower - LOOKBACK_MS, lower);
  const limitMin = Math.floor((zone.toLocalMs(lower) + HORIZON_MS) / MS_PER_MINUTE);
  let cand = nextCronMinute(c.spec, Math.floor(startLocal / MS_PER_MINUTE), limitMin);
  let best: number | null = null;
  let bestLocalMin = 0;
  while (cand !== null) {
    // Later wall times resolve to later instants unless the best so far was shifted out of a gap,
    // so once past the best's own wall time nothing can beat it.
    if (best !== null && cand > bestLocalMin) break;
    const { epochMs, inGap } = zone.fromLocalMs(cand * MS_PER_MINUTE);
    if (!(inGap && skipGaps) && epochMs > lower && (best === null || epochMs < best)) {
      best = epochMs;
      bestLocalMin = inGap ? Math.floor(zone.toLocalMs(epochMs) / MS_PER_MINUTE) : cand;
    }
    cand = nextCronMinute(c.spec, cand + 1, limitMin);
  }
  return best;
}

function nextCompiled(c: Compiled, afterMs: number, opts: SlotOptions): number | null {
  // Slots are whole milliseconds, so "≥ startsAt" is "> startsAt - 1".
  const lower = opts.startsAt != null ? Math.max(afterMs, opts.startsAt - 1) : afterMs;
  const next =
    c.kind === 'once'
      ? c.at > lower
        ? c.at
        : null
      : nextRecurring(c, Math.floor(lower), opts.dstGap === 'skip');
  if (next === null || (opts.endsAt != null && next > opts.endsAt)) return null;
  return next;
}

function checkInstant(name: string, v: number): void {
  if (!Number.isFinite(v)) throw new RangeError(`${name} must be a finite epoch ms, got ${v}`);
}

/**
 * The first slot strictly after `afterMs` (epoch ms) within [startsAt, endsAt], or null.
 * Throws RangeError for an invalid schedule (validate with validateSchedule at input) or a
 * non-finite afterMs.
 */
export function nextSlot(schedule: Schedule, afterMs: number, opts: SlotOptions): number | null {
  checkInstant('afterMs', afterMs);
  return nextCompiled(compiledOrThrow(schedule), afterMs, opts);
}

export interface SlotRange {
  /** Slots in (afterMs, untilMs], counted up to `cap`. */
  count: number;
  /** True when counting stopped at `cap` (there may be more). */
  capped: boolean;
  first: number | null;
  /** The last slot ≤ untilMs — exact even when capped (the misfire policy fires this one). */
  latest: number | null;
}

/**
 * Slots in (afterMs, untilMs], for catch-up after downtime. Counting stops at `cap`, and `latest` is
 * found by searching backwards from untilMs in growing windows, so a per-minute cron over a month of
 * downtime costs about cap + a few hundred steps, not 43,200.
 */
export function slotsInRange(
  schedule: Schedule,
  afterMs: number,
  untilMs: number,
  opts: SlotOptions,
  cap = 10_000,
): SlotRange {
  checkInstant('afterMs', afterMs);
  checkInstant('untilMs', untilMs);
  const c = compiledOrThrow(schedule);
  let count = 0;
  let first: number | null = null;
  let latest: number | null = null;
  let t = nextCompiled(c, afterMs, opts);
  while (t !== null && t <= untilMs && count < cap) {
    if (first === null) first = t;
    latest = t;
    count++;
    t = nextCompiled(c, t, opts);
  }
  const capped = count >= cap && t !== null && t <= untilMs;
  if (capped) latest = latestAtOrBefore(c, afterMs, untilMs, opts);
  return { count, capped, first, latest };
}

/** The last slot in (afterMs, untilMs]: scan windows ending at untilMs, 8× wider each time. */
function latestAtOrBefore(
  c: Compiled,
  afterMs: number,
  untilMs: number,
  opts: SlotOptions,
): number | null {
  for (let width = 2 * MS_PER_MINUTE; ; width *= 8) {
    const from = Math.max(afterMs, untilMs - width);
    let found: number | null = null;
    for (
      let t = nextCompiled(c, from, opts);
      t !== null && t <= untilMs;
      t = nextCompiled(c, t, opts)
    ) {
      found = t;
    }
    if (found !== null || from === afterMs) return found;
  }
}
