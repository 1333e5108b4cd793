/**
 * Named regressions for where the engine's mechanisms meet (issue 10; docs/lifecycle.md): booking
 * changes that reach owed work, retries on time, storage that is busy while a call is up, a second
 * agent on the same data dir, the dialled string being the checked string. Real SQLite file, the
 * simulator modem, a fake clock; a busy store is a real second connection holding the write lock.
 */
import { afterEach, describe, expect, it } from 'vitest';
import {
  booking,
  cancel,
  startEngine,
  T0,
  upsert,
  type Engine,
  type EngineOptions,
} from '../support/engine.js';
import { holdWriteLock, type HeldLock } from '../support/write-lock.js';
import { dbPathOf } from '../../agent/app.js';
import { DataDirLockedError } from '../../agent/store/dir-lock.js';
import { OperationError } from '../../agent/lifecycle/lifecycle.js';
import { ModemError } from '../../hal/types.js';

let e: Engine | undefined;
let lock: HeldLock | undefined;
const others: Engine[] = [];
afterEach(async () => {
  lock?.release();
  lock = undefined;
  for (const o of others.splice(0)) await o.stop();
  await e?.stop(true);
  e = undefined;
});

const SEC = 1000;
const MIN = 60 * SEC;
const at = (ms: number) => new Date(T0 + ms).toISOString();
const A = '+4915111111111';
const B = '+4915122222222';
const quickRetry = { maxAttempts: 3, initialBackoffSec: 5, maxBackoffSec: 5, jitter: 0 };

async function engine(opts: EngineOptions = {}): Promise<Engine> {
  e = await startEngine({
    ...opts,
    config: { storage: { busyTimeoutMs: 0 }, ...(opts.config ?? {}) },
  });
  return e;
}

function runOf(en: Engine, bookingId: string) {
  const { runs } = en.agent.store;
  return [...runs.upcoming(100), ...runs.recent(100)].filter((r) => r.bookingId === bookingId);
}

function runStates(en: Engine, bookingId: string): string[] {
  return en.agent.store.outbox
    .pending(1000)
    .filter((x) => x.type === 'run.state' && x.payload.bookingId === bookingId)
    .map((x) => `${String(x.payload.status)}:${String(x.payload.reason)}`);
}

describe('booking changes reach owed work', () => {
  it('cancel while ringing: the call is hung up at once, recorded cancelled, never dialled again', async () => {
    const en = await engine();
    en.modem.setRule('*', { outcome: 'no_answer', alertAfterMs: 200 });
    en.apply([
      upsert(booking({ id: 'c', retry: quickRetry, schedule: { kind: 'once', at: at(MIN) } })),
    ]);
    await en.advance(MIN + 3 * SEC);
    expect(en.modem.dials).toHaveLength(1);
    expect(runOf(en, 'c')[0]).toMatchObject({ status: 'running' });

    const [r] = en.apply([cancel('c', 2)]);
    expect(r!.status).toBe('accepted');
    await en.advance(SEC);
    const [run] = runOf(en, 'c');
    expect(run).toMatchObject({ status: 'cancelled', reason: 'cancelled_by_cloud', dials: 1 });
    const [attempt] = en.agent.store.runs.attemptsOf(run!.id);
    expect(attempt).toMatchObject({ status: 'ended', outcome: 'cancelled' });
    expect(attempt!.endedAt! - attempt!.dialAt!).toBeLessThan(5 * SEC); // not the 45 s ring timeout
    await en.advance(30 * MIN);
    expect(en.modem.dials).toHaveLength(1);
    expect(runStates(en, 'c')).toEqual([
      'pending:null',
      'cancelling:cancelled_by_cloud',
      'cancelled:cancelled_by_cloud',
    ]);
  });

  it('an answered call is never cut by a cancel; the run completes and nothing is retried', async () => {
    const en = await engine();
    en.modem.setRule('*', { outcome: 'answer', answerAfterMs: SEC, hangupAfterMs: 60 * SEC });
    en.apply([
      upsert(booking({ id: 'talk', retry: quickRetry, schedule: { kind: 'once', at: at(MIN) } })),
    ]);
    await en.advance(MIN + 5 * SEC);
    en.apply([cancel('talk', 2)]);
    await en.advance(30 * SEC);
    expect(runOf(en, 'talk')[0]).toMatchObject({ status: 'running' }); // still talking
    await en.advance(MIN);
    const [run] = runOf(en, 'talk');
    expect(run).toMatchObject({ status: 'completed', dials: 1 });
    const [attempt] = en.agent.store.runs.attemptsOf(run!.id);
    expect(attempt).toMatchObject({ outcome: 'completed' });
    expect(attempt!.endedAt! - attempt!.answeredAt!).toBe(60 * SEC);
    expect(en.modem.dials).toHaveLength(1);
  });

  it('pause + edit: a waiting retry ends with the pause, no dial to the old number; after resume the new number is dialled', async () => {
    const en = await engine();
    en.modem.setRule(A, { outcome: 'busy', afterMs: SEC });
    en.modem.setRule(B, { outcome: 'answer', answerAfterMs: SEC, hangupAfterMs: 5 * SEC });
    const daily = { kind: 'daily' as const, time: '10:00', zone: 'Europe/Berlin' }; // 09:00Z
    en.apply([upsert(booking({ id: 'p', callee: A, retry: quickRetry, schedule: daily }))]);
    await en.advance(HOURS(1) + 2 * SEC);
    expect(en.modem.dials.map((d) => d.number)).toEqual([A]);
    expect(runOf(en, 'p')[0]).toMatchObject({ status: 'retry_wait' });

    en.apply([
      upsert(
        booking({
          id: 'p',
          version: 2,
          callee: B,
          paused: true,
          retry: quickRetry,
          schedule: daily,
        }),
      ),
    ]);
    expect(runOf(en, 'p')[0]).toMatchObject({ status: 'cancelled', reason: 'paused' });
    await en.advance(HOURS(30));
    expect(en.modem.dials.map((d) => d.number)).toEqual([A]); // nothing while paused

    en.apply([
      upsert(booking({ id: 'p', version: 3, callee: B, retry: quickRetry, schedule: daily })),
    ]);
    await en.advance(HOURS(24));
    expect(en.modem.dials.map((d) => d.number)).toEqual([A, B]);
    const dialled = en.agent.store.runs
      .recent(10)
      .filter((r) => r.bookingId === 'p' && r.status === 'completed')
      .flatMap((r) => en.agent.store.runs.attemptsOf(r.id));
    expect(dialled).toEqual([expect.objectContaining({ dialed: B, bookingVersion: 3 })]);
  });

  it('an edit reaches the waiting retry: the retry dials the new number under the new version', async () => {
    const en = await engine();
    en.modem.setRule(A, { outcome: 'busy', afterMs: SEC });
    en.modem.setRule(B, { outcome: 'answer', answerAfterMs: SEC, hangupAfterMs: 5 * SEC });
    en.apply([
      upsert(
        booking({
          id: 'edit',
          callee: A,
          retry: quickRetry,
          schedule: { kind: 'once', at: at(MIN) },
        }),
      ),
    ]);
    await en.advance(MIN + 2 * SEC);
    en.apply([
      upsert(
        booking({
          id: 'edit',
          version: 2,
          callee: B,
          retry: quickRetry,
          schedule: { kind: 'once', at: at(MIN) },
        }),
      ),
    ]);
    await en.advance(MIN);
    expect(en.modem.dials.map((d) => d.number)).toEqual([A, B]);
    const [run] = runOf(en, 'edit');
    expect(run).toMatchObject({ status: 'completed', dials: 2, bookingVersion: 2 });
    expect(
      en.agent.store.runs.attemptsOf(run!.id).map((a) => [a.dialed, a.bookingVersion]),
    ).toEqual([
      [A, 1],
      [B, 2],
    ]);
  });

  it('an edit that moves a one-off supersedes the old slot: its waiting retry ends, the new slot dials once', async () => {
    const en = await engine();
    en.modem.setRule(A, { outcome: 'busy', afterMs: SEC });
    en.apply([
      upsert(
        booking({
          id: 'move',
          callee: A,
          retry: quickRetry,
          schedule: { kind: 'once', at: at(MIN) },
        }),
      ),
    ]);
    await en.advance(MIN + 2 * SEC);
    en.modem.setRule(A, { outcome: 'answer', answerAfterMs: SEC, hangupAfterMs: 5 * SEC });
    en.apply([
      upsert(
        booking({
          id: 'move',
          version: 2,
          callee: A,
          retry: quickRetry,
          schedule: { kind: 'once', at: at(10 * MIN) },
        }),
      ),
    ]);
    const runs = runOf(en, 'move');
    expect(runs.find((r) => r.slotAt === T0 + MIN)).toMatchObject({
      status: 'cancelled',
      reason: 'superseded_by_edit',
    });
    await en.advance(20 * MIN);
    expect(en.modem.dials.map((d) => d.at - T0)).toEqual([MIN, 10 * MIN]);
  });
});

describe('changes that meet a slot planned ahead (run written, slot not yet come)', () => {
  // The scheduler writes a slot's run scheduler.planAheadMs before it (default 1 s), so at the
  // slot only the claim commits before the dial. In that second the run waits as a retry waits:
  // every change must reach it.
  const AHEAD = 1_000;
  async function plannedAhead(en: Engine, id: string, version = 1): Promise<void> {
    en.apply([
      upsert(
        booking({
          id,
          version,
          callee: A,
          retry: quickRetry,
          schedule: { kind: 'once', at: at(MIN) },
        }),
      ),
    ]);
    await en.advance(MIN - AHEAD + 200);
    expect(runOf(en, id)).toMatchObject([{ status: 'pending', dueAt: T0 + MIN }]);
    expect(en.modem.dials).toHaveLength(0);
  }

  it('a cancel in that window: the waiting run is cancelled, nothing is dialled at the slot', async () => {
    const en = await engine();
    await plannedAhead(en, 'ahead-cancel');
    en.apply([cancel('ahead-cancel', 2)]);
    await en.advance(5 * MIN);
    expect(en.modem.dials).toHaveLength(0);
    expect(runOf(en, 'ahead-cancel')).toMatchObject([{ status: 'cancelled' }]);
  });

  it('a pause in that window: nothing is dialled; the slot is not owed again after the resume', async () => {
    const en = await engine();
    await plannedAhead(en, 'ahead-pause');
    const paused = booking({
      id: 'ahead-pause',
      version: 2,
      callee: A,
      paused: true,
      schedule: { kind: 'once', at: at(MIN) },
    });
    en.apply([upsert(paused)]);
    await en.advance(2 * MIN);
    en.apply([upsert({ ...paused, version: 3, paused: false })]);
    await en.advance(5 * MIN);
    expect(en.modem.dials).toHaveLength(0);
    expect(runOf(en, 'ahead-pause').map((r) => r.status)).toEqual(['cancelled']);
  });

  it('an edit of the callee in that window: the slot dials the new number, once, under the new version', async () => {
    const en = await engine();
    en.modem.setRule(B, { outcome: 'answer', answerAfterMs: SEC, hangupAfterMs: 5 * SEC });
    await plannedAhead(en, 'ahead-edit');
    en.apply([
      upsert(
        booking({
          id: 'ahead-edit',
          version: 2,
          callee: B,
          retry: quickRetry,
          schedule: { kind: 'once', at: at(MIN) },
        }),
      ),
    ]);
    await en.advance(5 * MIN);
    expect(en.modem.dials.map((d) => [d.number, d.at - T0])).toEqual([[B, MIN]]);
    expect(runOf(en, 'ahead-edit')).toMatchObject([{ status: 'completed', bookingVersion: 2 }]);
  });

  it('an edit that moves the one-off in that window: the written run is superseded, the new slot dials once', async () => {
    const en = await engine();
    en.modem.setRule(A, { outcome: 'answer', answerAfterMs: SEC, hangupAfterMs: 5 * SEC });
    await plannedAhead(en, 'ahead-move');
    en.apply([
      upsert(
        booking({
          id: 'ahead-move',
          version: 2,
          callee: A,
          retry: quickRetry,
          schedule: { kind: 'once', at: at(10 * MIN) },
        }),
      ),
    ]);
    expect(runOf(en, 'ahead-move')).toMatchObject([
      { slotAt: T0 + MIN, status: 'cancelled', reason: 'superseded_by_edit' },
    ]);
    await en.advance(20 * MIN);
    expect(en.modem.dials.map((d) => d.at - T0)).toEqual([10 * MIN]);
  });

  it('a restart in that window: the written run is dialled at its slot, once', async () => {
    const en = await engine();
    en.modem.setRule(A, { outcome: 'answer', answerAfterMs: SEC, hangupAfterMs: 5 * SEC });
    await plannedAhead(en, 'ahead-restart');
    const now = en.clock.now();
    await en.stop(); // the data dir stays; the next agent opens it
    const again = await engine({ dir: en.dir, start: now });
    await again.advance(5 * MIN);
    expect(again.modem.dials.map((d) => d.at - T0)).toEqual([MIN]);
    expect(runOf(again, 'ahead-restart')).toMatchObject([{ status: 'completed', dials: 1 }]);
  });

  it('with planAheadMs 0 the run is written at the slot itself', async () => {
    const en = await engine({ config: { scheduler: { planAheadMs: 0 } } });
    en.apply([
      upsert(booking({ id: 'at-slot', callee: A, schedule: { kind: 'once', at: at(MIN) } })),
    ]);
    await en.advance(MIN - 1);
    expect(runOf(en, 'at-slot')).toEqual([]);
    await en.advance(1);
    expect(en.modem.dials.map((d) => d.at - T0)).toEqual([MIN]);
  });
});

describe('retries are as punctual as first attempts', () => {
  it('retry on time: a retry owed 5 s after a busy attempt is dialled at exactly its due time', async () => {
    const en = await engine();
    en.modem.setRule('*', { outcome: 'busy', afterMs: SEC });
    en.apply([
      upsert(
        booking({
          id: 'r',
          retry: { maxAttempts: 3, initialBackoffSec: 5, maxBackoffSec: 60, jitter: 0 },
          schedule: { kind: 'once', at: at(MIN) },
        }),
      ),
    ]);
    await en.advance(5 * MIN);
    // busy after 1 s, then 5 s and 10 s of backoff — not at the scheduler's next 60 s tick
    expect(en.modem.dials.map((d) => d.at - T0)).toEqual([MIN, MIN + 6 * SEC, MIN + 17 * SEC]);
    const [run] = runOf(en, 'r');
    for (const a of en.agent.store.runs.attemptsOf(run!.id).slice(1)) {
      expect(a.dialAt).toBe(a.claimedAt);
    }
  });
});

describe('failures never wedge the line or end a call', () => {
  it('BUSY at outcome: the write is retried until the lock clears, then every later call still goes out', async () => {
    const en = await engine();
    en.modem.setRule('*', { outcome: 'answer', answerAfterMs: 500, hangupAfterMs: 2 * SEC });
    en.apply([
      upsert(booking({ id: 'first', schedule: { kind: 'once', at: at(MIN) } })),
      upsert(booking({ id: 'second', callee: B, schedule: { kind: 'once', at: at(3 * MIN) } })),
    ]);
    await en.advance(MIN + SEC); // answered
    lock = holdWriteLock(dbPathOf(en.config));
    await en.advance(10 * SEC); // the call ended at +2.5 s; its outcome cannot be written
    expect(runOf(en, 'first')[0]).toMatchObject({ status: 'running' });
    expect(en.agent.runner.busy()).not.toBeNull();
    lock.release();
    await en.advance(3 * SEC);
    expect(runOf(en, 'first')[0]).toMatchObject({ status: 'completed', dials: 1 });
    await en.advance(3 * MIN);
    expect(en.modem.dials.map((d) => d.number)).toEqual(['+4915123456789', B]);
    expect(runOf(en, 'second')[0]).toMatchObject({ status: 'completed' });
    expect(en.fatal).toEqual([]);
  });

  it('a lock that never clears is fatal (exit, restart, reconcile) — not a line wedged for hours', async () => {
    const en = await engine({ config: { storage: { busyTimeoutMs: 0, writeGiveUpSec: 30 } } });
    en.modem.setRule('*', { outcome: 'answer', answerAfterMs: 500, hangupAfterMs: 2 * SEC });
    en.apply([upsert(booking({ id: 'stuck', schedule: { kind: 'once', at: at(MIN) } }))]);
    await en.advance(MIN + SEC);
    lock = holdWriteLock(dbPathOf(en.config));
    await en.advance(MIN);
    expect(en.fatal.map((f) => f.where)).toEqual(['running an attempt']);
    expect((en.fatal[0]!.err as Error).name).toBe('TransientGaveUp');
    lock.release();
    lock = undefined;
    // systemd restarts the agent: the answered attempt is settled as reached, never redialled.
    await en.stop();
    const again = await startEngine({ dir: en.dir, start: en.clock.now() });
    e = again;
    const [run] = runOf(again, 'stuck');
    expect(run).toMatchObject({ status: 'completed', reason: 'interrupted_after_answer' });
    await again.advance(10 * MIN);
    expect(again.modem.dials).toHaveLength(0);
  });

  it('failed heartbeat: a progress mark that cannot be written never ends the call', async () => {
    const en = await engine();
    en.modem.setRule('*', { outcome: 'answer', answerAfterMs: 5 * SEC, hangupAfterMs: 20 * SEC });
    en.apply([upsert(booking({ id: 'mark', schedule: { kind: 'once', at: at(MIN) } }))]);
    await en.advance(MIN + SEC);
    lock = holdWriteLock(dbPathOf(en.config)); // held across "alerting" and "answered"
    await en.advance(10 * SEC);
    expect(en.agent.runner.busy()).not.toBeNull(); // the call goes on
    lock.release();
    await en.advance(30 * SEC);
    const [run] = runOf(en, 'mark');
    expect(run).toMatchObject({ status: 'completed' });
    const [attempt] = en.agent.store.runs.attemptsOf(run!.id);
    expect(attempt).toMatchObject({ outcome: 'completed', answeredAt: T0 + MIN + 5 * SEC });
    expect(attempt!.endedAt! - attempt!.answeredAt!).toBe(20 * SEC);
    expect(en.fatal).toEqual([]);
  });
});

describe('one agent per data dir', () => {
  it('second agent: a second agent on the same data dir refuses to start while the first runs', async () => {
    const en = await engine();
    const err = await startEngine({ dir: en.dir }).then(
      (o) => {
        others.push(o);
        return null;
      },
      (x: unknown) => x,
    );
    expect(err).toBeInstanceOf(DataDirLockedError);
    expect((err as Error).message).toContain(`pid ${process.pid}`);
    await en.stop();
    const next = await startEngine({ dir: en.dir }); // released on stop
    others.push(next);
  });
});

describe('the dialled string is the checked string', () => {
  it('raw-whitespace callee: a test call to "+4915123456789\\r" is refused, and no driver dials anything but + and digits', async () => {
    const en = await engine();
    expect(() =>
      en.agent.lifecycle.requestTestCall(
        { callee: '+4915123456789\r', requestedBy: 'test' },
        en.clock.now(),
      ),
    ).toThrow(OperationError);
    try {
      en.agent.lifecycle.requestTestCall({ callee: ' +4915123456789', requestedBy: 't' }, T0);
    } catch (err) {
      expect((err as OperationError).code).toBe('dial_policy:invalid_number');
    }
    expect(en.agent.store.runs.upcoming()).toHaveLength(0);
    for (const n of ['+4915123456789\r', '+49 151', '+4915123456789;', 'ATH', '']) {
      await expect(
        en.modem.dial({ number: n, ringTimeoutMs: 1000, maxDurationMs: 1000 }),
      ).rejects.toBeInstanceOf(ModemError);
    }
    expect(en.modem.dials).toHaveLength(0);
    // A valid test call is stored and dialled as the normalised E.164 number.
    const run = en.agent.lifecycle.requestTestCall(
      { callee: '+4915123456789', requestedBy: 'test' },
      en.clock.now(),
    );
    en.agent.poke();
    await en.advance(SEC);
    expect(en.modem.dials.map((d) => d.number)).toEqual(['+4915123456789']);
    expect(en.agent.store.runs.attemptsOf(run.id)[0]).toMatchObject({ dialed: '+4915123456789' });
  });
});

function HOURS(n: number): number {
  return n * 60 * MIN;
}
