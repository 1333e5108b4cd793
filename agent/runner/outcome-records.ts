/**
 * The end of an attempt, written in one transaction and fenced on the attempt id: the attempt's
 * outcome, the run's next state (completed, retry after backoff, dead letter, refused) and the
 * outbox events the cloud hears. A stale attempt writes nothing and gets null back.
 */
import type { Store } from '../store/store.js';
import type { AttemptRow, RunRow } from '../store/runs-repo.js';
import type { CallOutcome } from '../../hal/types.js';
import { decideAfterAttempt, type RunDecision } from './retry.js';
import { attemptPayload, runStatePayload } from './events.js';

export function recordRefusal(
  store: Store,
  run: RunRow,
  attempt: AttemptRow,
  v: { reason: string; message: string },
  now: number,
): boolean {
  const reason = `dial_policy:${v.reason}`;
  return store.tx(() => {
    const ok = store.runs.updateAttempt(attempt.id, {
      status: 'refused',
      now,
      leaseExpiresAt: now,
      endedAt: now,
      outcome: 'refused',
      detail: v.message,
    });
    if (!ok) return false;
    store.runs.finishAttemptRun(run.id, attempt.id, { status: 'refused', now, reason });
    store.outbox.add(
      'run.state',
      runStatePayload(run, 'refused', reason, { message: v.message }),
      now,
    );
    return true;
  });
}

export function recordOutcome(
  store: Store,
  run: RunRow,
  attempt: AttemptRow,
  o: CallOutcome,
  now: number,
  random: () => number,
): RunDecision | null {
  return store.tx(() => {
    const ok = store.runs.updateAttempt(attempt.id, {
      status: 'ended',
      now,
      leaseExpiresAt: now,
      endedAt: o.endedAt,
      outcome: o.result,
      ...(o.answeredAt !== null ? { answeredAt: o.answeredAt } : {}),
      ...(o.detail ? { detail: o.detail } : {}),
    });
    if (!ok) return null;
    const dials = store.runs.get(run.id)!.dials;
    const decision = decideAfterAttempt(
      o.result,
      dials,
      run.maxAttempts,
      run.call.retry,
      now,
      random,
    );
    store.runs.finishAttemptRun(run.id, attempt.id, {
      status: decision.status,
      now,
      reason: decision.reason,
      ...(decision.status === 'retry_wait' ? { dueAt: decision.dueAt } : {}),
    });
    store.outbox.add(
      'attempt.ended',
      attemptPayload(run, attempt, {
        outcome: o.result,
        answered: o.answered,
        answeredAt: o.answeredAt === null ? null : new Date(o.answeredAt).toISOString(),
        endedAt: new Date(o.endedAt).toISOString(),
        endedBy: o.endedBy,
        detail: o.detail ?? null,
      }),
      now,
    );
    store.outbox.add(
      'run.state',
      runStatePayload(run, decision.status, decision.reason, {
        dials,
        ...(decision.status === 'retry_wait'
          ? { retryAt: new Date(decision.dueAt).toISOString() }
          : {}),
      }),
      now,
    );
    return decision;
  });
}
