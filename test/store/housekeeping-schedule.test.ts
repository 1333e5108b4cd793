/**
 * Housekeeping's schedule (agent/housekeeping.ts): a cron expression in the unit's local time, one
 * timer toward the next match (never more than an hour asleep, so a wall-clock step is noticed),
 * DST days handled as bookings handle them. Real SQLite file, a fake clock.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { FakeClock } from '../../agent/clock.js';
import { ConfigError, parseConfig } from '../../agent/config/config.js';
import {
  Housekeeping,
  HousekeepingSchedule,
  nextHousekeepingAt,
} from '../../agent/housekeeping.js';
import { silentLogger } from '../../agent/log.js';
import { parseHousekeepingCron, type CronSpec } from '../../agent/schedule/cron.js';
import { ZoneRules, zoneRules } from '../../agent/schedule/zone.js';
import { Store } from '../../agent/store/store.js';

const berlin = zoneRules('Europe/Berlin')!;
const spec = (expr: string): CronSpec => {
  const r = parseHousekeepingCron(expr);
  if (!r.ok) throw new Error(r.error);
  return r.spec;
};

describe('the housekeeping cron expression', () => {
  it('is the booking cron, or node-cron’s 6 fields with one number for the seconds', () => {
    expect(parseHousekeepingCron('30 3 * * *').ok).toBe(true);
    expect(parseHousekeepingCron('0 30 3 * * *').ok).toBe(true);
    expect(parseHousekeepingCron('*/10 30 3 * * *')).toMatchObject({ ok: false, error: /seconds/ });
    expect(parseHousekeepingCron('61 3 * * *').ok).toBe(false);
    expect(parseHousekeepingCron('every night').ok).toBe(false);
  });

  it('a bad one is refused by the config with the reason', () => {
    expect(() => parseConfig({ retention: { schedule: '30 25 * * *' } })).toThrow(ConfigError);
    expect(() => parseConfig({ retention: { schedule: '30 25 * * *' } })).toThrow(/hour/);
    expect(parseConfig({ retention: { schedule: '0 15 4 * * *' } }).retention.schedule).toBe(
      '0 15 4 * * *',
    );
  });
});

describe('nextHousekeepingAt', () => {
  it('is the next matching wall-clock minute after now, in the unit’s zone', () => {
    const now = Date.UTC(2026, 6, 1, 12, 0); // 14:00 CEST
    expect(nextHousekeepingAt(spec('30 3 * * *'), berlin, now)).toBe(Date.UTC(2026, 6, 2, 1, 30));
    expect(nextHousekeepingAt(spec('0 14 * * *'), berlin, now)).toBe(Date.UTC(2026, 6, 2, 12, 0));
  });

  it('a minute skipped by spring-forward runs after the change, a repeated one once', () => {
    // 2026-03-29: Berlin skips 02:00–03:00; 02:30 runs at 03:30 CEST (01:30 UTC).
    const s = spec('30 2 * * *');
    expect(nextHousekeepingAt(s, berlin, Date.UTC(2026, 2, 28, 12))).toBe(
      Date.UTC(2026, 2, 29, 1, 30),
    );
    // 2026-10-25: 02:30 happens twice; the first (CEST, 00:30 UTC), and not again at 01:30 UTC.
    const first = nextHousekeepingAt(s, berlin, Date.UTC(2026, 9, 24, 12))!;
    expect(first).toBe(Date.UTC(2026, 9, 25, 0, 30));
    expect(nextHousekeepingAt(s, berlin, first)).toBe(Date.UTC(2026, 9, 26, 1, 30));
  });

  it('finds a 29 February years away, and refuses a date that never comes', () => {
    expect(nextHousekeepingAt(spec('0 4 29 2 *'), berlin, Date.UTC(2097, 0, 1))).toBe(
      Date.UTC(2104, 1, 29, 3, 0),
    );
    expect(parseHousekeepingCron('0 4 31 2 *')).toMatchObject({ ok: false, error: /never fire/ });
  });
});

describe('the unit’s local zone', () => {
  it('is $TZ when it names a zone, else /etc/localtime, else UTC', () => {
    expect(ZoneRules.local({ TZ: 'Europe/Berlin' }).offsetAt(Date.UTC(2026, 0, 1))).toBe(3_600_000);
    expect(ZoneRules.local({ TZ: ':America/New_York' }).offsetAt(Date.UTC(2026, 0, 1))).toBe(
      -5 * 3_600_000,
    );
    const berlinFile = '/usr/share/zoneinfo/Europe/Berlin';
    expect(ZoneRules.local({}, berlinFile).offsetAt(Date.UTC(2026, 6, 1))).toBe(7_200_000);
    expect(
      ZoneRules.local({ TZ: 'Nowhere/Atall' }, '/nonexistent').offsetAt(Date.UTC(2026, 6, 1)),
    ).toBe(0);
  });
});

describe('HousekeepingSchedule', () => {
  const dirs: string[] = [];
  afterEach(() => {
    for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
  });

  function setup(start: number, expr = '30 3 * * *') {
    const dir = mkdtempSync(join(tmpdir(), 'companion-hk-schedule-'));
    dirs.push(dir);
    const store = Store.open(join(dir, 'companion.db'));
    const clock = new FakeClock(start);
    const housekeeping = new Housekeeping({
      store,
      clock,
      logger: silentLogger(),
      policy: parseConfig({}).retention,
    });
    const runs: number[] = [];
    const runOnce = housekeeping.runOnce.bind(housekeeping);
    housekeeping.runOnce = () => {
      runs.push(clock.now());
      return runOnce();
    };
    const schedule = new HousekeepingSchedule({
      housekeeping,
      clock,
      logger: silentLogger(),
      cron: expr,
      zone: berlin,
      firstRunAfterMs: 600_000,
    });
    return { store, clock, schedule, runs };
  }

  it('runs after start, then at each match, sleeping at most an hour at a time', async () => {
    const t0 = Date.UTC(2026, 6, 1, 12, 0);
    const { store, clock, schedule, runs } = setup(t0);
    schedule.start();
    expect(schedule.nextRunAt()).toBe(Date.UTC(2026, 6, 2, 1, 30));
    await clock.advance(48 * 3_600_000);
    expect(runs).toEqual([t0 + 600_000, Date.UTC(2026, 6, 2, 1, 30), Date.UTC(2026, 6, 3, 1, 30)]);
    // Between runs only the schedule's own timers are armed (one toward the match).
    expect(clock.pendingTimers()).toBe(1);
    schedule.stop();
    expect(clock.pendingTimers()).toBe(0);
    store.close();
  });

  it('a wall clock stepped past the match (NTP after boot) runs within the hour', async () => {
    const t0 = Date.UTC(2026, 6, 1, 12, 0);
    const { store, clock, schedule, runs } = setup(t0, '0 15 * * *'); // 15:00 CEST = 13:00 UTC
    schedule.start();
    await clock.advance(700_000); // the run after start
    expect(runs).toHaveLength(1);
    // The wall clock steps from 12:11 to 13:20: past the match, with the timer still asleep.
    clock.setWallTime(Date.UTC(2026, 6, 1, 13, 20));
    await clock.advance(3_600_000);
    expect(runs).toHaveLength(2);
    expect(runs[1]).toBeGreaterThan(Date.UTC(2026, 6, 1, 13, 20));
    expect(runs[1]).toBeLessThanOrEqual(Date.UTC(2026, 6, 1, 14, 20));
    expect(schedule.nextRunAt()).toBe(Date.UTC(2026, 6, 2, 13, 0));
    schedule.stop();
    store.close();
  });
});
