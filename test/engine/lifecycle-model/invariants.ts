/**
 * What must hold after every step of the lifecycle model test (docs/lifecycle.md, "Invariants").
 * Read from the unit's own store, the simulator's dial records and the reference model; a failure
 * throws with the invariant's name, and fast-check shrinks the run to the shortest sequence.
 */
import { FREE_INTERRUPTIONS } from '../../../agent/lifecycle/policy.js';
import { RESTART_HOLD_MS } from '../../../agent/app.js';
import { TZDATA_VERSION_KEY } from '../../../agent/bookings/zone-rules-change.js';
import type { AttemptRow, RunRow } from '../../../agent/store/runs-repo.js';
import type { OutboxEvent } from '../../../agent/store/outbox.js';
import type { LifecycleModel } from './model.js';
import type { ModelUnit } from './unit.js';

const TERMINAL = new Set(['completed', 'dead', 'skipped', 'cancelled', 'refused']);
const REACHED = new Set(['completed', 'interrupted_after_answer']);

class Violation extends Error {
  constructor(invariant: string, detail: string) {
    super(`${invariant}: ${detail}`);
    this.name = 'InvariantViolation';
  }
}

function fail(invariant: string, detail: string): never {
  throw new Violation(invariant, detail);
}

/** Attempts seen at an earlier step, with the step that claimed them. */
const claimedAt = new WeakMap<ModelUnit, Map<string, number>>();

export function checkInvariants(m: LifecycleModel, r: ModelUnit, final = false): void {
  const store = r.proc.agent.store;
  const runs = store.db.prepare('SELECT id FROM runs').all() as { id: string }[];
  const runRows = runs.map((x) => store.runs.get(x.id)!);
  const attempts = runRows.flatMap((x) => store.runs.attemptsOf(x.id));
  const outbox = store.outbox.pending(1_000_000, 0);
  const seen = claimedAt.get(r) ?? new Map<string, number>();
  claimedAt.set(r, seen);

  // Process exits are allowed only for a transient error that would not clear (exit + reconcile).
  for (const x of r.exits) {
    if ((x.err as Error).name !== 'TransientGaveUp')
      fail('unexpected_exit', `${x.where}: ${String((x.err as Error).stack ?? x.err)}`);
  }

  const runById = new Map(runRows.map((x) => [x.id, x]));
  for (const a of attempts) {
    if (seen.has(a.id)) continue;
    seen.set(a.id, m.step);
    const run = runById.get(a.runId)!;
    // 1 + 2. A new dial: its booking was live, and the number is that of the version it was claimed under.
    if (run.kind === 'test') {
      if (a.dialed !== m.testCalls.get(run.id))
        fail('dialled_wrong_number', `test run ${run.id} dialled ${a.dialed}`);
      continue;
    }
    const b = m.bookings.get(run.bookingId!);
    if (!b) fail('dial_without_booking', `${run.id} of unknown booking ${run.bookingId}`);
    if (b.status !== 'active')
      fail('dial_after_cancel_or_pause', `${a.id} of ${b.id} claimed while it is ${b.status}`);
    if (a.bookingVersion !== b.version)
      fail(
        'dial_not_current_version',
        `${a.id} claimed under v${a.bookingVersion}, current v${b.version}`,
      );
    const committed = m.atVersion(b.id, a.bookingVersion!);
    if (!committed || committed.callee !== a.dialed)
      fail(
        'dialled_wrong_number',
        `${a.id} dialled ${a.dialed}, v${a.bookingVersion} says ${committed?.callee}`,
      );
  }

  // The modem dialled only what was recorded first (rule 4), in the same order and numbers.
  const recorded = attempts.filter(
    (a) => a.dialed !== null && !(a.detail ?? '').startsWith('not dialled'),
  );
  if (r.dials.length > recorded.length)
    fail('dial_without_record', `${r.dials.length} modem dials, ${recorded.length} recorded`);

  // 3. One voice line: at most one live attempt; the modem never saw two calls at once.
  const live = store.runs.liveAttempts();
  if (live.length > 1) fail('two_calls_at_once', live.map((a) => a.id).join(', '));
  for (const a of attempts)
    if ((a.detail ?? '').includes('already up')) fail('two_calls_at_once', `${a.id}: ${a.detail}`);

  for (const run of runRows) {
    const own = attempts
      .filter((a) => a.runId === run.id)
      .sort((x, y) => x.attemptNo - y.attemptNo);
    checkRetries(m, run, own);
    checkEvents(run, own, outbox);
    checkPunctual(m, run, own, attempts, outbox, r.now);
  }

  // A call still ringing when a cancel or pause committed is hung up at once: it ends within a
  // few seconds as `cancelled` (unless it was answered or ended on its own first) — also on a
  // wedged modem that ignores the hang-up: the line is cleared after a short grace. (This once
  // exempted wedged calls, judged by the callee's rule *now*; a rule changed after the dial let a
  // wedged call run to its deadline, 49 s after the cancel — found by a 1,000-run soak, seed 7.)
  for (const c of m.ringingAtCancel) {
    const a = store.runs.getAttempt(c.attemptId);
    if (!a || a.answeredAt !== null) continue;
    const endedAt = a.status === 'ended' ? a.endedAt! : null;
    const held = m.disturbedBetween(c.wall, (endedAt ?? r.now) + 1);
    if (held) continue; // a busy store delays the record, not the hang-up; a restart ends it anyway
    if (endedAt === null && r.now - c.wall > 3_000)
      fail('cancel_not_hung_up', `${a.id} still up ${r.now - c.wall} ms after the cancel`);
    if (endedAt !== null && endedAt - c.wall > 3_000)
      fail(
        'cancel_not_hung_up',
        `${a.id} ended ${endedAt - c.wall} ms after the cancel (${a.outcome})`,
      );
  }

  // 8. The bookings counted by status (from indexes: the total and a partial index of the bookings
  // not active, migration 0009) are what the table's rows say, whatever cancels, pauses, edits,
  // completions, crashes and restarts did to them.
  const byRow: Record<string, number> = { active: 0, paused: 0, completed: 0, cancelled: 0 };
  for (const b of store.db.prepare('SELECT status FROM bookings NOT INDEXED').all() as {
    status: string;
  }[])
    byRow[b.status] = (byRow[b.status] ?? 0) + 1;
  const counted = store.bookings.counts();
  if (Object.entries(byRow).some(([k, n]) => counted[k as keyof typeof counted] !== n))
    fail('booking_counts', `counted ${JSON.stringify(counted)}, rows ${JSON.stringify(byRow)}`);

  // 9. A restart hold (SIGUSR2, agent/restart-hold.ts): nothing is claimed from the request until
  // the hold ends; it waits only while the runner still works (the call in progress), then holds
  // for exactly its time with the line free — it can neither claim, nor get stuck, nor silence
  // the unit for longer than RESTART_HOLD_MS.
  const hold = r.proc.agent.restartHold();
  if (!hold || hold.state === 'open') {
    if (r.proc.hold) r.holdsExpired++; // the same process, asked before: its hold ran out
    r.proc.hold = null;
  } else {
    if (r.proc.hold && attempts.length > r.proc.hold.attempts)
      fail(
        'claimed_during_restart_hold',
        `${attempts.length - r.proc.hold.attempts} attempt(s) since the request (${hold.state})`,
      );
    if (hold.state === 'waiting' && !r.proc.agent.runner.working())
      fail('restart_hold_stuck', `waiting since ${hold.since} with the runner idle`);
    if (hold.state === 'held' && r.proc.agent.runner.busy() !== null)
      fail('restart_hold_with_call', `held while ${r.proc.agent.runner.busy()!.attemptId} is up`);
    if (hold.state === 'held' && hold.until - hold.since !== RESTART_HOLD_MS)
      fail('restart_hold_length', `held ${hold.until - hold.since} ms`);
  }

  // 10. New tzdata with the same rules for the model's zones: the stored next slots are computed
  // again at start (agent/bookings/zone-rules-change.ts) and none may move; the store has recorded
  // the version the process started with.
  const moved = outbox.filter(
    (e) => e.type === 'booking.state' && e.payload.reason === 'zone_rules_changed',
  );
  if (moved.length > 0)
    fail('slot_moved_without_rule_change', JSON.stringify(moved.map((e) => e.payload)));
  if (store.meta.get(TZDATA_VERSION_KEY) !== r.tzdata)
    fail('tzdata_version_not_recorded', `${store.meta.get(TZDATA_VERSION_KEY)} vs ${r.tzdata}`);

  if (final) {
    // 7. Time ran out: nothing is left owed or in flight.
    for (const run of runRows)
      if (!TERMINAL.has(run.status))
        fail('run_not_terminal', `${run.id} is ${run.status} (due ${run.dueAt}, now ${r.now})`);
  }
}

/** 4. No slot dialled twice without a recorded retry or replay. */
function checkRetries(m: LifecycleModel, run: RunRow, own: AttemptRow[]): void {
  const budget = (run.bookingId ? (m.maxAttempts.get(run.bookingId) ?? 3) : 1) + FREE_INTERRUPTIONS;
  if (own.length > (run.replays + 1) * budget)
    fail('dialled_beyond_retries', `${run.id}: ${own.length} attempts, ${run.replays} replays`);
  for (let i = 1; i < own.length; i++) {
    const prev = own[i - 1]!;
    if (prev.status !== 'ended' && prev.status !== 'abandoned')
      fail('redial_while_live', `${run.id}: attempt ${i + 1} while ${prev.id} is ${prev.status}`);
    if (REACHED.has(prev.outcome ?? '') || prev.outcome === 'cancelled')
      fail('redial_after_reached_or_cancelled', `${run.id}: after ${prev.outcome}`);
  }
}

/** 6. Every run and attempt state change has its outbox event, and the last one says the state. */
function checkEvents(run: RunRow, own: AttemptRow[], outbox: OutboxEvent[]): void {
  const mine = outbox.filter((e) => e.payload.runId === run.id);
  let status: string | null = null;
  for (const e of mine) {
    if (e.type === 'run.state') {
      const s = String(e.payload.status);
      status = s === 'cancelling' ? 'running' : s;
    } else if (e.type === 'attempt.dialing') status = 'running';
  }
  if (status !== run.status)
    fail('state_without_event', `${run.id} is ${run.status}; its events say ${status}`);
  for (const a of own) {
    const dialing = mine.filter(
      (e) => e.type === 'attempt.dialing' && e.payload.attemptId === a.id,
    );
    if (dialing.length !== 1)
      fail('attempt_without_event', `${a.id}: ${dialing.length} attempt.dialing events`);
    const ended = mine.filter((e) => e.type === 'attempt.ended' && e.payload.attemptId === a.id);
    if (a.status === 'ended' && (ended.length !== 1 || ended[0]!.payload.outcome !== a.outcome))
      fail('attempt_without_event', `${a.id} ended ${a.outcome}; events: ${ended.length}`);
  }
}

/** 5. A retry is dialled at its due time when nothing stood in the way (never early, never late). */
function checkPunctual(
  m: LifecycleModel,
  run: RunRow,
  own: AttemptRow[],
  all: AttemptRow[],
  outbox: OutboxEvent[],
  now: number,
): void {
  const waits = outbox.filter(
    (e) =>
      e.type === 'run.state' && e.payload.runId === run.id && e.payload.status === 'retry_wait',
  );
  for (const w of waits) {
    const due = Date.parse(String(w.payload.retryAt));
    const next = own.find(
      (a) => a.claimedAt >= w.createdAt && a.attemptNo > 1 && seqAfter(a, w, outbox),
    );
    if (next && next.claimedAt < due)
      fail('retry_early', `${run.id}: claimed ${next.claimedAt}, due ${due}`);
    if (due > now) continue;
    const disturbed = m.disturbedBetween(w.createdAt, due + 1);
    // Another call held the one line when it fell due.
    const lineBusy = all.some(
      (a) =>
        a.runId !== run.id &&
        a.dialAt !== null &&
        a.dialAt <= due &&
        (a.endedAt ?? Infinity) >= due,
    );
    if (disturbed || lineBusy) continue;
    if (!next) {
      const settled = TERMINAL.has(run.status) && run.updatedAt <= due;
      if (!settled && run.status === 'retry_wait' && run.dueAt === due)
        fail('retry_late', `${run.id}: due ${due}, not dialled by ${now}`);
      continue;
    }
    if (next.claimedAt !== due)
      fail(
        'retry_late',
        `${run.id}: due ${due}, claimed ${next.claimedAt} (+${next.claimedAt - due} ms)`,
      );
  }
}

/** The attempt was claimed after the event (by outbox order of its dialing event). */
function seqAfter(a: AttemptRow, w: OutboxEvent, outbox: OutboxEvent[]): boolean {
  const d = outbox.find((e) => e.type === 'attempt.dialing' && e.payload.attemptId === a.id);
  return d !== undefined && d.seq > w.seq;
}
