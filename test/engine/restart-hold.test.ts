/**
 * A restart that waits for the call in progress (agent/restart-hold.ts; SIGUSR2 from the package's
 * postinst before it restarts the agent onto upgraded files). The real engine — SQLite file, fake
 * clock, simulator modem — and the agent's own restart on the same data dir. The interplay with
 * cancels, faults, crashes and restarts is the lifecycle model's invariant 9; these are the named
 * cases.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { RESTART_HOLD_MS, dbPathOf } from '../../agent/app.js';
import { holdWriteLock } from '../support/write-lock.js';
import { booking, cancel, startEngine, upsert, T0, type Engine } from '../support/engine.js';

const at = (ms: number) => new Date(T0 + ms).toISOString();
const MIN = 60_000;
const LONG = '+4915111111111'; // answers after 2 s, talks for 5 minutes
const SHORT = '+4915122222222'; // answers after 1 s, talks for 10 s

let e: Engine | null = null;
let next: Engine | null = null;
afterEach(async () => {
  await next?.stop(true);
  await e?.stop(true);
  e = next = null;
});

function attempts(x: Engine) {
  return x.agent.store.db
    .prepare(
      'SELECT a.outcome, a.dial_at AS dialAt, a.ended_at AS endedAt, r.booking_id AS bookingId FROM attempts a JOIN runs r ON r.id = a.run_id ORDER BY a.dial_at',
    )
    .all() as {
    outcome: string | null;
    dialAt: number;
    endedAt: number | null;
    bookingId: string;
  }[];
}

async function engine(opts: Parameters<typeof startEngine>[0] = {}) {
  const x = await startEngine(opts);
  x.modem.setRule(LONG, { outcome: 'answer', answerAfterMs: 2_000, hangupAfterMs: 5 * MIN });
  x.modem.setRule(SHORT, { outcome: 'answer', answerAfterMs: 1_000, hangupAfterMs: 10_000 });
  return x;
}

describe('a restart requested during a call (an upgrade)', () => {
  it('lets the answered call end by itself, starts no other, and the new agent places what fell due', async () => {
    e = await engine();
    e.apply([
      upsert(booking({ id: 'talk', callee: LONG, schedule: { kind: 'once', at: at(MIN) } })),
      upsert(booking({ id: 'next', callee: SHORT, schedule: { kind: 'once', at: at(3 * MIN) } })),
    ]);
    await e.advance(MIN + 10_000); // the first call is answered and going on
    expect(e.agent.runner.busy()).not.toBeNull();

    e.agent.requestRestart();
    await e.clock.settle();
    expect(e.agent.restartHold()).toEqual({ state: 'waiting', since: T0 + MIN + 10_000 });
    // "next" falls due at 3 min while the first call goes on; the hold keeps it from starting after.
    await e.advance(5 * MIN);
    expect(e.modem.dials.map((d) => d.number)).toEqual([LONG]);
    const [talk] = attempts(e);
    expect(talk).toMatchObject({ bookingId: 'talk', outcome: 'completed' }); // not interrupted
    const callEnd = talk!.endedAt!;
    expect(callEnd).toBe(T0 + MIN + 2_000 + 5 * MIN);
    expect(e.agent.restartHold()).toEqual({
      state: 'held',
      since: callEnd,
      until: callEnd + RESTART_HOLD_MS,
    });
    await e.advance(1_000);
    expect(e.modem.dials).toHaveLength(1);

    // postinst restarts it now: the new agent (same data dir) places "next" at once, late but owed.
    const restartAt = e.clock.now();
    await e.stop();
    next = await engine({ dir: e.dir, start: restartAt + 2_000 });
    await next.advance(0);
    expect(next.modem.dials.map((d) => [d.number, d.at])).toEqual([[SHORT, restartAt + 2_000]]);
    expect(next.agent.restartHold()).toEqual({ state: 'open' });
    await next.advance(20_000);
    expect(attempts(next).map((a) => [a.bookingId, a.outcome])).toEqual([
      ['talk', 'completed'],
      ['next', 'completed'],
    ]);
  });

  it('says "held" at once when no call is in progress, and the hold runs out if no restart comes', async () => {
    e = await engine();
    e.apply([
      upsert(booking({ id: 'soon', callee: SHORT, schedule: { kind: 'once', at: at(MIN) } })),
    ]);
    e.agent.requestRestart();
    await e.clock.settle();
    expect(e.agent.restartHold()).toEqual({
      state: 'held',
      since: T0,
      until: T0 + RESTART_HOLD_MS,
    });
    await e.advance(RESTART_HOLD_MS - 1);
    expect(e.modem.dials).toHaveLength(0); // due at 1 min, held
    await e.advance(1);
    // A postinst that died must not silence the unit: the hold ends, the owed call goes out.
    expect(e.agent.restartHold()).toEqual({ state: 'open' });
    expect(e.modem.dials.map((d) => d.at)).toEqual([T0 + RESTART_HOLD_MS]);
    // Every transition as logged (and sent to systemd): never a "waiting" with no call going on,
    // which postinst would print as "a call is in progress".
    const said = e.sink.lines
      .map((l) => String(l.msg))
      .filter((m) => /^restart (requested|hold)/.test(m))
      .map((m) => m.replace(/ until .*/, ''));
    expect(said).toEqual([
      'restart requested: no call in progress, new calls held',
      'restart hold expired: calling normally',
    ]);
  });

  it('a second request while held starts the hold again (postinst run twice)', async () => {
    e = await engine();
    e.agent.requestRestart();
    await e.advance(60_000);
    e.agent.requestRestart();
    await e.clock.settle();
    expect(e.agent.restartHold()).toEqual({
      state: 'held',
      since: T0 + 60_000,
      until: T0 + 60_000 + RESTART_HOLD_MS,
    });
  });

  it('a cancel still hangs up a ringing call while the hold waits for it', async () => {
    e = await engine();
    e.modem.setRule(LONG, { outcome: 'no_answer', alertAfterMs: 200 });
    e.apply([
      upsert(booking({ id: 'ring', callee: LONG, schedule: { kind: 'once', at: at(MIN) } })),
    ]);
    await e.advance(MIN + 3_000);
    e.agent.requestRestart();
    e.apply([cancel('ring', 2)]);
    await e.advance(3_000);
    expect(attempts(e)[0]).toMatchObject({ bookingId: 'ring', outcome: 'cancelled' });
    expect(e.agent.restartHold()?.state).toBe('held');
  });

  it('regression: a claim retrying on a busy store when the restart is requested is not placed', async () => {
    // The runner checked "may I claim?" once, then retried the claim's write while another process
    // held the lock; a hold that came in between let the call start after the agent was asked not to.
    e = await engine({ config: { storage: { busyTimeoutMs: 0 } } });
    e.apply([
      upsert(booking({ id: 'late', callee: SHORT, schedule: { kind: 'once', at: at(MIN) } })),
    ]);
    await e.advance(MIN - 500); // planned: the run is pending, due in 0.5 s
    expect(e.agent.store.runs.withStatus('pending').map((r) => r.bookingId)).toEqual(['late']);
    const lock = holdWriteLock(dbPathOf(e.config));
    try {
      await e.advance(1_500); // due
      e.agent.runner.kick(); // as the scheduler's wake does: the claim meets the lock and retries
      await e.clock.settle();
      expect(e.agent.runner.working()).toBe(true);
      e.agent.requestRestart();
      await e.clock.settle();
      expect(e.agent.restartHold()?.state).toBe('waiting');
    } finally {
      lock.release();
    }
    await e.advance(5_000);
    expect(e.modem.dials).toHaveLength(0);
    expect(attempts(e)).toHaveLength(0);
    expect(e.agent.restartHold()?.state).toBe('held');
  });
});
