/**
 * Found by the chaos run: a slot planned in time could still be dialled long after its catch-up
 * window (a long downtime or a clock jump between planning and dialling, a line held by a hung
 * call). The runner now applies the booking's misfire policy at claim time too.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { startEngine, booking, upsert, type Engine, T0 } from '../support/engine.js';

let e: Engine;
afterEach(async () => {
  await e?.stop(true);
});

const at = (ms: number) => new Date(T0 + ms).toISOString();

describe('a pending run that went stale before it was dialled', () => {
  it('is skipped (misfire skip) or fired once and said so (misfire fire_once)', async () => {
    e = await startEngine();
    e.modem.setRule('+4915144*', { outcome: 'hang' });
    e.modem.setRule('*', { outcome: 'answer', answerAfterMs: 100, hangupAfterMs: 200 });
    const window = { catchUpWindowSec: 10, ringTimeoutSec: 10, maxDurationSec: 30 };
    e.apply([
      // A hung call holds the one voice line well past the others' 10 s window.
      upsert(
        booking({
          id: 'hang',
          callee: '+4915144000001',
          ...window,
          retry: { maxAttempts: 1, initialBackoffSec: 5, maxBackoffSec: 5, jitter: 0 },
          schedule: { kind: 'once', at: at(60_000) },
        }),
      ),
      upsert(
        booking({
          id: 'skip',
          callee: '+4915166000002',
          ...window,
          misfire: 'skip',
          schedule: { kind: 'once', at: at(61_000) },
        }),
      ),
      upsert(
        booking({
          id: 'once',
          callee: '+4915166000003',
          ...window,
          misfire: 'fire_once',
          schedule: { kind: 'once', at: at(62_000) },
        }),
      ),
    ]);
    await e.advance(5 * 60_000);
    const runs = new Map(e.agent.store.runs.recent().map((r) => [r.bookingId, r]));
    expect(runs.get('skip')).toMatchObject({
      status: 'skipped',
      reason: 'misfire_skipped',
      dials: 0,
    });
    expect(runs.get('once')).toMatchObject({ status: 'completed', dials: 1 });
    expect(e.modem.dials.map((d) => d.number)).toEqual(['+4915144000001', '+4915166000003']);
    const states = e.agent.store.outbox
      .pending(500)
      .filter((x) => x.type === 'run.state')
      .map(
        (x) =>
          `${String(x.payload.bookingId)}:${String(x.payload.status)}:${String(x.payload.reason)}`,
      );
    expect(states).toContain('skip:skipped:misfire_skipped');
    // The late dial says why it went out late (attempt.dialing is critical: every dial is reported).
    const late = e.agent.store.outbox
      .pending(500)
      .filter((x) => x.type === 'attempt.dialing' && x.payload.bookingId === 'once');
    expect(late).toHaveLength(1);
    expect(late[0]!.class).toBe('critical');
    expect(late[0]!.payload).toMatchObject({ reason: 'misfire_fire_once' });
    expect(late[0]!.payload.latenessMs).toBeGreaterThan(10_000);
  });
});
