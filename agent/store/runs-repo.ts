/**
 * Read queries on runs (owed calls) and attempts (dials of a run). Writes live in
 * agent/lifecycle/run-writes.ts and are made only by the run lifecycle (docs/lifecycle.md).
 */
import type { Db } from './db.js';
import type { RetryPolicy } from '../bookings/schema.js';

export type RunStatus =
  'pending' | 'running' | 'retry_wait' | 'completed' | 'dead' | 'skipped' | 'cancelled' | 'refused';
export type RunKind = 'booking' | 'test';
export type AttemptStatus =
  'claimed' | 'dialing' | 'alerting' | 'active' | 'ended' | 'abandoned' | 'refused';

/** What to dial, frozen into the run when it is planned, so a run is self-contained. */
export interface CallSpec {
  callee: string;
  agentId: string;
  ringTimeoutSec: number;
  maxDurationSec: number;
  retry: RetryPolicy;
  allowQuietHours: boolean;
  /** The booking's announcement: a prompt name, null for none, absent for the unit's default. */
  announcement?: string | null;
}

export interface RunRow {
  id: string;
  bookingId: string | null;
  kind: RunKind;
  slotAt: number;
  status: RunStatus;
  dueAt: number;
  dials: number;
  maxAttempts: number;
  replays: number;
  call: CallSpec;
  leaseAttemptId: string | null;
  reason: string | null;
  /** The booking version the run was planned or last claimed under (null: test call). */
  bookingVersion: number | null;
  /** Set while a cancel that reached the running call waits for its outcome. */
  cancelReason: string | null;
  createdAt: number;
  updatedAt: number;
  finishedAt: number | null;
}

export interface AttemptRow {
  id: string;
  runId: string;
  attemptNo: number;
  bootEpoch: number;
  status: AttemptStatus;
  /** The booking version current when it was claimed, and the E.164 number it dialled. */
  bookingVersion: number | null;
  dialed: string | null;
  claimedAt: number;
  dialAt: number | null;
  answeredAt: number | null;
  endedAt: number | null;
  outcome: string | null;
  detail: string | null;
  latenessMs: number | null;
}

interface RawRun {
  id: string;
  booking_id: string | null;
  kind: RunKind;
  slot_at: number;
  status: RunStatus;
  due_at: number;
  dials: number;
  max_attempts: number;
  replays: number;
  call: string;
  lease_attempt_id: string | null;
  reason: string | null;
  booking_version: number | null;
  cancel_reason: string | null;
  created_at: number;
  updated_at: number;
  finished_at: number | null;
}

interface RawAttempt {
  id: string;
  run_id: string;
  attempt_no: number;
  boot_epoch: number;
  status: AttemptStatus;
  booking_version: number | null;
  dialed: string | null;
  claimed_at: number;
  dial_at: number | null;
  answered_at: number | null;
  ended_at: number | null;
  outcome: string | null;
  detail: string | null;
  lateness_ms: number | null;
}

const toRun = (r: RawRun): RunRow => ({
  id: r.id,
  bookingId: r.booking_id,
  kind: r.kind,
  slotAt: r.slot_at,
  status: r.status,
  dueAt: r.due_at,
  dials: r.dials,
  maxAttempts: r.max_attempts,
  replays: r.replays,
  call: JSON.parse(r.call) as CallSpec,
  leaseAttemptId: r.lease_attempt_id,
  reason: r.reason,
  bookingVersion: r.booking_version,
  cancelReason: r.cancel_reason,
  createdAt: r.created_at,
  updatedAt: r.updated_at,
  finishedAt: r.finished_at,
});

const toAttempt = (r: RawAttempt): AttemptRow => ({
  id: r.id,
  runId: r.run_id,
  attemptNo: r.attempt_no,
  bootEpoch: r.boot_epoch,
  status: r.status,
  bookingVersion: r.booking_version,
  dialed: r.dialed,
  claimedAt: r.claimed_at,
  dialAt: r.dial_at,
  answeredAt: r.answered_at,
  endedAt: r.ended_at,
  outcome: r.outcome,
  detail: r.detail,
  latenessMs: r.lateness_ms,
});

export const LIVE_ATTEMPT = ['claimed', 'dialing', 'alerting', 'active'] as const;
export const TERMINAL_RUN: readonly RunStatus[] = [
  'completed',
  'dead',
  'skipped',
  'cancelled',
  'refused',
];

export class RunsRepo {
  private readonly s;

  constructor(db: Db) {
    const p = <P extends unknown[], R = unknown>(sql: string) => db.prepare<P, R>(sql);
    this.s = {
      get: p<[string], RawRun>('SELECT * FROM runs WHERE id = ?'),
      // Both through runs_due, which holds their order (0006): SQLite's own pick, runs_status,
      // sorted every waiting run to return one.
      nextDue: p<[number], RawRun>(
        `SELECT * FROM runs INDEXED BY runs_due
         WHERE status IN ('pending', 'retry_wait') AND due_at <= ?
         ORDER BY due_at, slot_at, created_at LIMIT 1`,
      ),
      nextDueAt: p<[number], { t: number | null }>(
        `SELECT min(due_at) AS t FROM runs INDEXED BY runs_due
         WHERE status IN ('pending', 'retry_wait') AND due_at > ?`,
      ),
      getAttempt: p<[string], RawAttempt>('SELECT * FROM attempts WHERE id = ?'),
      attemptsOfRun: p<[string], RawAttempt>(
        'SELECT * FROM attempts WHERE run_id = ? ORDER BY attempt_no',
      ),
      outcomesOf: p<[string, string], { n: number }>(
        'SELECT count(*) AS n FROM attempts WHERE run_id = ? AND outcome = ?',
      ),
      liveAttempts: p<[], RawAttempt>(
        `SELECT * FROM attempts WHERE status IN ('claimed', 'dialing', 'alerting', 'active') ORDER BY claimed_at`,
      ),
      openOfBooking: p<[string], RawRun>(
        `SELECT * FROM runs WHERE booking_id = ? AND status IN ('pending', 'retry_wait')`,
      ),
      runningOfBooking: p<[string], RawRun>(
        `SELECT * FROM runs WHERE booking_id = ? AND status = 'running'`,
      ),
      upcoming: p<[number], RawRun>(
        `SELECT * FROM runs WHERE status IN ('pending', 'retry_wait', 'running') ORDER BY due_at LIMIT +?`,
      ),
      recent: p<[number], RawRun>(
        `SELECT * FROM runs WHERE status NOT IN ('pending', 'retry_wait', 'running')
         ORDER BY coalesce(finished_at, updated_at) DESC LIMIT +?`,
      ),
      byStatus: p<[string, number], RawRun>(
        'SELECT * FROM runs WHERE status = ? ORDER BY updated_at DESC LIMIT +?',
      ),
      dialsSince: p<[number], { n: number }>(
        'SELECT count(*) AS n FROM attempts WHERE dial_at IS NOT NULL AND dial_at >= ?',
      ),
      statusCounts: p<[], { status: RunStatus; n: number }>(
        'SELECT status, count(*) AS n FROM runs GROUP BY status',
      ),
    };
  }

  get(id: string): RunRow | null {
    const r = this.s.get.get(id);
    return r ? toRun(r) : null;
  }

  nextDue(now: number): RunRow | null {
    const r = this.s.nextDue.get(now);
    return r ? toRun(r) : null;
  }

  /** The next time a waiting run falls due, strictly after `after` (runs already due are the runner's). */
  nextDueAfter(after: number): number | null {
    return this.s.nextDueAt.get(after)?.t ?? null;
  }

  getAttempt(id: string): AttemptRow | null {
    const r = this.s.getAttempt.get(id);
    return r ? toAttempt(r) : null;
  }

  attemptsOf(runId: string): AttemptRow[] {
    return this.s.attemptsOfRun.all(runId).map(toAttempt);
  }

  /** How many attempts of the run ended with this outcome. */
  outcomesOf(runId: string, outcome: string): number {
    return this.s.outcomesOf.get(runId, outcome)!.n;
  }

  liveAttempts(): AttemptRow[] {
    return this.s.liveAttempts.all().map(toAttempt);
  }

  openRunsOfBooking(bookingId: string): RunRow[] {
    return this.s.openOfBooking.all(bookingId).map(toRun);
  }

  runningOfBooking(bookingId: string): RunRow[] {
    return this.s.runningOfBooking.all(bookingId).map(toRun);
  }

  upcoming(limit = 50): RunRow[] {
    return this.s.upcoming.all(limit).map(toRun);
  }

  recent(limit = 50): RunRow[] {
    return this.s.recent.all(limit).map(toRun);
  }

  withStatus(status: RunStatus, limit = 100): RunRow[] {
    return this.s.byStatus.all(status, limit).map(toRun);
  }

  dialsSince(since: number): number {
    return this.s.dialsSince.get(since)!.n;
  }

  statusCounts(): Partial<Record<RunStatus, number>> {
    const out: Partial<Record<RunStatus, number>> = {};
    for (const r of this.s.statusCounts.all()) out[r.status] = r.n;
    return out;
  }
}
