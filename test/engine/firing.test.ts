import { afterEach, describe, expect, it } from 'vitest';
import { startEngine, booking, upsert, type Engine, T0 } from '../support/engine.js';
import { DialPolicy } from '../../agent/policy/dial-policy.js';

let e: Engine;
afterEach(async () => {
  await e?.stop(true);
});

const at = (ms: number) => new Date(T0 + ms).toISOString();
const MIN = 60_000;
const HOUR = 60 * MIN;

describe('firing calls on time', () => {
  it('dials a one-off booking at its slot, records the outcome and completes the booking', async () => {
    e = await startEngine();
    e.modem.setRule('*', { outcome: 'answer', answerAfterMs: 1000, hangupAfterMs: 5000 });
    e.apply([upsert(booking({ id: 'one', schedule: { kind: 'once', at: at(2 * MIN) } }))]);
    await e.advance(2 * MIN - 1);
    expect(e.modem.dials).toHaveLength(0);
    await e.advance(1);
    expect(e.modem.dials).toHaveLength(1);
    expect(e.modem.dials[0]!.at).toBe(T0 + 2 * MIN);
    await e.advance(10_000);
    const [run] = e.agent.store.runs.recent();
    expect(run).toMatchObject({ status: 'completed', dials: 1, slotAt: T0 + 2 * MIN });
    const [attempt] = e.agent.store.runs.attemptsOf(run!.id);
    expect(attempt).toMatchObject({ outcome: 'completed', latenessMs: 0, status: 'ended' });
    expect(e.agent.store.bookings.get('one')?.status).toBe('completed');
    const types = e.agent.store.outbox.pending(100).map((x) => x.type);
    expect(types).toEqual(
      expect.arrayContaining(['run.state', 'attempt.dialing', 'attempt.ended']),
    );
  });

  it('fires a daily booking every day and stops after the remaining count', async () => {
    e = await startEngine();
    e.modem.setRule('*', { outcome: 'answer', answerAfterMs: 500, hangupAfterMs: 1000 });
    e.apply([
      upsert(
        booking({
          id: 'daily',
          remaining: 3,
          schedule: { kind: 'daily', time: '10:00', zone: 'Europe/Berlin' }, // 09:00Z in December
        }),
      ),
    ]);
    await e.advance(2 * 24 * HOUR + 2 * HOUR);
    const slots = e.modem.dials.map((d) => new Date(d.at).toISOString());
    expect(slots).toEqual([
      '2026-12-01T09:00:00.000Z',
      '2026-12-02T09:00:00.000Z',
      '2026-12-03T09:00:00.000Z',
    ]);
    expect(e.agent.store.bookings.get('daily')).toMatchObject({
      status: 'completed',
      remaining: 0,
    });
  });

  it('an answered call that lasts longer than the ring timeout still completes', async () => {
    e = await startEngine();
    e.modem.setRule('*', { outcome: 'answer', answerAfterMs: 3000, hangupAfterMs: 120_000 });
    e.apply([
      upsert(booking({ id: 'long', ringTimeoutSec: 45, schedule: { kind: 'once', at: at(MIN) } })),
    ]);
    await e.advance(MIN + 200_000);
    const [run] = e.agent.store.runs.recent();
    expect(run).toMatchObject({ status: 'completed', dials: 1 });
    const [attempt] = e.agent.store.runs.attemptsOf(run!.id);
    expect(attempt!.outcome).toBe('completed');
    expect(attempt!.endedAt! - attempt!.answeredAt!).toBe(120_000);
  });

  it('never sleeps longer than the 60 s cap, and wakes to plan the next slot, then exactly at it', async () => {
    e = await startEngine();
    const ahead = e.agent.config.scheduler.planAheadMs;
    expect(ahead).toBe(1_000); // the documented default
    e.apply([upsert(booking({ id: 'later', schedule: { kind: 'once', at: at(10 * HOUR) } }))]);
    await e.advance(0);
    expect(e.agent.scheduler.wakeAt()! - e.clock.now()).toBeLessThanOrEqual(60_000);
    e.apply([upsert(booking({ id: 'soon', schedule: { kind: 'once', at: at(12_345) } }))]);
    await e.advance(0);
    expect(e.agent.scheduler.wakeAt()).toBe(T0 + 12_345 - ahead);
    await e.advance(12_345 - ahead);
    // The run is written, waiting for its slot; the scheduler wakes at the slot itself.
    expect(e.agent.store.runs.upcoming(10)).toMatchObject([
      { bookingId: 'soon', status: 'pending', slotAt: T0 + 12_345, dueAt: T0 + 12_345 },
    ]);
    expect(e.agent.scheduler.wakeAt()).toBe(T0 + 12_345);
    expect(e.modem.dials).toHaveLength(0);
  });

  it('runs two calls due at the same slot one after the other (one voice line)', async () => {
    e = await startEngine();
    e.modem.setRule('*', { outcome: 'answer', answerAfterMs: 1000, hangupAfterMs: 20_000 });
    e.apply([
      upsert(
        booking({ id: 'a', callee: '+4915111111111', schedule: { kind: 'once', at: at(MIN) } }),
      ),
      upsert(
        booking({ id: 'b', callee: '+4915122222222', schedule: { kind: 'once', at: at(MIN) } }),
      ),
    ]);
    await e.advance(MIN + 5_000);
    expect(e.modem.dials).toHaveLength(1); // the second waits for the line
    await e.advance(60_000);
    expect(e.modem.dials).toHaveLength(2);
    const runs = e.agent.store.runs.recent();
    const attempts = runs.flatMap((r) => e.agent.store.runs.attemptsOf(r.id));
    const [first, second] = attempts.sort((x, y) => x.dialAt! - y.dialAt!);
    expect(second!.dialAt!).toBeGreaterThanOrEqual(first!.endedAt!);
    expect(runs.every((r) => r.status === 'completed')).toBe(true);
  });

  it('retries a busy callee with backoff, then dead-letters; a replay dials again', async () => {
    e = await startEngine();
    e.modem.setRule('*', { outcome: 'busy', afterMs: 1000 });
    e.apply([
      upsert(
        booking({
          id: 'r',
          schedule: { kind: 'once', at: at(MIN) },
          retry: { maxAttempts: 3, initialBackoffSec: 60, maxBackoffSec: 600, jitter: 0 },
        }),
      ),
    ]);
    await e.advance(MIN + 2_000);
    expect(e.modem.dials).toHaveLength(1);
    await e.advance(60_000);
    expect(e.modem.dials).toHaveLength(2);
    await e.advance(120_000);
    expect(e.modem.dials).toHaveLength(3);
    await e.advance(HOUR);
    expect(e.modem.dials).toHaveLength(3);
    const gaps = e.modem.dials.slice(1).map((d, i) => d.at - e.modem.dials[i]!.at);
    expect(gaps).toEqual([61_000, 121_000]); // busy after 1 s, then 60 s and 120 s backoff
    const [dead] = e.agent.store.runs.withStatus('dead');
    expect(dead).toMatchObject({ dials: 3, reason: 'busy_after_3_attempts' });

    e.modem.setRule('*', { outcome: 'answer', answerAfterMs: 500, hangupAfterMs: 500 });
    e.agent.lifecycle.replay(dead!.id, 'test', e.clock.now());
    e.agent.poke();
    await e.advance(5_000);
    expect(e.modem.dials).toHaveLength(4);
    expect(e.agent.store.runs.get(dead!.id)).toMatchObject({ status: 'completed', replays: 1 });
  });

  it('a modem that never ends a call is abandoned at the deadline and the next call still goes out', async () => {
    e = await startEngine({ config: { runner: { hangGraceSec: 5 } } });
    e.modem.setRule('+4915111111111', { outcome: 'hang' });
    e.apply([
      upsert(
        booking({
          id: 'wedged',
          callee: '+4915111111111',
          ringTimeoutSec: 30,
          maxDurationSec: 60,
          retry: { maxAttempts: 1, initialBackoffSec: 60, maxBackoffSec: 60, jitter: 0 },
          schedule: { kind: 'once', at: at(MIN) },
        }),
      ),
      upsert(
        booking({ id: 'next', callee: '+4915122222222', schedule: { kind: 'once', at: at(MIN) } }),
      ),
    ]);
    await e.advance(MIN + 30_000 + 60_000 + 10_000 + 1000);
    const wedged = e.agent.store.runs.recent().find((r) => r.bookingId === 'wedged')!;
    expect(wedged.status).toBe('dead');
    expect(e.agent.store.runs.attemptsOf(wedged.id)[0]).toMatchObject({ outcome: 'modem_error' });
    await e.advance(30_000);
    expect(e.modem.dials.map((d) => d.number)).toContain('+4915122222222');
  });

  it('premium callee at accept: a callee the dial policy can never dial is rejected when the booking arrives', async () => {
    e = await startEngine();
    const [r] = e.apply([
      upsert(
        booking({
          id: 'premium',
          callee: '+499001234567',
          schedule: { kind: 'once', at: at(MIN) },
        }),
      ),
    ]);
    expect(r).toMatchObject({ status: 'rejected', bookingId: 'premium' });
    expect(r!.reasons).toEqual([
      expect.objectContaining({ path: 'booking.callee', code: 'dial_policy:premium_rate' }),
    ]);
    expect(e.agent.store.bookings.get('premium')).toBeNull();
    await e.advance(2 * MIN);
    expect(e.modem.dials).toHaveLength(0);
    expect(e.agent.store.runs.recent()).toHaveLength(0);
  });

  it('a dial the policy refuses at the slot (quiet hours) ends the run as refused with the reason, without dialing', async () => {
    const quiet = new DialPolicy({
      allowedCountries: ['DE'],
      quietHours: { start: '08:30', end: '09:30', zone: 'UTC' },
    });
    e = await startEngine({ dialGuard: quiet });
    const [r] = e.apply([
      upsert(booking({ id: 'night', schedule: { kind: 'once', at: at(45 * MIN) } })),
    ]);
    expect(r!.status).toBe('accepted');
    await e.advance(46 * MIN);
    expect(e.modem.dials).toHaveLength(0);
    const [run] = e.agent.store.runs.recent();
    expect(run).toMatchObject({ status: 'refused', reason: 'dial_policy:quiet_hours', dials: 0 });
    expect(e.agent.store.runs.attemptsOf(run!.id)).toHaveLength(0);
    const refused = e.agent.store.outbox
      .pending(100)
      .filter((x) => x.type === 'run.state' && x.payload.status === 'refused');
    expect(refused).toHaveLength(1);
  });
});
