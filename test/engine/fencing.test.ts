import { afterEach, describe, expect, it } from 'vitest';
import { startEngine, booking, upsert, type Engine, T0 } from '../support/engine.js';
import { Store } from '../../agent/store/store.js';
import { dbPathOf } from '../../agent/app.js';

let e: Engine | undefined;
afterEach(async () => {
  await e?.stop(true);
  e = undefined;
});

const MIN = 60_000;
const at = (ms: number) => new Date(T0 + ms).toISOString();

describe('leases and fencing tokens', () => {
  it("a stale attempt's writes change nothing once the run was claimed again", async () => {
    e = await startEngine({ config: { scheduler: { maxSleepSec: 60 } } });
    const { store } = e.agent;
    // Hold the line so the runner does not take the run itself: plan it with the scheduler stopped.
    e.agent.scheduler.stop();
    e.apply([upsert(booking({ id: 'f', schedule: { kind: 'once', at: at(0) } }))]);
    const { Planner } = await import('../../agent/scheduler/planner.js');
    new Planner(store).planDue(T0);
    const run = store.runs.nextDue(T0)!;
    const a = store.runs.claim(
      run.id,
      { id: 'attempt-A', bootEpoch: 1, leaseExpiresAt: T0 + 30_000 },
      T0,
    )!;
    // The lease lapses; the store owner (reaper) frees the run and attempt B claims it.
    expect(
      store.runs.transition(run.id, 'running', {
        status: 'pending',
        now: T0 + 40_000,
        reason: 'lease_expired',
      }),
    ).toBe(true);
    const b = store.runs.claim(
      run.id,
      { id: 'attempt-B', bootEpoch: 1, leaseExpiresAt: T0 + 70_000 },
      T0 + 40_000,
    )!;
    expect(b.attemptNo).toBe(2);

    // A wakes up and tries to write: every write is conditioned on its attempt id and bounces.
    expect(
      store.runs.updateAttempt(a.id, {
        status: 'dialing',
        now: T0 + 41_000,
        leaseExpiresAt: T0 + 71_000,
        dialAt: T0 + 41_000,
      }),
    ).toBe(false);
    expect(store.runs.countDial(run.id, a.id, T0 + 41_000)).toBe(false);
    expect(
      store.runs.finishAttemptRun(run.id, a.id, {
        status: 'completed',
        now: T0 + 42_000,
        reason: 'zombie',
      }),
    ).toBe(false);
    const after = store.runs.get(run.id)!;
    expect(after).toMatchObject({ status: 'running', leaseAttemptId: 'attempt-B', dials: 0 });
    expect(store.runs.getAttempt('attempt-A')).toMatchObject({ status: 'claimed', dialAt: null });

    // B's writes go through.
    expect(
      store.runs.updateAttempt(b.id, {
        status: 'dialing',
        now: T0 + 43_000,
        leaseExpiresAt: T0 + 73_000,
        dialAt: T0 + 43_000,
      }),
    ).toBe(true);
    expect(
      store.runs.finishAttemptRun(run.id, b.id, {
        status: 'completed',
        now: T0 + 44_000,
        reason: 'completed',
      }),
    ).toBe(true);
  });
});

describe('restart reconciliation (never dial twice by accident)', () => {
  async function crashWithAttemptIn(status: 'claimed' | 'dialing' | 'active') {
    e = await startEngine();
    e.apply([upsert(booking({ id: 'c', schedule: { kind: 'once', at: at(MIN) } }))]);
    const dir = e.dir;
    await e.stop();
    // Reproduce what a SIGKILL leaves behind: the run claimed by the previous boot's attempt.
    const store = Store.open(dbPathOf(e.config));
    const { Planner } = await import('../../agent/scheduler/planner.js');
    new Planner(store).planDue(T0 + MIN);
    const run = store.runs.nextDue(T0 + MIN)!;
    store.runs.claim(
      run.id,
      { id: 'old-attempt', bootEpoch: 1, leaseExpiresAt: T0 + MIN + 30_000 },
      T0 + MIN,
    );
    if (status !== 'claimed') {
      store.runs.updateAttempt('old-attempt', {
        status: 'dialing',
        now: T0 + MIN,
        leaseExpiresAt: T0 + MIN + 30_000,
        dialAt: T0 + MIN,
      });
      store.runs.countDial(run.id, 'old-attempt', T0 + MIN);
      if (status === 'active') {
        store.runs.updateAttempt('old-attempt', {
          status: 'active',
          now: T0 + MIN + 5000,
          leaseExpiresAt: T0 + MIN + 35_000,
          answeredAt: T0 + MIN + 5000,
        });
      }
    }
    store.close();
    e = await startEngine({ dir, start: T0 + MIN + 10_000 });
    return run.id;
  }

  it('an attempt that was only claimed is requeued and dialled (no dial had been made)', async () => {
    const runId = await crashWithAttemptIn('claimed');
    expect(e!.agent.reconcileReport.requeued).toBe(1);
    await e!.advance(1000);
    expect(e!.modem.dials).toHaveLength(1);
    expect(e!.agent.store.runs.getAttempt('old-attempt')).toMatchObject({ status: 'abandoned' });
    expect(e!.agent.store.runs.get(runId)!.dials).toBe(1);
  });

  it('an attempt that was dialing is recorded as interrupted and retried only after the backoff', async () => {
    const runId = await crashWithAttemptIn('dialing');
    expect(e!.agent.reconcileReport.interrupted).toBe(1);
    await e!.advance(1000);
    expect(e!.modem.dials).toHaveLength(0); // no blind redial
    const run = e!.agent.store.runs.get(runId)!;
    expect(run).toMatchObject({ status: 'retry_wait', reason: 'interrupted', dials: 1 });
    expect(e!.agent.store.runs.getAttempt('old-attempt')).toMatchObject({
      status: 'ended',
      outcome: 'interrupted',
    });
    await e!.advance(run.dueAt - e!.clock.now() + 1000);
    expect(e!.modem.dials).toHaveLength(1); // the recorded retry
    expect(e!.agent.store.runs.attemptsOf(runId)).toHaveLength(2);
  });

  it('an attempt that was answered counts as reached: completed, never redialled', async () => {
    const runId = await crashWithAttemptIn('active');
    expect(e!.agent.reconcileReport.completedAfterAnswer).toBe(1);
    await e!.advance(30 * MIN);
    expect(e!.modem.dials).toHaveLength(0);
    expect(e!.agent.store.runs.get(runId)).toMatchObject({
      status: 'completed',
      reason: 'interrupted_after_answer',
    });
  });
});
