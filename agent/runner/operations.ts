/**
 * Operator actions shared by the CLI, the diagnostics endpoint and cloud controls: a test call,
 * replaying a dead-lettered run. Each writes its change and its outbox event in one transaction;
 * the runner picks the work up on its next kick.
 */
import { randomUUID } from 'node:crypto';
import type { Store } from '../store/store.js';
import type { RunRow } from '../store/runs-repo.js';
import { runStatePayload } from './events.js';

export class OperationError extends Error {
  constructor(
    message: string,
    readonly code: 'not_found' | 'conflict' | 'invalid',
  ) {
    super(message);
    this.name = 'OperationError';
  }
}

export interface TestCallRequest {
  callee: string;
  agentId?: string;
  ringTimeoutSec?: number;
  maxDurationSec?: number;
  requestedBy: string;
}

export function requestTestCall(store: Store, req: TestCallRequest, now: number): RunRow {
  const id = randomUUID();
  store.tx(() => {
    store.runs.insert(
      {
        id,
        bookingId: null,
        kind: 'test',
        slotAt: now,
        status: 'pending',
        dueAt: now,
        maxAttempts: 1,
        call: {
          callee: req.callee,
          agentId: req.agentId ?? 'test-call',
          ringTimeoutSec: req.ringTimeoutSec ?? 30,
          maxDurationSec: req.maxDurationSec ?? 60,
          retry: { maxAttempts: 1, initialBackoffSec: 60, maxBackoffSec: 60, jitter: 0 },
          allowQuietHours: true,
        },
        reason: `test_call_by_${req.requestedBy}`,
      },
      now,
    );
    const run = store.runs.get(id)!;
    store.outbox.add(
      'run.state',
      runStatePayload(run, 'pending', run.reason, { requestedBy: req.requestedBy }),
      now,
    );
  });
  return store.runs.get(id)!;
}

/** Put a dead-lettered run back in the queue with a fresh set of attempts. */
export function replayDeadRun(
  store: Store,
  runId: string,
  requestedBy: string,
  now: number,
): RunRow {
  return store.tx(() => {
    const run = store.runs.get(runId);
    if (!run) throw new OperationError(`no run with id ${runId}`, 'not_found');
    if (run.status !== 'dead') {
      throw new OperationError(
        `run ${runId} is ${run.status}; only dead-lettered runs can be replayed`,
        'conflict',
      );
    }
    store.runs.transition(runId, 'dead', {
      status: 'pending',
      now,
      dueAt: now,
      reason: `replayed_by_${requestedBy}`,
      replay: true,
    });
    store.outbox.add(
      'run.state',
      runStatePayload(run, 'pending', `replayed_by_${requestedBy}`, { replays: run.replays + 1 }),
      now,
    );
    return store.runs.get(runId)!;
  });
}
