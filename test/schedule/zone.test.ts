import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { Temporal } from 'temporal-polyfill';
import { ZoneRules, zoneRules } from '../../agent/schedule/zone.js';

// Our conversion (the system's tzdata, agent/schedule/tzif.ts) must agree exactly with Temporal
// (ICU's own copy of the data, an independent implementation), including gaps and repeats.
const ZONES = [
  'Europe/Berlin',
  'America/New_York',
  'Australia/Sydney',
  'Australia/Lord_Howe', // 30-minute DST shift
  'Pacific/Apia', // skipped a whole day in Dec 2011
  'America/Santiago',
  'Asia/Kolkata',
  'Europe/Dublin', // negative DST: "daylight" time in winter
  'Europe/London',
  'America/Sao_Paulo', // DST abolished in 2019
  'Asia/Tehran', // DST abolished in 2022
  'Pacific/Chatham', // +12:45 / +13:45
  'Antarctica/Troll', // a 2-hour DST shift
  'America/Nuuk', // rule times before midnight ("/-2")
  'Africa/Casablanca', // Ramadan: explicit transitions until 2087
  'Asia/Kathmandu',
  'UTC',
];

const localMs = fc.integer({
  min: Date.UTC(1950, 0, 1) / 60_000,
  max: Date.UTC(2100, 0, 1) / 60_000,
});
/** Past every explicit transition: only the files' POSIX footers decide. */
const farFutureMs = fc.integer({
  min: Date.UTC(2090, 0, 1) / 60_000,
  max: Date.UTC(2400, 0, 1) / 60_000,
});

describe('ZoneRules', () => {
  it('rejects unknown zones and UTC offsets', () => {
    expect(zoneRules('Mars/Base')).toBeNull();
    expect(zoneRules('+01:00')).toBeNull();
    expect(zoneRules('')).toBeNull();
    expect(ZoneRules.tryCreate('Europe/Berlin')).not.toBeNull();
  });

  it('wall → instant matches Temporal "compatible" (gap flagged)', () => {
    fc.assert(
      fc.property(fc.constantFrom(...ZONES), localMs, (zone, min) => {
        const lms = min * 60_000;
        const pdt = Temporal.PlainDateTime.from(new Date(lms).toISOString().slice(0, 19));
        const zdt = pdt.toZonedDateTime(zone, { disambiguation: 'compatible' });
        const r = zoneRules(zone)!.fromLocalMs(lms);
        expect(r.epochMs).toBe(zdt.epochMilliseconds);
        expect(r.inGap).toBe(!zdt.toPlainDateTime().equals(pdt));
      }),
      { numRuns: 3000 },
    );
  });

  it('wall → instant matches Temporal right around transitions', () => {
    for (const zone of ZONES) {
      let zdt: Temporal.ZonedDateTime | null = Temporal.ZonedDateTime.from({
        year: 2009,
        month: 1,
        day: 1,
        timeZone: zone,
      });
      for (let i = 0; i < 10 && zdt; i++) {
        zdt = zdt.getTimeZoneTransition('next');
        if (!zdt) break;
        for (let dm = -90; dm <= 90; dm += 15) {
          const pdt = zdt.toPlainDateTime().add({ minutes: dm });
          const expected = pdt.toZonedDateTime(zone).epochMilliseconds;
          const lms = Date.UTC(pdt.year, pdt.month - 1, pdt.day, pdt.hour, pdt.minute);
          expect(zoneRules(zone)!.fromLocalMs(lms).epochMs, `${zone} ${pdt}`).toBe(expected);
        }
      }
    }
  });

  it('wall → instant matches Temporal centuries ahead (the footer rules)', () => {
    fc.assert(
      fc.property(fc.constantFrom(...ZONES), farFutureMs, (zone, min) => {
        const lms = min * 60_000;
        const pdt = Temporal.PlainDateTime.from(new Date(lms).toISOString().slice(0, 19));
        const zdt = pdt.toZonedDateTime(zone, { disambiguation: 'compatible' });
        expect(zoneRules(zone)!.fromLocalMs(lms).epochMs).toBe(zdt.epochMilliseconds);
      }),
      { numRuns: 2000 },
    );
  });

  it('names are matched case-insensitively, as ICU matches them', () => {
    expect(zoneRules('europe/berlin')!.offsetAt(Date.UTC(2026, 6, 1))).toBe(7_200_000);
    expect(zoneRules('right/Europe/Berlin')).toBeNull();
    expect(zoneRules('posix/Europe/Berlin')).toBeNull();
  });

  it('instant → wall matches Temporal', () => {
    fc.assert(
      fc.property(fc.constantFrom(...ZONES), localMs, (zone, min) => {
        const t = min * 60_000;
        const pdt = Temporal.Instant.fromEpochMilliseconds(t)
          .toZonedDateTimeISO(zone)
          .toPlainDateTime();
        const lms = Date.UTC(pdt.year, pdt.month - 1, pdt.day, pdt.hour, pdt.minute, pdt.second);
        expect(zoneRules(zone)!.toLocalMs(t)).toBe(lms);
      }),
      { numRuns: 2000 },
    );
  });
});
