import { describe, expect, it } from 'vitest';
import { scheduleSchema, validateSchedule, type Schedule } from '../../agent/schedule/index.js';

const bad = (s: unknown) => validateSchedule(s as Schedule);

describe('validateSchedule', () => {
  it('accepts valid schedules', () => {
    expect(bad({ kind: 'once', at: '2025-05-01T16:00:00+02:00' })).toEqual([]);
    expect(bad({ kind: 'daily', time: '00:00', zone: 'Europe/Berlin' })).toEqual([]);
    expect(
      bad({ kind: 'weekly', days: ['mon', 'sun'], time: '23:59', zone: 'Australia/Sydney' }),
    ).toEqual([]);
    expect(bad({ kind: 'cron', expr: '*/15 9-17 * * mon-fri', zone: 'America/New_York' })).toEqual(
      [],
    );
  });

  it.each([
    [
      { kind: 'daily', time: '09:00', zone: 'Europe/Berlinn' },
      /zone "Europe\/Berlinn" is not a known IANA/,
    ],
    [{ kind: 'daily', time: '09:00', zone: '+01:00' }, /not a known IANA/],
    [{ kind: 'daily', time: '24:00', zone: 'UTC' }, /not a valid HH:MM/],
    [{ kind: 'daily', time: '9:00', zone: 'UTC' }, /not a valid HH:MM/],
    [{ kind: 'daily', time: '09:60', zone: 'UTC' }, /not a valid HH:MM/],
    [{ kind: 'weekly', days: [], time: '09:00', zone: 'UTC' }, /at least one weekday/],
    [
      { kind: 'weekly', days: ['mon', 'funday'], time: '09:00', zone: 'UTC' },
      /unknown weekday "funday"/,
    ],
    [{ kind: 'cron', expr: '0 0 31 2 *', zone: 'UTC' }, /can never fire/],
    [{ kind: 'cron', expr: '0 25 * * *', zone: 'UTC' }, /hour: 25 is out of range/],
    [{ kind: 'cron', expr: '*/0 * * * *', zone: 'UTC' }, /bad step/],
    [{ kind: 'cron', expr: '0 0 * smarch *', zone: 'UTC' }, /unknown value "smarch"/],
    [{ kind: 'once', at: '2025-02-30T10:00:00Z' }, /not a valid ISO 8601 instant/],
    [{ kind: 'once', at: '2025-05-01T10:00:00' }, /with offset or Z/], // no offset: ambiguous
    [{ kind: 'hourly' }, /unknown schedule kind/],
    [null, /must be an object/],
  ])('rejects %j', (s, reason) => {
    expect(bad(s).join('\n')).toMatch(reason);
  });

  it('reports every reason at once', () => {
    expect(bad({ kind: 'weekly', days: [], time: 'noon', zone: 'Nowhere/City' })).toHaveLength(3);
  });
});

describe('scheduleSchema', () => {
  it('parses a valid schedule', () => {
    const s = { kind: 'cron', expr: '0 9 * * 1', zone: 'Europe/Berlin' };
    expect(scheduleSchema.parse(s)).toEqual(s);
  });

  it('gives shape and meaning errors from one parse', () => {
    const r = scheduleSchema.safeParse({ kind: 'daily', time: '25:00', zone: 'Mars/Base' });
    expect(r.success).toBe(false);
    expect(r.error?.issues.map((i) => i.message)).toEqual([
      'zone "Mars/Base" is not a known IANA time zone',
      'time "25:00" is not a valid HH:MM (00:00–23:59)',
    ]);
  });

  it('rejects unknown fields and kinds', () => {
    expect(
      scheduleSchema.safeParse({ kind: 'daily', time: '09:00', zone: 'UTC', extra: 1 }).success,
    ).toBe(false);
    expect(scheduleSchema.safeParse({ kind: 'yearly', time: '09:00', zone: 'UTC' }).success).toBe(
      false,
    );
    expect(
      scheduleSchema.safeParse({ kind: 'weekly', days: ['xyz'], time: '09:00', zone: 'UTC' })
        .success,
    ).toBe(false);
  });
});
