/**
 * The rate caps where they matter: in the call runner, under a burst of bookings all due at once
 * (what a compromised broker would send). Exactly the cap goes out; the rest end as refused runs
 * with the reason and a run.state event each — nothing is dialled, nothing vanishes.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { DialPolicy } from '../../agent/policy/dial-policy.js';
import { startEngine, booking, upsert, type Engine, T0 } from '../support/engine.js';

let e: Engine;
afterEach(async () => {
  await e?.stop(true);
});

const HOUR = 3_600_000;
const at = (ms: number) => new Date(T0 + ms).toISOString();

describe('rate caps under a burst of bookings (engine)', () => {
  it('per hour, then per day: exactly the caps are dialled, the rest refused with reasons', async () => {
    e = await startEngine({
      dialGuard: new DialPolicy({ quietHours: null, maxCallsPerHour: 3, maxCallsPerDay: 5 }),
    });
    e.modem.setRule('*', { outcome: 'answer', answerAfterMs: 500, hangupAfterMs: 1000 });
    const burst = (prefix: string, slot: number) =>
      Array.from({ length: 10 }, (_, i) =>
        upsert(
          booking({
            id: `${prefix}${i}`,
            callee: `+49151230000${String(i).padStart(2, '0')}`,
            schedule: { kind: 'once', at: at(slot) },
          }),
        ),
      );
    e.apply(burst('h1-', 60_000));
    await e.advance(10 * 60_000);
    expect(e.modem.dials).toHaveLength(3);

    e.apply(burst('h2-', 2 * HOUR));
    await e.advance(2 * HOUR);
    expect(e.modem.dials).toHaveLength(5); // the day cap: 3 in hour one, 2 in hour three

    const runs = e.agent.store.runs.recent(100);
    expect(runs).toHaveLength(20);
    const refused = runs.filter((r) => r.status === 'refused');
    expect(refused).toHaveLength(15);
    const reasons = refused.map((r) => r.reason).sort();
    expect(new Set(reasons)).toEqual(
      new Set(['dial_policy:rate_limit_hour', 'dial_policy:rate_limit_day']),
    );
    expect(reasons.filter((r) => r === 'dial_policy:rate_limit_hour')).toHaveLength(7);
    expect(runs.filter((r) => r.status === 'completed')).toHaveLength(5);
    const refusedEvents = e.agent.store.outbox
      .pending(1000)
      .filter((x) => x.type === 'run.state' && x.payload.status === 'refused');
    expect(refusedEvents).toHaveLength(15);
  });
});
