/**
 * A modem that wedges in a call (never reports its end) costs that call and nothing more: the
 * runner abandons it at its limit and clears the line, the call's audio is put back, and the next
 * booking's call goes out on time. Found by the chaos gate: after one wedged call every later dial
 * waited for good behind the wedged call's audio restore.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { startEngine, booking, cancel, upsert, type Engine, T0 } from '../support/engine.js';

let e: Engine;
afterEach(async () => {
  await e?.stop(true);
});

const at = (ms: number) => new Date(T0 + ms).toISOString();
const MIN = 60_000;

/** An engine whose modem never reports the end of a call to +4915111…; every other call answers. */
async function wedgedEngine() {
  const engine = await startEngine();
  engine.modem.setRule('+4915111*', { outcome: 'hang' });
  engine.modem.setRule('*', { outcome: 'answer', answerAfterMs: 100, hangupAfterMs: 100 });
  return engine;
}

describe('a wedged modem', () => {
  it('regression: after a call that never ends, the next booking still dials on time', async () => {
    e = await wedgedEngine();
    const call = { ringTimeoutSec: 10, maxDurationSec: 30, retry: { maxAttempts: 1 } };
    e.apply([
      upsert(
        booking({
          id: 'wedge',
          callee: '+4915111000001',
          schedule: { kind: 'once', at: at(MIN) },
          ...call,
        }),
      ),
      upsert(booking({ id: 'next', schedule: { kind: 'once', at: at(3 * MIN) }, ...call })),
    ]);
    await e.advance(3 * MIN + 10_000);
    expect(e.modem.dials.map((d) => [d.number, d.at])).toEqual([
      ['+4915111000001', T0 + MIN],
      ['+4915123456789', T0 + 3 * MIN],
    ]);
    const runs = Object.fromEntries(e.agent.store.runs.recent().map((r) => [r.bookingId, r]));
    expect(runs.next).toMatchObject({ status: 'completed' });
    expect(runs.wedge?.status).not.toBe('running');
    expect(e.fatal).toEqual([]);
  });

  // Found by a 1,000-run soak of the lifecycle model (seed 7): a cancel reached a call on a modem
  // that ignores the hang-up, and the call ran on to its deadline, 49 s after the cancel.
  it('regression: a cancel reaches a call the modem will not hang up: cut after a short grace', async () => {
    e = await wedgedEngine();
    const call = { ringTimeoutSec: 30, maxDurationSec: 60, retry: { maxAttempts: 3 } };
    e.apply([
      upsert(
        booking({
          id: 'ringing',
          callee: '+4915111000001',
          schedule: { kind: 'once', at: at(MIN) },
          ...call,
        }),
      ),
      upsert(booking({ id: 'after', schedule: { kind: 'once', at: at(MIN + 10_000) }, ...call })),
    ]);
    await e.advance(MIN + 1_000);
    expect(e.modem.dials).toHaveLength(1);
    e.apply([cancel('ringing', 2)]);
    await e.advance(3_000);
    const ringing = e.agent.store.runs.recent().find((r) => r.bookingId === 'ringing')!;
    expect(ringing.status).toBe('cancelled');
    const [attempt] = e.agent.store.runs.attemptsOf(ringing.id);
    expect(attempt).toMatchObject({ status: 'ended' });
    expect(attempt!.endedAt! - (T0 + MIN + 1_000)).toBeLessThanOrEqual(3_000);
    // The line is free again: the next booking dials on time, and the cancelled one never again.
    await e.advance(10_000);
    expect(e.modem.dials.map((d) => [d.number, d.at])).toEqual([
      ['+4915111000001', T0 + MIN],
      ['+4915123456789', T0 + MIN + 10_000],
    ]);
    expect(e.fatal).toEqual([]);
  });
});
