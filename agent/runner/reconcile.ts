/**
 * Start-up reconciliation (rules 3 and 4). A new boot epoch is taken first; every attempt of an
 * earlier epoch that was still live is settled with a recorded reason before anything dials:
 *
 * | attempt state at the crash | what we know                         | policy                                   |
 * |----------------------------|--------------------------------------|------------------------------------------|
 * | claimed                    | the modem was never asked to dial    | run back to pending, due now (no dial was made) |
 * | dialing / alerting         | the phone may have rung; not answered | attempt ends `interrupted`; the normal retry policy applies (backoff, max attempts): never an immediate redial |
 * | active                     | the callee answered                  | attempt ends `interrupted_after_answer`; run completed: the resident was reached, no redial |
 *
 * A call the modem may still hold from the dead process is hung up first (`hangupAll`).
 */
import type { Store } from '../store/store.js';
import { META } from '../store/meta.js';
import type { RetryPolicy } from '../bookings/schema.js';
import { decideAfterAttempt } from './retry.js';
import { attemptPayload, runStatePayload } from './events.js';

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
  bootEpoch: number,
  now: number,
  random: () => number = Math.random,
): ReconcileReport {
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
      if (!run) continue;
      // Take over the lease in the store's name: the old process is gone (new boot epoch).
      const takeOver = (
        status: 'pending' | 'retry_wait' | 'completed' | 'dead',
        reason: string,
        dueAt?: number,
      ) =>
        store.runs.transition(run.id, 'running', {
          status,
          now,
          reason,
          ...(dueAt !== undefined ? { dueAt } : {}),
        });
      if (a.status === 'claimed') {
        store.db
          .prepare(
            `UPDATE attempts SET status = 'abandoned', ended_at = ?, outcome = 'abandoned',
             detail = 'agent restarted before dialing' WHERE id = ?`,
          )
          .run(now, a.id);
        takeOver('pending', 'agent_restarted_before_dial', now);
        store.outbox.add(
          'run.state',
          runStatePayload(run, 'pending', 'agent_restarted_before_dial'),
          now,
        );
        report.requeued++;
        continue;
      }
      const answered = a.status === 'active';
      const outcome = answered ? 'interrupted_after_answer' : 'interrupted';
      store.db
        .prepare(
          `UPDATE attempts SET status = 'ended', ended_at = ?, outcome = ?,
           detail = 'agent restarted during the call (boot epoch ' || ? || ')' WHERE id = ?`,
        )
        .run(now, outcome, a.bootEpoch, a.id);
      const decision = decideAfterAttempt(
        outcome,
        run.dials,
        run.maxAttempts,
        run.call.retry as RetryPolicy,
        now,
        random,
      );
      takeOver(
        decision.status,
        decision.reason,
        decision.status === 'retry_wait' ? decision.dueAt : undefined,
      );
      store.outbox.add(
        'attempt.ended',
        attemptPayload(run, a, {
          outcome,
          answered,
          endedBy: 'agent_restart',
          detail: 'agent restarted during the call',
        }),
        now,
      );
      store.outbox.add(
        'run.state',
        runStatePayload(run, decision.status, decision.reason, {
          dials: run.dials,
          ...(decision.status === 'retry_wait'
            ? { retryAt: new Date(decision.dueAt).toISOString() }
            : {}),
        }),
        now,
      );
      if (answered) report.completedAfterAnswer++;
      else report.interrupted++;
    }
    // A run left 'running' without any live attempt cannot happen through the runner; heal it anyway.
    store.db
      .prepare(
        `UPDATE runs SET status = 'pending', lease_attempt_id = NULL, reason = 'healed_orphan_running', updated_at = ?
         WHERE status = 'running' AND NOT EXISTS (
           SELECT 1 FROM attempts WHERE attempts.id = runs.lease_attempt_id
             AND attempts.status IN ('claimed', 'dialing', 'alerting', 'active'))`,
      )
      .run(now);
  });
  return report;
}
