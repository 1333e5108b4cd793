/** Retry decisions: which outcomes are worth another attempt, and how long to wait. */
import type { RetryPolicy } from '../bookings/schema.js';

/** Outcomes that end a run successfully: the callee was reached. */
export const SUCCESS_OUTCOMES = new Set(['completed', 'interrupted_after_answer']);

/**
 * Capped exponential backoff with +/- jitter: initial * 2^(n-1), at most max, then multiplied by a
 * factor in [1 - jitter, 1 + jitter] so a fleet's retries do not line up.
 * `dials` is the number of attempts already dialled (>= 1).
 */
export function backoffMs(policy: RetryPolicy, dials: number, random: () => number): number {
  const base = Math.min(
    policy.maxBackoffSec,
    policy.initialBackoffSec * 2 ** Math.max(0, dials - 1),
  );
  const factor = 1 + policy.jitter * (2 * random() - 1);
  return Math.round(base * factor * 1000);
}

export type RunDecision =
  | { status: 'completed'; reason: string }
  | { status: 'retry_wait'; dueAt: number; reason: string }
  | { status: 'dead'; reason: string };

export function decideAfterAttempt(
  outcome: string,
  dials: number,
  maxAttempts: number,
  policy: RetryPolicy,
  now: number,
  random: () => number,
): RunDecision {
  if (SUCCESS_OUTCOMES.has(outcome)) return { status: 'completed', reason: outcome };
  if (dials >= maxAttempts) {
    return { status: 'dead', reason: `${outcome}_after_${dials}_attempts` };
  }
  return { status: 'retry_wait', dueAt: now + backoffMs(policy, dials, random), reason: outcome };
}
