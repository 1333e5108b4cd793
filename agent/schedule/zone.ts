/**
 * Fast, exact wall-clock ⇄ instant conversion for one IANA zone.
 *
 * Temporal (polyfill) is the source of truth for the zone's rules, but each Temporal conversion costs
 * 5–10 µs, and planning converts for every booking. So we ask Temporal once per offset period (the
 * span between two transitions), cache those periods, and convert with arithmetic afterwards. The
 * disambiguation follows the Temporal spec (GetPossibleEpochNanoseconds / DisambiguatePossible...):
 *   - a wall time with one instant → that instant;
 *   - a repeated wall time (fall-back) → the earlier instant ('compatible' = 'earlier');
 *   - a wall time in a gap (spring-forward) → moved forward by the gap length ('compatible' =
 *     'later'), and flagged so the caller can apply the skip policy instead.
 * test/schedule/zone.test.ts checks this against Temporal itself for random times in several zones.
 */
import { Temporal } from 'temporal-polyfill';

const MS_PER_DAY = 86_400_000;

/** One span of constant UTC offset: [start, end) in epoch ms. */
interface Period {
  start: number;
  end: number;
  offsetMs: number;
}

export interface WallResolution {
  /** The instant (epoch ms) the wall time fires at under 'compatible' disambiguation. */
  epochMs: number;
  /** True when the wall time does not exist (spring-forward gap) and was shifted forward. */
  inGap: boolean;
}

export class ZoneRules {
  /** Sorted, disjoint periods learned so far. */
  private readonly periods: Period[] = [];

  private constructor(readonly zone: string) {}

  /** Rules for an IANA zone, or null when Temporal does not know it. */
  static tryCreate(zone: string): ZoneRules | null {
    if (!isIanaZoneName(zone)) return null;
    try {
      Temporal.Instant.fromEpochMilliseconds(0).toZonedDateTimeISO(zone);
    } catch {
      return null;
    }
    return new ZoneRules(zone);
  }

  /** UTC offset in ms at an instant. */
  offsetAt(epochMs: number): number {
    return this.periodAt(epochMs).offsetMs;
  }

  /** Local wall time at an instant, as ms since 1970-01-01T00:00 local ("local ms"). */
  toLocalMs(epochMs: number): number {
    return epochMs + this.offsetAt(epochMs);
  }

  /** The smallest offset in force at any point of [fromMs, toMs]. */
  minOffsetBetween(fromMs: number, toMs: number): number {
    let p = this.periodAt(fromMs);
    let min = p.offsetMs;
    while (p.end <= toMs) {
      p = this.periodAt(p.end);
      min = Math.min(min, p.offsetMs);
    }
    return min;
  }

  /** Resolve a local wall time (local ms) to an instant, Temporal 'compatible' semantics. */
  fromLocalMs(localMs: number): WallResolution {
    const possible = this.possibleInstants(localMs);
    if (possible.length > 0) return { epochMs: possible[0] as number, inGap: false };
    // Gap: move the wall time forward by the gap length and take the latest instant there.
    const gap = this.offsetAt(localMs + MS_PER_DAY) - this.offsetAt(localMs - MS_PER_DAY);
    const shifted = this.possibleInstants(localMs + gap);
    const last = shifted[shifted.length - 1];
    // Only reachable for pathological rules (two transitions within a day); fall back to Temporal.
    return { epochMs: last ?? this.temporalCompatible(localMs), inGap: true };
  }

  /** All instants whose wall time equals localMs, ascending (0 in a gap, 2 in a repeat). */
  private possibleInstants(localMs: number): number[] {
    // Offsets are within ±1 day, so every candidate instant lies in [localMs - 1d, localMs + 1d].
    const out: number[] = [];
    let p = this.periodAt(localMs - MS_PER_DAY);
    for (;;) {
      const t = localMs - p.offsetMs;
      if (t >= p.start && t < p.end && (out.length === 0 || out[out.length - 1] !== t)) out.push(t);
      if (p.end > localMs + MS_PER_DAY) break;
      p = this.periodAt(p.end);
    }
    return out.sort((a, b) => a - b);
  }

  private temporalCompatible(localMs: number): number {
    const iso = new Date(localMs).toISOString().slice(0, 23);
    return Temporal.PlainDateTime.from(iso).toZonedDateTime(this.zone).epochMilliseconds;
  }

  /** The cached period containing epochMs; asks Temporal on a miss. */
  private periodAt(epochMs: number): Period {
    const ps = this.periods;
    let lo = 0;
    let hi = ps.length - 1;
    while (lo <= hi) {
      const mid = (lo + hi) >> 1;
      const p = ps[mid] as Period;
      if (epochMs < p.start) hi = mid - 1;
      else if (epochMs >= p.end) lo = mid + 1;
      else return p;
    }
    const fresh = this.loadPeriod(epochMs);
    ps.splice(lo, 0, fresh);
    return fresh;
  }

  private loadPeriod(epochMs: number): Period {
    const zdt = Temporal.Instant.fromEpochMilliseconds(epochMs).toZonedDateTimeISO(this.zone);
    // 'previous' is strictly before its argument; ask from 1 ms later so a transition exactly at
    // epochMs counts as this period's start (tzdb transitions are whole seconds).
    const prev = Temporal.Instant.fromEpochMilliseconds(epochMs + 1)
      .toZonedDateTimeISO(this.zone)
      .getTimeZoneTransition('previous');
    const next = zdt.getTimeZoneTransition('next');
    return {
      start: prev ? prev.epochMilliseconds : -Infinity,
      end: next ? next.epochMilliseconds : Infinity,
      offsetMs: zdt.offsetNanoseconds / 1e6,
    };
  }
}

/** Area/Location names and UTC aliases; rejects offsets like "+01:00" (not a zone: no DST rules). */
function isIanaZoneName(zone: string): boolean {
  return typeof zone === 'string' && zone.length <= 64 && /^[A-Za-z][A-Za-z0-9_+\-/]*$/.test(zone);
}

const cache = new Map<string, ZoneRules | null>();

/** Shared, cached rules per zone name (the set of zones on a unit is small). */
export function zoneRules(zone: string): ZoneRules | null {
  let r = cache.get(zone);
  if (r === undefined) {
    r = ZoneRules.tryCreate(zone);
    // Unknown names are not cached: a hostile input must not grow the cache without bound.
    if (r) cache.set(zone, r);
  }
  return r;
}
