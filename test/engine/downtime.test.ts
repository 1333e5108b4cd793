import { afterEach, describe, expect, it } from 'vitest';
import { startEngine, booking, upsert, type Engine, T0 } from '../support/engine.js';

let e: Engine | undefined;
let e2: Engine | undefined;
afterEach(async () => {
  await e2?.stop(true);
  await e?.stop(true);
  e = e2 = undefined;
});

const MIN = 60_000;
const HOUR = 60 * MIN;
const at = (ms: number) => new Date(T0 + ms).toISOString();

/** Stop the unit, leave it off for `offMs`, and boot it again on the same data dir. */
async function downtime(first: Engine, offMs: number): Promise<Engine> {
  await first.stop();
  return startEngine({ dir: first.dir, start: first.clock.now() + offMs });
}

describe('after downtime: catch-up window and misfire policy', () => {
  it('a slot missed by less than the catch-up window fires once at start', async () => {
    e = await startEngine();
    e.apply([
      upsert(booking({ id: 'x', catchUpWindowSec: 900, schedule: { kind: 'once', at: at(MIN) } })),
    ]);
    e2 = await downtime(e, 10 * MIN);
    await e2.advance(1000);
    expect(e2.modem.dials).toHaveLength(1);
    const [run] = e2.agent.store.runs.recent(5).concat(e2.agent.store.runs.upcoming(5));
    expect(run).toMatchObject({ slotAt: T0 + MIN });
  });

  it('misfire skip: a slot older than the window is skipped and reported, not dialled', async () => {
    e = await startEngine();
    e.apply([
      upsert(
        booking({
          id: 'x',
          misfire: 'skip',
          catchUpWindowSec: 900,
          schedule: { kind: 'once', at: at(MIN) },
        }),
      ),
    ]);
    e2 = await downtime(e, 3 * HOUR);
    await e2.advance(1000);
    expect(e2.modem.dials).toHaveLength(0);
    const [run] = e2.agent.store.runs.recent();
    expect(run).toMatchObject({ status: 'skipped', reason: 'misfire_skipped' });
    const ev = e2.agent.store.outbox
      .pending(500)
      .find((x) => x.type === 'run.state' && x.payload.status === 'skipped');
    expect(ev?.payload.reason).toBe('misfire_skipped');
  });

  it('misfire fire_once: a slot older than the window fires once now, marked late', async () => {
    e = await startEngine();
    e.apply([
      upsert(
        booking({
          id: 'x',
          misfire: 'fire_once',
          catchUpWindowSec: 60,
          schedule: { kind: 'once', at: at(MIN) },
        }),
      ),
    ]);
    e2 = await downtime(e, 3 * HOUR);
    await e2.advance(1000);
    expect(e2.modem.dials).toHaveLength(1);
    expect(e2.modem.dials[0]!.at).toBe(T0 + 3 * HOUR);
    const planned = e2.agent.store.outbox
      .pending(500)
      .find((x) => x.type === 'run.state' && x.payload.status === 'pending');
    expect(planned?.payload).toMatchObject({
      reason: 'misfire_fire_once',
      latenessMs: 3 * HOUR - MIN,
    });
  });

  it('a recurring booking down for days fires at most once, and reports the coalesced slots', async () => {
    e = await startEngine();
    e.apply([
      upsert(
        booking({
          id: 'every15',
          misfire: 'fire_once',
          catchUpWindowSec: 300,
          schedule: { kind: 'cron', expr: '*/15 * * * *', zone: 'Europe/Berlin' },
        }),
      ),
    ]);
    await e.advance(16 * MIN); // fires 08:15Z
    const before = e.modem.dials.length;
    expect(before).toBe(1);
    e2 = await downtime(e, 3 * 24 * HOUR);
    await e2.advance(2 * MIN);
    expect(e2.modem.dials).toHaveLength(1); // one call, not 288
    const coalesced = e2.agent.store.outbox.pending(1000).find((x) => x.type === 'run.coalesced');
    expect(Number(coalesced?.payload.count)).toBeGreaterThan(250);
    // And the schedule carries on normally afterwards.
    await e2.advance(15 * MIN);
    expect(e2.modem.dials).toHaveLength(2);
  });
});

describe('clock trust', () => {
  it('holds firing while the clock reads before the build floor, then resumes when it is set', async () => {
    const floor = Date.UTC(2026, 10, 1);
    e = await startEngine({ start: Date.UTC(1970, 0, 1, 0, 0, 10) });
    e.apply([upsert(booking({ id: 'x', schedule: { kind: 'once', at: at(MIN) } }))]);
    await e.advance(MIN);
    expect(e.agent.clockState()).toMatchObject({ trusted: false, reason: 'before_build_floor' });
    expect(e.agent.store.outbox.pending(100).some((x) => x.type === 'clock.untrusted')).toBe(true);
    expect(e.modem.dials).toHaveLength(0);
    expect(T0).toBeGreaterThan(floor);
    e.clock.setWallTime(T0 + MIN - 5_000); // NTP steps the clock
    await e.advance(60_000);
    expect(e.agent.clockState()?.trusted).toBe(true);
    expect(e.modem.dials).toHaveLength(1);
  });

  it('a step back within the tolerance is said once, and the slot fires by the wall clock', async () => {
    const eng = (e = await startEngine());
    e.apply([upsert(booking({ id: 'late', schedule: { kind: 'once', at: at(10 * MIN) } }))]);
    await e.advance(2 * MIN);
    const stepped = () =>
      eng.sink.lines.filter((l) => String(l['msg']).startsWith('wall clock stepped back'));
    expect(stepped()).toHaveLength(0);
    e.clock.setWallTime(e.clock.now() - 2 * MIN); // NTP steps the clock back two minutes
    await e.advance(3 * MIN);
    expect(e.agent.clockState()?.trusted).toBe(true); // within the 5-minute tolerance
    expect(stepped()).toHaveLength(1); // said once, not on every pass
    // Seen at the next pass (up to a minute later): how far behind the clock still is then.
    expect(Number(stepped()[0]!['behindMs'])).toBeGreaterThanOrEqual(MIN);
    // 10 minutes by the monotonic clock have passed, 8 by the wall clock: not due yet.
    await e.advance(5 * MIN);
    expect(e.modem.dials).toHaveLength(0);
    await e.advance(3 * MIN);
    expect(e.modem.dials).toHaveLength(1);
    expect(
      e.sink.lines.some((l) => l['msg'] === 'wall clock caught up with the highest time seen'),
    ).toBe(true);
  });

  it('a jump backwards past the highest time seen holds firing instead of replaying past slots', async () => {
    e = await startEngine();
    e.modem.setRule('*', { outcome: 'answer', answerAfterMs: 100, hangupAfterMs: 100 });
    e.apply([
      upsert(booking({ id: 'd', schedule: { kind: 'cron', expr: '*/10 * * * *', zone: 'UTC' } })),
    ]);
    await e.advance(HOUR);
    const fired = e.modem.dials.length;
    expect(fired).toBe(6);
    e.clock.setWallTime(T0 + 5 * MIN); // the clock jumps back 55 minutes
    await e.advance(60_000);
    expect(e.agent.clockState()).toMatchObject({ trusted: false, reason: 'jumped_backwards' });
    await e.advance(30 * MIN);
    expect(e.modem.dials).toHaveLength(fired); // no replay of 08:10 ... 08:50
    // An operator (or the network time) vouches for the clock: firing resumes with future slots only.
    e.agent.trust.acceptCurrentTime('operator');
    e.agent.poke();
    await e.advance(40 * MIN);
    expect(e.modem.dials.length).toBeGreaterThan(fired);
    const slots = e.agent.store.runs.recent(50).map((r) => r.slotAt);
    expect(new Set(slots).size).toBe(slots.length);
  });
});
