/**
 * Fast, exact wall-clock ⇄ instant conversion for one IANA zone.
 *
 * The zone's rules come from the system's time zone database (tzif.ts: Debian's tzdata, not ICU —
 * issue 14's memory budget). We read the offset once per period (the span between two transitions),
 * cache those periods, and convert with arithmetic afterwards. The disambiguation follows the
 * Temporal spec (GetPossibleEpochNanoseconds / DisambiguatePossible...):
 *   - a wall time with one instant → that instant;
 *   - a repeated wall time (fall-back) → the earlier instant ('compatible' = 'earlier');
 *   - a wall time in a gap (spring-forward) → moved forward by the gap length ('compatible' =
 *     'later'), and flagged so the caller can apply the skip policy instead.
 * test/schedule/zone.test.ts checks this against Temporal itself (ICU's data) for random times in
 * many zones.
 */
import { readFileSync } from 'node:fs';
import { readZoneFile, TzifZone, type Period } from './tzif.js';

const MS_PER_DAY = 86_400_000;

export interface WallResolution {
  /** The instant (epoch ms) the wall time fires at under 'compatible' disambiguation. */
  epochMs: number;
  /** True when the wall time does not exist (spring-forward gap) and was shifted forward. */
  inGap: boolean;
}

export class ZoneRules {
  /** Sorted, disjoint periods learned so far. */
  private readonly periods: Period[] = [];

  private constructor(
    readonly zone: string,
    private readonly source: TzifZone,
  ) {}

  /** Rules for an IANA zone, or null when the system's time zone database does not have it. */
  static tryCreate(zone: string, dir?: string): ZoneRules | null {
    if (!isIanaZoneName(zone)) return null;
    const file = readZoneFile(zone, dir);
    if (!file) return null;
    try {
      return new ZoneRules(zone, TzifZone.parse(file));
    } catch {
      return null; // not a zone file (a directory's index, a leap-second file, a damaged file)
    }
  }

  /**
   * The unit's own local time (housekeeping's schedule): $TZ when it names a zone, else the file
   * /etc/localtime links to or holds, else UTC — as glibc reads them.
   */
  static local(env: NodeJS.ProcessEnv = process.env, localtime = '/etc/localtime'): ZoneRules {
    const tz = env.TZ?.replace(/^:/, '');
    if (tz) {
      const named = ZoneRules.tryCreate(tz);
      if (named) return named;
    }
    try {
      return new ZoneRules('localtime', TzifZone.parse(readFileSync(localtime)));
    } catch {
      return new ZoneRules('UTC', TzifZone.utc());
    }
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
    // Gap: read the wall time with the offset in force before the transition that skipped it, which
    // moves it forward by the gap's length ('compatible' = 'later'). That period is the last one
    // whose wall-clock span ended at or before localMs.
    let p = this.periodAt(localMs - MS_PER_DAY);
    let before = p;
    while (p.end <= localMs + MS_PER_DAY) {
      if (p.end + p.offsetMs <= localMs) before = p;
      p = this.periodAt(p.end);
    }
    return { epochMs: localMs - before.offsetMs, inGap: true };
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

  /** The cached period containing epochMs; reads the zone's data on a miss. */
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
    return this.source.periodAt(epochMs);
  }
}

/** Area/Location names and UTC aliases; rejects offsets like "+01:00" (not a zone: no DST rules). */
function isIanaZoneName(zone: string): boolean {
  return typeof zone === 'string' && zone.length <= 64 && /^[A-Za-z][A-Za-z0-9_+\-/]*$/.test(zone);
}

const cache = new Map<string, ZoneRules | null>();

/** Forget the cached rules: the zone files on disk changed (agent/bookings/zone-rules-change.ts). */
export function forgetZoneRules(): void {
  cache.clear();
}

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
