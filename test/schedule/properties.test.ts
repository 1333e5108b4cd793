import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { Temporal } from 'temporal-polyfill';
import {
  nextSlot,
  type Schedule,
  type SlotOptions,
  type Weekday,
} from '../../agent/schedule/index.js';

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

/** Independent reference for daily/weekly: ask Temporal about each candidate date directly. */
function referenceNext(
  s: Extract<Schedule, { kind: 'daily' | 'weekly' }>,
  after: number,
  o: SlotOptions,
): number | null {
  const [h, m] = s.time.split(':').map(Number) as [number, number];
  const start = Temporal.Instant.fromEpochMilliseconds(after)
    .toZonedDateTimeISO(s.zone)
    .toPlainDate();
  let best: number | null = null;
  for (let i = -2; i <= 9; i++) {
    const date = start.add({ days: i });
    if (s.kind === 'weekly' && !s.days.includes(DAYS[date.dayOfWeek - 1]!)) continue;
    const wall = date.toPlainDateTime({ hour: h, minute: m });
    const zdt = wall.toZonedDateTime(s.zone, { disambiguation: 'compatible' });
    if (o.dstGap === 'skip' && !zdt.toPlainDateTime().equals(wall)) continue;
    const t = zdt.epochMilliseconds;
    if (t > after && (best === null || t < best)) best = t;
  }
  return best;
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

  it('daily/weekly agree with a day-by-day Temporal reference', () => {
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
    const near: number[] = [];
    for (const z of ZONES) {
      let zdt: Temporal.ZonedDateTime | null = Temporal.ZonedDateTime.from({
        year: 2020,
        month: 1,
        day: 1,
        timeZone: z,
      });
      while ((zdt = zdt.getTimeZoneTransition('next')) && zdt.year < 2030)
        near.push(zdt.epochMilliseconds);
    }
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
