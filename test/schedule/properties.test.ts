import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import {
  nextSlot,
  type Schedule,
  type SlotOptions,
  type Weekday,
} from '../../agent/schedule/index.js';
import { zoneRules } from '../../agent/schedule/zone.js';

const ZONES = [
  'Europe/Berlin',
  'America/New_York',
  'Australia/Sydney',
  'Australia/Lord_Howe',
  'Asia/Kolkata',
  'UTC',
];
const DAYS: Weekday[] = ['mon', 'tue', 'wed', 'thu', 'fri', 'sat', 'sun'];
const hhmm = fc
  .tuple(fc.integer({ min: 0, max: 23 }), fc.constantFrom(0, 1, 15, 29, 30, 45, 59))
  .map(([h, m]) => `${String(h).padStart(2, '0')}:${String(m).padStart(2, '0')}`);
// Bias towards the DST-relevant early-morning hours.
const dstTime = fc.oneof(
  hhmm,
  fc.constantFrom('00:30', '01:30', '02:00', '02:15', '02:30', '02:59', '03:00'),
);
const zone = fc.constantFrom(...ZONES);

const scheduleArb: fc.Arbitrary<Schedule> = fc.oneof(
  fc.record({ kind: fc.constant('daily' as const), time: dstTime, zone }),
  fc.record({
    kind: fc.constant('weekly' as const),
    days: fc.uniqueArray(fc.constantFrom(...DAYS), { minLength: 1, maxLength: 7 }),
    time: dstTime,
    zone,
  }),
  fc.record({
    kind: fc.constant('cron' as const),
    expr: fc.constantFrom(
      '*/15 * * * *',
      '30 2 * * *',
      '0,30 1-3 * * 0',
      '45 2 1-7 * sun',
      '0 0 29 2 *',
      '15,40 2 * * *',
    ),
    zone,
  }),
);
const opts: fc.Arbitrary<SlotOptions> = fc.record({
  dstGap: fc.constantFrom('shift' as const, 'skip' as const),
});
const instant = fc.integer({ min: Date.UTC(2000, 0, 1), max: Date.UTC(2060, 0, 1) });

const DAY_MS = 86_400_000;

/**
 * Independent reference for daily/weekly: each candidate date's wall time, resolved on its own.
 * Not Temporal: its answers come from ICU's copy of the zone data, which follows the Node release,
 * not the system tzdata the agent reads — a zone whose rules changed between the two would fail
 * this test for no fault of nextSlot (test/schedule/zone.test.ts, found moving CI to Node 24). The
 * wall ↔ instant conversions are the agent's ZoneRules, checked against an independent reader of
 * the same files (Python's zoneinfo) in zone.test.ts; what is independent here is the search:
 * every date from two days before to nine after, no stepping from slot to slot.
 */
function referenceNext(
  s: Extract<Schedule, { kind: 'daily' | 'weekly' }>,
  after: number,
  o: SlotOptions,
): number | null {
  const rules = zoneRules(s.zone)!;
  const [h, m] = s.time.split(':').map(Number) as [number, number];
  const startDay = Math.floor(rules.toLocalMs(after) / DAY_MS) * DAY_MS;
  let best: number | null = null;
  for (let i = -2; i <= 9; i++) {
    const day = startDay + i * DAY_MS;
    // getUTCDay of a local-ms date is its local weekday (0 = Sunday); DAYS starts on Monday.
    if (s.kind === 'weekly' && !s.days.includes(DAYS[(new Date(day).getUTCDay() + 6) % 7]!))
      continue;
    const wall = rules.fromLocalMs(day + (h * 60 + m) * 60_000);
    if (o.dstGap === 'skip' && wall.inGap) continue;
    const t = wall.epochMs;
    if (t > after && (best === null || t < best)) best = t;
  }
  return best;
}

/** Every instant in [from, to) at which the zone's UTC offset changes (found to the second). */
function transitions(zone: string, from: number, to: number): number[] {
  const rules = zoneRules(zone)!;
  const out: number[] = [];
  const step = 6 * 3_600_000;
  for (let t = from; t < to; t += step) {
    if (rules.offsetAt(t + step) === rules.offsetAt(t)) continue;
    let lo = t;
    let hi = t + step;
    while (hi - lo > 1000) {
      const mid = lo + Math.floor((hi - lo) / 2000) * 1000;
      if (rules.offsetAt(mid) === rules.offsetAt(lo)) lo = mid;
      else hi = mid;
    }
    out.push(hi);
  }
  return out;
}

describe('nextSlot properties', () => {
  it('is always a finite instant strictly after `after`, and iteration strictly increases', () => {
    fc.assert(
      fc.property(scheduleArb, instant, opts, (s, after, o) => {
        let t = after;
        for (let i = 0; i < 12; i++) {
          const n = nextSlot(s, t, o);
          expect(n).not.toBeNull();
          expect(Number.isFinite(n)).toBe(true);
          expect(n!).toBeGreaterThan(t);
          t = n!;
        }
      }),
      { numRuns: 400 },
    );
  });

  it('daily/weekly agree with a day-by-day reference', () => {
    fc.assert(
      fc.property(scheduleArb, instant, opts, (s, after, o) => {
        if (s.kind !== 'daily' && s.kind !== 'weekly') return;
        expect(nextSlot(s, after, o)).toBe(referenceNext(s, after, o));
      }),
      { numRuns: 1000 },
    );
  });

  it('around DST transitions too', () => {
    // Instants within ±3 h of every transition 2020–2030 in the test zones.
    const near = ZONES.flatMap((z) => transitions(z, Date.UTC(2020, 0, 1), Date.UTC(2030, 0, 1)));
    // Two a year in four of the six zones (Kolkata and UTC have none): the sample is not vacuous.
    expect(near.length).toBe(4 * 2 * 10);
    fc.assert(
      fc.property(
        scheduleArb,
        fc.constantFrom(...near),
        fc.integer({ min: -180, max: 180 }),
        opts,
        (s, tr, dm, o) => {
          const after = tr + dm * 60_000;
          if (s.kind === 'daily' || s.kind === 'weekly')
            expect(nextSlot(s, after, o)).toBe(referenceNext(s, after, o));
          const a = nextSlot(s, after, o)!;
          const b = nextSlot(s, a, o)!;
          expect(b).toBeGreaterThan(a);
          expect(a).toBeGreaterThan(after);
        },
      ),
      { numRuns: 1500 },
    );
  });
});
