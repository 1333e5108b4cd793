/**
 * Start-up reconciliation (rules 3 and 4; docs/lifecycle.md "After a crash or power cut"). A new
 * boot epoch is taken first; every attempt of an earlier epoch that was still live is settled with
 * a recorded reason before anything dials:
 *
 * | attempt state at the crash | policy                                                             |
 * |----------------------------|--------------------------------------------------------------------|
 * | claimed (older databases)  | never dialled: run back to pending, due now                        |
 * | dialing / alerting         | attempt ends `interrupted`; the outcome table applies (backoff)    |
 * | active                     | attempt ends `interrupted_after_answer`; run completed             |
 * | any, cancel requested      | run cancelled                                                      |
 *
 * The caller hangs up whatever call the modem may still hold from the dead process first.
 */
import type { Store } from '../store/store.js';
import { META } from '../store/meta.js';
import { attemptEndedEvent, isoOf, runStateEvent } from './events.js';
import { bookingGoneReason, type RunLifecycle } from './lifecycle.js';
import { decideAfterAttempt, INTERRUPTED } from './policy.js';

export interface ReconcileReport {
  bootEpoch: number;
  requeued: number;
  interrupted: number;
  completedAfterAnswer: number;
}

/** Bump the boot epoch durably; returns the new epoch. */
export function beginBootEpoch(store: Store): number {
  return store.tx(() => {
    const epoch = (store.meta.getNumber(META.bootEpoch) ?? 0) + 1;
    store.meta.set(META.bootEpoch, epoch);
    return epoch;
  });
}

export function reconcilePreviousBoots(
  store: Store,
  lifecycle: RunLifecycle,
  bootEpoch: number,
  now: number,
  random: () => number = Math.random,
): ReconcileReport {
  const w = lifecycle.writes;
  const report: ReconcileReport = {
    bootEpoch,
    requeued: 0,
    interrupted: 0,
    completedAfterAnswer: 0,
  };
  store.tx(() => {
    for (const a of store.runs.liveAttempts()) {
      if (a.bootEpoch >= bootEpoch) continue;
      const run = store.runs.get(a.runId);
      if (!run || run.leaseAttemptId !== a.id) continue;
      if (a.status === 'claimed') {
        w.abandonOldAttempt(a.id, bootEpoch, 'agent restarted before dialing', now);
        const status = run.cancelReason !== null ? 'cancelled' : 'pending';
        const reason = run.cancelReason ?? 'agent_restarted_before_dial';
        w.releaseOldRun({ runId: run.id, attemptId: a.id, status, reason, dueAt: now, now });
        store.outbox.add('run.state', runStateEvent(run, status, reason), now);
        report.requeued++;
        continue;
      }
      const answered = a.status === 'active';
      const outcome = answered ? 'interrupted_after_answer' : INTERRUPTED;
      const detail = `agent restarted during the call (boot epoch ${a.bootEpoch})`;
      w.endOldAttempt({ attemptId: a.id, bootEpoch, outcome, detail, now });
      const b = run.bookingId === null ? null : store.bookings.get(run.bookingId);
      const spec = b?.spec ?? null;
      const decision = decideAfterAttempt(
        {
          outcome,
          answered,
          dials: run.dials,
          interruptions: store.runs.outcomesOf(run.id, INTERRUPTED),
          maxAttempts: spec ? spec.retry.maxAttempts : run.maxAttempts,
          retry: spec ? spec.retry : run.call.retry,
          cancelReason:
            run.cancelReason ?? (run.kind === 'booking' ? bookingGoneReason(b, run.slotAt) : null),
        },
        now,
        random,
      );
      w.releaseOldRun({
        runId: run.id,
        attemptId: a.id,
        status: decision.status,
        reason: decision.reason,
        dueAt: decision.dueAt,
        now,
      });
      store.outbox.add(
        'attempt.ended',
        attemptEndedEvent(run, a, {
          outcome,
          answeredAt: a.answeredAt,
          endedAt: now,
          endedBy: 'agent',
          detail,
        }),
        now,
      );
      store.outbox.add(
        'run.state',
        runStateEvent(run, decision.status, decision.reason, {
          ...(decision.dueAt !== null ? { retryAt: isoOf(decision.dueAt) } : {}),
        }),
        now,
      );
      if (answered) report.completedAfterAnswer++;
      else report.interrupted++;
    }
    // A run left 'running' without any live attempt cannot happen through the lifecycle; heal it.
    w.healOrphans(now);
  });
  return report;
}
