/**
 * The decisions of the run lifecycle, as pure functions (docs/lifecycle.md has the tables):
 * the misfire rule (planner and claim use the same one), the retry decision after an attempt, and
 * the backoff. No I/O, no clock: everything is passed in.
 */
import type { RetryPolicy } from '../bookings/schema.js';

/** Outcomes that end a run successfully: the callee was reached. */
export const SUCCESS_OUTCOMES: ReadonlySet<string> = new Set([
  'completed',
  'interrupted_after_answer',
]);

/** An attempt cut short by the agent itself (stop or crash) before anyone answered. */
export const INTERRUPTED = 'interrupted';

/** Interruptions by the agent that do not use up an attempt; after these, they count. */
export const FREE_INTERRUPTIONS = 2;

export type MisfireDecision =
  | { fire: true; reason: null | 'misfire_fire_once'; latenessMs: number }
  | { fire: false; reason: 'misfire_skipped'; latenessMs: number };

/**
 * Rule 9 after downtime: a slot no older than the catch-up window fires normally; an older one
 * follows the booking's misfire policy — `fire_once` fires it (marked late), `skip` skips it with
 * the reason. Used when a slot is planned and again when its first attempt is claimed (a slot
 * planned on time can go stale before it is dialled: a long hold, a clock jump, a busy line).
 */
export function decideMisfire(
  spec: { catchUpWindowSec: number; misfire: 'fire_once' | 'skip' },
  slotAt: number,
  now: number,
): MisfireDecision {
  const latenessMs = Math.max(0, now - slotAt);
  if (latenessMs <= spec.catchUpWindowSec * 1000) return { fire: true, reason: null, latenessMs };
  if (spec.misfire === 'skip') return { fire: false, reason: 'misfire_skipped', latenessMs };
  return { fire: true, reason: 'misfire_fire_once', latenessMs };
}

/**
 * Capped exponential backoff with +/- jitter: initial * 2^(n-1), at most max, then multiplied by a
 * factor in [1 - jitter, 1 + jitter] so a fleet's retries do not line up.
 * `attemptsUsed` is the number of attempts already used (>= 1).
 */
export function backoffMs(policy: RetryPolicy, attemptsUsed: number, random: () => number): number {
  const base = Math.min(
    policy.maxBackoffSec,
    policy.initialBackoffSec * 2 ** Math.max(0, attemptsUsed - 1),
  );
  const factor = 1 + policy.jitter * (2 * random() - 1);
  return Math.round(base * factor * 1000);
}

export type RunDecision =
  | { status: 'completed'; reason: string; dueAt: null }
  | { status: 'retry_wait'; reason: string; dueAt: number }
  | { status: 'dead'; reason: string; dueAt: null }
  | { status: 'cancelled'; reason: string; dueAt: null };

export interface AttemptFacts {
  outcome: string;
  answered: boolean;
  /** Attempts dialled for the run since the last replay, this one included. */
  dials: number;
  /** Of those, how many the agent itself interrupted before an answer (this one included). */
  interruptions: number;
  maxAttempts: number;
  /** The booking's current retry policy (re-read: an edit applies to the next attempt). */
  retry: RetryPolicy;
  /** Set when a cancel, pause or superseding edit reached the run. */
  cancelReason: string | null;
}

/** What becomes of a run after one of its attempts ended (docs/lifecycle.md, outcome table). */
export function decideAfterAttempt(
  f: AttemptFacts,
  now: number,
  random: () => number,
): RunDecision {
  if (f.answered || SUCCESS_OUTCOMES.has(f.outcome))
    return { status: 'completed', reason: f.outcome, dueAt: null };
  if (f.cancelReason !== null) return { status: 'cancelled', reason: f.cancelReason, dueAt: null };
  const used = f.dials - Math.min(f.interruptions, FREE_INTERRUPTIONS);
  if (used >= f.maxAttempts) {
    return { status: 'dead', reason: `${f.outcome}_after_${f.dials}_attempts`, dueAt: null };
  }
  return {
    status: 'retry_wait',
    reason: f.outcome,
    dueAt: now + backoffMs(f.retry, Math.max(1, used), random),
  };
}
