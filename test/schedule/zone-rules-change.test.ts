/**
 * New zone rules (a tzdata upgrade; the package's trigger restarts the agent onto them): the next
 * slot each booking already stored under the old rules is computed again at start
 * (agent/bookings/zone-rules-change.ts). The real engine on a real SQLite file, restarted on the
 * same data dir, with its own time zone database ($TZDIR, as glibc and the agent read it): a zone
 * whose rules are swapped between two starts, as a government's DST change ships in tzdata.
 */
import fc from 'fast-check';
import { copyFileSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import {
  recomputedNextSlot,
  TZDATA_VERSION_KEY,
  tzdataVersion,
} from '../../agent/bookings/zone-rules-change.js';
import { booking, startEngine, upsert, T0, type Engine } from '../support/engine.js';

const HOUR = 3_600_000;
const ZONE = 'Test/Unit_Zone';
let tzdir: string;
let savedTzdir: string | undefined;
const engines: Engine[] = [];

/** The unit's zoneinfo: ZONE has `rules` (a real zone's file), and tzdata.zi names `version`. */
function installRules(rules: string, version: string): void {
  mkdirSync(join(tzdir, 'Test'), { recursive: true });
  copyFileSync(join('/usr/share/zoneinfo', rules), join(tzdir, ZONE));
  writeFileSync(join(tzdir, 'tzdata.zi'), `# version ${version}\n# ddeps\n`);
}

async function start(opts: Parameters<typeof startEngine>[0] = {}): Promise<Engine> {
  const e = await startEngine(opts);
  engines.push(e);
  return e;
}

/** Stop the unit and start it again on the same data dir, as systemd would. */
async function restart(e: Engine, at = e.clock.now()): Promise<Engine> {
  await e.stop();
  return start({ dir: e.dir, start: at });
}

/** A unit on Berlin's rules with one daily call at 10:00 in ZONE (09:00Z in December). */
async function dailyAtTenUnderBerlinRules(): Promise<Engine> {
  installRules('Europe/Berlin', '2099a');
  const e = await start();
  e.modem.setRule('*', { outcome: 'answer', answerAfterMs: 500, hangupAfterMs: 1000 });
  e.apply([
    upsert(booking({ id: 'daily', schedule: { kind: 'daily', time: '10:00', zone: ZONE } })),
  ]);
  return e;
}

const reasons = (e: Engine) =>
  e.agent.store.outbox
    .pending(10_000)
    .filter((x) => x.type === 'booking.state' && x.payload.reason === 'zone_rules_changed')
    .map((x) => x.payload);

beforeEach(() => {
  savedTzdir = process.env.TZDIR;
  tzdir = mkdtempSync(join(tmpdir(), 'companion-tzdir-'));
  process.env.TZDIR = tzdir;
});
afterEach(async () => {
  for (const e of engines.splice(0).reverse()) await e.stop(true);
  if (savedTzdir === undefined) delete process.env.TZDIR;
  else process.env.TZDIR = savedTzdir;
  rmSync(tzdir, { recursive: true, force: true });
});

describe('new zone rules at start (a tzdata upgrade)', () => {
  it('reads the version tzdata.zi names, and nothing without it', () => {
    installRules('Europe/Berlin', '2099a');
    expect(tzdataVersion()).toBe('2099a');
    rmSync(join(tzdir, 'tzdata.zi'));
    expect(tzdataVersion()).toBeNull();
  });

  it('moves the next slot stored under the old rules: the call goes out at the new 10:00', async () => {
    // 10:00 in the zone: under Berlin's rules 09:00Z in December, under London's 10:00Z.
    let e = await dailyAtTenUnderBerlinRules();
    await e.advance(2 * HOUR); // today's call at 09:00Z; tomorrow's slot stored: 09:00Z
    expect(e.modem.dials.map((d) => d.at)).toEqual([T0 + HOUR]);
    expect(e.agent.store.bookings.get('daily')!.nextSlotAt).toBe(T0 + 25 * HOUR);

    // The law changed; tzdata ships it the evening before; the trigger restarts the agent.
    installRules('Europe/London', '2099b');
    e = await restart(e);
    expect(e.agent.store.bookings.get('daily')!.nextSlotAt).toBe(T0 + 26 * HOUR);
    expect(reasons(e)).toEqual([
      {
        bookingId: 'daily',
        version: 1,
        status: 'active',
        nextSlotAt: new Date(T0 + 26 * HOUR).toISOString(),
        reason: 'zone_rules_changed',
      },
    ]);
    expect(e.agent.store.meta.get(TZDATA_VERSION_KEY)).toBe('2099b');
    await e.advance(T0 + 27 * HOUR - e.clock.now());
    expect(e.modem.dials.map((d) => d.at)).toEqual([T0 + 26 * HOUR]);
  });

  it('moves nothing when the rules did not change: a first start, a new version with the same rules, a plain restart', async () => {
    installRules('Europe/Berlin', '2099a');
    let e = await start();
    e.apply([
      upsert(booking({ id: 'd', schedule: { kind: 'daily', time: '10:00', zone: ZONE } })),
      upsert(
        booking({
          id: 'w',
          schedule: { kind: 'weekly', days: ['mon', 'thu'], time: '18:30', zone: ZONE },
        }),
      ),
      upsert(booking({ id: 'c', schedule: { kind: 'cron', expr: '15 */3 * * *', zone: ZONE } })),
    ]);
    e.modem.setRule('*', { outcome: 'answer', answerAfterMs: 500, hangupAfterMs: 1000 });
    await e.advance(30 * HOUR); // some planned (a cursor), some not
    const before = e.agent.store.bookings.scheduled().map((b) => [b.id, b.nextSlotAt]);
    e.agent.store.meta.delete(TZDATA_VERSION_KEY); // as a store from before this code
    e = await restart(e);
    installRules('Europe/Berlin', '2099c');
    e = await restart(e);
    e = await restart(e);
    expect(e.agent.store.bookings.scheduled().map((b) => [b.id, b.nextSlotAt])).toEqual(before);
    expect(reasons(e)).toEqual([]);
    expect(e.sink.text()).not.toMatch(/next slots computed again.*"moved":[1-9]/);
  });

  it('a slot the new rules put in the past fires at once, within its catch-up window', async () => {
    let e = await dailyAtTenUnderBerlinRules();
    await e.advance(2 * HOUR);
    expect(e.agent.store.bookings.get('daily')!.nextSlotAt).toBe(T0 + 25 * HOUR); // 09:00Z
    // Restarted at 08:05Z onto Helsinki's rules: 10:00 there was 08:00Z, five minutes ago.
    installRules('Europe/Helsinki', '2099b');
    e = await restart(e, T0 + 24 * HOUR + 5 * 60_000);
    await e.advance(0);
    expect(e.modem.dials.map((d) => d.at)).toEqual([T0 + 24 * HOUR + 5 * 60_000]);
    const slots = e.agent.store.db
      .prepare(`SELECT slot_at AS s FROM runs WHERE booking_id = 'daily' ORDER BY slot_at`)
      .all() as { s: number }[];
    // Yesterday's (09:00Z under the old rules) and today's, owed since 08:00Z under the new ones.
    expect(slots.map((x) => x.s)).toEqual([T0 + HOUR, T0 + 24 * HOUR]);
  });
});

describe('the recomputed slot under unchanged rules', () => {
  it('is the stored one, for any schedule, zone and history (property)', async () => {
    const zones = ['Europe/Berlin', 'America/New_York', 'Australia/Sydney', 'Asia/Kolkata'];
    const schedule = fc.oneof(
      fc.record({
        kind: fc.constant('daily' as const),
        time: fc.tuple(fc.nat(23), fc.nat(59)).map(([h, m]) => `${pad(h)}:${pad(m)}`),
        zone: fc.constantFrom(...zones),
      }),
      fc.record({
        kind: fc.constant('weekly' as const),
        days: fc.uniqueArray(fc.constantFrom('mon', 'tue', 'wed', 'thu', 'fri', 'sat', 'sun'), {
          minLength: 1,
        }),
        time: fc.tuple(fc.nat(23), fc.nat(59)).map(([h, m]) => `${pad(h)}:${pad(m)}`),
        zone: fc.constantFrom(...zones),
      }),
      fc.record({
        kind: fc.constant('cron' as const),
        expr: fc.constantFrom('15 */3 * * *', '0 9,21 * * *', '30 2 * * 0', '10 */2 * * *'),
        zone: fc.constantFrom(...zones),
      }),
    );
    // The real zones here: the rules never change, so nothing may move.
    process.env.TZDIR = '/usr/share/zoneinfo';
    await fc.assert(
      fc.asyncProperty(
        fc.array(schedule, { minLength: 1, maxLength: 4 }),
        // Months around DST changes in both hemispheres.
        fc.integer({ min: 0, max: 300 }).map((d) => T0 + d * 86_400_000),
        fc.array(fc.integer({ min: 1, max: 30 * HOUR }), { minLength: 1, maxLength: 2 }),
        async (schedules, startAt, steps) => {
          const e = await start({ start: startAt });
          e.modem.setRule('*', { outcome: 'answer', answerAfterMs: 100, hangupAfterMs: 200 });
          e.apply(schedules.map((s, i) => upsert(booking({ id: `p${i}`, schedule: s }))));
          for (const ms of steps) await e.advance(ms);
          for (const b of e.agent.store.bookings.scheduled())
            expect([b.id, recomputedNextSlot(b)]).toEqual([b.id, b.nextSlotAt]);
          await e.stop(true);
          engines.splice(engines.indexOf(e), 1);
        },
      ),
      { numRuns: 25, seed: 20261207 },
    );
  }, 120_000);
});

const pad = (n: number) => String(n).padStart(2, '0');
