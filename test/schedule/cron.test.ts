import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { nextCronMinute, parseCron, type CronSpec } from '../../agent/schedule/cron.js';
import { civilFromDays, daysInMonth, weekdayFromDays } from '../../agent/schedule/civil.js';

function spec(expr: string): CronSpec {
  const r = parseCron(expr);
  if (!r.ok) throw new Error(r.errors.join('; '));
  return r.spec;
}

/** Minute-by-minute reference: the obviously-correct (slow) matcher. */
function matchesSlow(s: CronSpec, min: number): boolean {
  const days = Math.floor(min / 1440);
  const h = Math.floor((min % 1440) / 60);
  const mi = min % 60;
  const { m, d } = civilFromDays(days);
  const domOk = s.dom[d] === 1;
  const dowOk = s.dow[weekdayFromDays(days)] === 1;
  const dayOk = s.dayOr ? domOk || dowOk : domOk && dowOk;
  return dayOk && s.month[m] === 1 && s.nextHour[h] === h && s.nextMinute[mi] === mi;
}

const at = (iso: string) => Date.parse(iso + 'Z') / 60_000;
const show = (min: number | null) =>
  min === null ? null : new Date(min * 60_000).toISOString().slice(0, 16);

describe('parseCron', () => {
  it('accepts lists, ranges, steps, names, Sunday as 0 or 7', () => {
    const s = spec('0,30 9-17/2 * jan-mar,DEC mon-fri');
    expect([...s.month.keys()].filter((m) => s.month[m])).toEqual([1, 2, 3, 12]);
    expect([...s.dow.keys()].filter((d) => s.dow[d])).toEqual([1, 2, 3, 4, 5]);
    expect(s.nextHour[10]).toBe(11);
    expect(s.nextMinute[31]).toBe(-1);
    expect(spec('0 0 * * 7').dow[0]).toBe(1);
    expect(spec('0 0 * * sun').dow[0]).toBe(1);
    expect([...spec('0 0 * * 5-7').dow]).toEqual([1, 0, 0, 0, 0, 1, 1]);
    expect([...spec('0 0 * * mon-sun').dow]).toEqual([1, 1, 1, 1, 1, 1, 1]);
    expect(spec('10/20 * * * *').nextMinute[0]).toBe(10);
    expect(spec('10/20 * * * *').nextMinute[31]).toBe(50);
  });

  it('uses OR only when both day fields are restricted (Vixie rule)', () => {
    expect(spec('0 0 1 * mon').dayOr).toBe(true);
    expect(spec('0 0 * * mon').dayOr).toBe(false);
    expect(spec('0 0 */2 * mon').dayOr).toBe(false);
  });

  it.each([
    ['* * * *', /5 fields/],
    ['* * * * * *', /5 fields/],
    ['', /5 fields/],
    ['60 * * * *', /minute: 60 is out of range 0–59/],
    ['* 24 * * *', /hour: 24 is out of range/],
    ['* * 0 * *', /day-of-month: 0 is out of range 1–31/],
    ['* * * 13 *', /month: 13 is out of range/],
    ['* * * * 8', /day-of-week: 8 is out of range 0–7/],
    ['*/0 * * * *', /minute: bad step/],
    ['*/x * * * *', /minute: bad step/],
    ['* * * foo *', /month: unknown value "foo"/],
    ['* * * * funday', /day-of-week: unknown value "funday"/],
    ['* * * mon *', /month: unknown value "mon"/],
    ['5-1 * * * *', /runs backwards/],
    ['1,,2 * * * *', /empty item/],
    ['-1 * * * *', /minute/],
    ['0 0 31 2 *', /can never fire/],
    ['0 0 30,31 feb *', /can never fire/],
  ])('rejects %j', (expr, reason) => {
    const r = parseCron(expr);
    expect(r.ok).toBe(false);
    if (!r.ok) expect(r.errors.join('\n')).toMatch(reason);
  });

  it('reports every bad field at once', () => {
    const r = parseCron('99 99 99 99 99');
    expect(r.ok ? [] : r.errors).toHaveLength(5);
  });

  it('31 February with a weekday is fine (OR rule: fires on that weekday)', () => {
    expect(parseCron('0 0 31 2 mon').ok).toBe(true);
  });
});

describe('nextCronMinute', () => {
  it('finds the obvious next times', () => {
    const far = at('2100-01-01T00:00');
    expect(show(nextCronMinute(spec('*/15 * * * *'), at('2025-01-01T10:01'), far))).toBe(
      '2025-01-01T10:15',
    );
    expect(show(nextCronMinute(spec('0 9 * * mon'), at('2025-01-01T10:00'), far))).toBe(
      '2025-01-06T09:00',
    );
    expect(show(nextCronMinute(spec('0 0 29 2 *'), at('2025-01-01T00:00'), far))).toBe(
      '2028-02-29T00:00',
    );
    expect(show(nextCronMinute(spec('0 0 31 * *'), at('2025-04-01T00:00'), far))).toBe(
      '2025-05-31T00:00',
    );
    expect(show(nextCronMinute(spec('30 23 31 dec *'), at('2025-12-31T23:30'), far))).toBe(
      '2025-12-31T23:30',
    );
    expect(show(nextCronMinute(spec('0 12 13 * fri'), at('2025-06-01T00:00'), far))).toBe(
      '2025-06-06T12:00',
    );
    expect(nextCronMinute(spec('0 0 29 2 *'), at('2097-03-01T00:00'), far)).toBeNull();
  });

  it('agrees with a minute-by-minute scan', () => {
    const field = (max: number, min = 0) =>
      fc.oneof(
        fc.constant('*'),
        fc.integer({ min, max }).map(String),
        fc
          .tuple(fc.integer({ min, max }), fc.integer({ min: 1, max: 7 }))
          .map(([a, s]) => `${a}/${s}`),
        fc
          .tuple(fc.integer({ min, max }), fc.integer({ min, max }))
          .map(([a, b]) => `${Math.min(a, b)}-${Math.max(a, b)}`),
        fc.integer({ min: 2, max: 9 }).map((s) => `*/${s}`),
      );
    const exprArb = fc
      .tuple(field(59), field(23), field(31, 1), field(12, 1), field(7))
      .map((f) => f.join(' '))
      .filter((e) => parseCron(e).ok);
    fc.assert(
      fc.property(
        exprArb,
        fc.integer({ min: at('2020-01-01T00:00'), max: at('2030-01-01T00:00') }),
        (expr, from) => {
          const s = spec(expr);
          const window = 3 * 1440;
          const got = nextCronMinute(s, from, from + window);
          let want: number | null = null;
          for (let m = from; m <= from + window; m++) {
            if (matchesSlow(s, m)) {
              want = m;
              break;
            }
          }
          expect(show(got)).toBe(show(want));
        },
      ),
      { numRuns: 300 },
    );
  });

  it('never returns a day that does not exist', () => {
    const s = spec('0 0 31 * *');
    let m = at('2025-01-01T00:00');
    for (let i = 0; i < 20; i++) {
      const n = nextCronMinute(s, m + 1, m + 400 * 1440)!;
      const { y, m: mo, d } = civilFromDays(Math.floor(n / 1440));
      expect(d).toBeLessThanOrEqual(daysInMonth(y, mo));
      m = n;
    }
  });
});
