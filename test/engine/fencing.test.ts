import { afterEach, describe, expect, it } from 'vitest';
import {
  startEngine,
  booking,
  upsert,
  permissivePolicy,
  type Engine,
  T0,
} from '../support/engine.js';
import { Store } from '../../agent/store/store.js';
import { dbPathOf } from '../../agent/app.js';
import { RunLifecycle } from '../../agent/lifecycle/lifecycle.js';
import { reconcilePreviousBoots } from '../../agent/lifecycle/reconcile.js';
import { Planner } from '../../agent/scheduler/planner.js';

let e: Engine | undefined;
afterEach(async () => {
  await e?.stop(true);
  e = undefined;
});

const MIN = 60_000;
const at = (ms: number) => new Date(T0 + ms).toISOString();

describe('leases and fencing tokens', () => {
  it("a stale attempt's writes change nothing once a newer boot settled it and claimed the run again", async () => {
    e = await startEngine();
    e.apply([upsert(booking({ id: 'f', schedule: { kind: 'once', at: at(0) } }))]);
    await e.stop();
    // Boot 1 (a process that froze mid-call) and boot 2 share the file; each has its own lifecycle.
    const store = Store.open(dbPathOf(e.config));
    const policy = permissivePolicy();
    const zombie = new RunLifecycle(store, policy, () => 0.5);
    new Planner(store, zombie).planDue(T0);
    const a = zombie.claimNext(1, T0)!;
    expect(a.attempt).toMatchObject({ status: 'dialing', attemptNo: 1, bootEpoch: 1 });

    const fresh = new RunLifecycle(store, policy, () => 0.5);
    const report = reconcilePreviousBoots(store, fresh, 2, T0 + 40_000, () => 0.5);
    expect(report.interrupted).toBe(1);
    const waiting = store.runs.get(a.run.id)!;
    expect(waiting).toMatchObject({ status: 'retry_wait', reason: 'interrupted' });
    const b = fresh.claimNext(2, waiting.dueAt)!;
    expect(b.attempt.attemptNo).toBe(2);

    // The zombie wakes up and writes: every write is conditioned on its attempt id and bounces.
    expect(zombie.markCall(a, 'active', T0 + 41_000)).toBe(false);
    const end = {
      result: 'completed',
      answered: true,
      answeredAt: T0 + 41_000,
      endedAt: T0 + 42_000,
      endedBy: 'remote' as const,
      detail: null,
    };
    expect(zombie.recordOutcome(a, end, T0 + 42_000)).toBeNull();
    expect(store.runs.get(a.run.id)).toMatchObject({
      status: 'running',
      leaseAttemptId: b.attempt.id,
    });
    expect(store.runs.getAttempt(a.attempt.id)).toMatchObject({
      status: 'ended',
      outcome: 'interrupted',
      answeredAt: null,
    });

    // B's writes go through.
    expect(fresh.markCall(b, 'active', waiting.dueAt + 1000)).toBe(true);
    expect(
      fresh.recordOutcome(b, { ...end, answeredAt: waiting.dueAt + 1000 }, waiting.dueAt + 9000),
    ).toMatchObject({ status: 'completed' });
    store.close();
    e = undefined;
  });
});

describe('restart reconciliation (never dial twice by accident)', () => {
  let oldAttempt = '';
  async function crashWithAttemptIn(status: 'claimed' | 'dialing' | 'active') {
    e = await startEngine();
    e.apply([upsert(booking({ id: 'c', schedule: { kind: 'once', at: at(MIN) } }))]);
    const dir = e.dir;
    await e.stop();
    // Reproduce what a SIGKILL leaves behind: the run claimed (and dialing) by the previous boot.
    const store = Store.open(dbPathOf(e.config));
    const lifecycle = new RunLifecycle(store, permissivePolicy(), () => 0.5);
    new Planner(store, lifecycle).planDue(T0 + MIN);
    const claim = lifecycle.claimNext(1, T0 + MIN)!;
    const run = claim.run;
    if (status === 'claimed') {
      // Databases written before claim and dialing became one commit can hold a bare claim.
      store.db
        .prepare(`UPDATE attempts SET status = 'claimed', dial_at = NULL WHERE id = ?`)
        .run(claim.attempt.id);
      store.db.prepare('UPDATE runs SET dials = 0 WHERE id = ?').run(run.id);
    }
    if (status === 'active') lifecycle.markCall(claim, 'active', T0 + MIN + 5000);
    oldAttempt = claim.attempt.id;
    store.close();
    e = await startEngine({ dir, start: T0 + MIN + 10_000 });
    return run.id;
  }

  it('an attempt that was only claimed is requeued and dialled (no dial had been made)', async () => {
    const runId = await crashWithAttemptIn('claimed');
    expect(e!.agent.reconcileReport.requeued).toBe(1);
    await e!.advance(1000);
    expect(e!.modem.dials).toHaveLength(1);
    expect(e!.agent.store.runs.getAttempt(oldAttempt)).toMatchObject({ status: 'abandoned' });
    expect(e!.agent.store.runs.get(runId)!.dials).toBe(1);
  });

  it('an attempt that was dialing is recorded as interrupted and retried only after the backoff', async () => {
    const runId = await crashWithAttemptIn('dialing');
    expect(e!.agent.reconcileReport.interrupted).toBe(1);
    await e!.advance(1000);
    expect(e!.modem.dials).toHaveLength(0); // no blind redial
    const run = e!.agent.store.runs.get(runId)!;
    expect(run).toMatchObject({ status: 'retry_wait', reason: 'interrupted', dials: 1 });
    expect(e!.agent.store.runs.getAttempt(oldAttempt)).toMatchObject({
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
