/**
 * The invariant checker of a chaos run. Inputs are ground truth from three sides: the unit's final
 * database, the simulator's fsynced dial log (what the "modem" really dialled) and the cloud's event
 * log (every delivery, duplicates included). Attempts from a database generation that was lost to
 * corruption are known only through the cloud's events, so both sources count as "recorded".
 */
import { FREE_INTERRUPTIONS } from '../../agent/lifecycle/policy.js';
import Database from 'better-sqlite3';
import type { BookingInput } from '../../agent/bookings/schema.js';
import type { CloudEvent } from './cloud.js';

export interface CheckInput {
  dbPath: string;
  dials: { number: string; at: number }[];
  events: CloudEvent[];
  bookings: Map<string, BookingInput>;
  accepted: Set<string>;
  done: Set<string>;
  /** The unit's wall clock at the end (real time + its clock offset). */
  agentNow: number;
  backwardToleranceMs: number;
}

export interface Violation {
  invariant: string;
  detail: string;
}

export interface CheckResult {
  violations: Violation[];
  stats: {
    runs: number;
    dialsRecorded: number;
    modemDials: number;
    outcomeEvents: number;
    duplicateDeliveries: number;
    pendingRuns: number;
  };
}

const TERMINAL = ['completed', 'dead', 'skipped', 'refused', 'cancelled'];
const SLACK_MS = 2000;

interface RunRow {
  id: string;
  booking_id: string | null;
  slot_at: number;
  status: string;
  due_at: number;
  max_attempts: number;
  replays: number;
  reason: string | null;
}
interface AttemptRow {
  id: string;
  run_id: string;
  status: string;
  dial_at: number | null;
  outcome: string | null;
  lateness_ms: number | null;
}

export function checkInvariants(input: CheckInput): CheckResult {
  const v: Violation[] = [];
  const fail = (invariant: string, detail: string) => v.push({ invariant, detail });
  const db = new Database(input.dbPath, { readonly: true, fileMustExist: true });
  try {
    const runs = db.prepare('SELECT * FROM runs').all() as RunRow[];
    const attempts = db.prepare('SELECT * FROM attempts').all() as AttemptRow[];
    const held = new Set(
      (db.prepare('SELECT id FROM bookings').all() as { id: string }[]).map((b) => b.id),
    );
    const outbox = db.prepare('SELECT event_id, type, payload FROM outbox').all() as {
      event_id: string;
      type: string;
      payload: string;
    }[];
    const maxSeen = Number(
      (
        db.prepare(`SELECT value FROM meta WHERE key = 'max_seen_time'`).get() as
          { value: string } | undefined
      )?.value ?? 0,
    );

    // 1. No accepted booking lost (a one-off the cloud saw finish may be gone with a corrupt file).
    for (const id of input.accepted) {
      if (!held.has(id) && !input.done.has(id))
        fail('accepted_booking_lost', `${id} was accepted but the unit does not hold it`);
    }

    // 2. No slot dialled twice without a recorded retry.
    const recordedByBooking = new Map<string, Set<string>>();
    const bySlot = new Map<string, Set<string>>();
    const note = (bookingId: string | null, slot: string, attemptId: string) => {
      if (!bookingId) return;
      if (!recordedByBooking.has(bookingId)) recordedByBooking.set(bookingId, new Set());
      recordedByBooking.get(bookingId)!.add(attemptId);
      const key = `${bookingId}|${slot}`;
      if (!bySlot.has(key)) bySlot.set(key, new Set());
      bySlot.get(key)!.add(attemptId);
    };
    const runById = new Map(runs.map((r) => [r.id, r]));
    for (const a of attempts) {
      const r = runById.get(a.run_id);
      if (a.dial_at !== null && r) note(r.booking_id, new Date(r.slot_at).toISOString(), a.id);
    }
    for (const e of input.events) {
      if (e.type !== 'attempt.dialing' && e.type !== 'attempt.ended') continue;
      if (e.type === 'attempt.ended' && e.payload.outcome === 'refused') continue;
      note(String(e.payload.bookingId), String(e.payload.slotAt), String(e.payload.attemptId));
    }
    const dialsByNumber = new Map<string, number>();
    for (const d of input.dials)
      dialsByNumber.set(d.number, (dialsByNumber.get(d.number) ?? 0) + 1);
    for (const b of input.bookings.values()) {
      const modem = dialsByNumber.get(b.callee) ?? 0;
      const recorded = recordedByBooking.get(b.id)?.size ?? 0;
      if (modem > recorded)
        fail(
          'dial_without_record',
          `${b.id}: modem dialled ${modem}x, ${recorded} attempts recorded`,
        );
    }
    // The retry budget is per database: a corrupt file replaced by a fresh one takes the slot's
    // attempt history with it, and the cloud's snapshot says the slot is still owed. So attempts the
    // final database holds and attempts known only from the cloud (lost generations) are each held
    // to the retry policy on their own.
    // A lost attempt's generation: how many replaced databases the cloud had heard of when it first
    // heard of the attempt (each fresh store's first event is store.recovered_from_corruption, and
    // corruption is only injected once everything before it was delivered).
    const inFinalDb = new Set(attempts.filter((a) => a.dial_at !== null).map((a) => a.id));
    const generationOf = new Map<string, number>();
    const recoveries = new Set<string>();
    for (const e of input.events) {
      if (e.type === 'store.recovered_from_corruption') recoveries.add(e.eventId);
      const id = e.payload.attemptId;
      if (typeof id === 'string' && !generationOf.has(id)) generationOf.set(id, recoveries.size);
    }
    // Attempts the agent itself interrupted (stop, crash) before an answer are retried without
    // using up the budget, at most FREE_INTERRUPTIONS per run (docs/lifecycle.md).
    const interrupted = new Set<string>();
    for (const a of attempts) if (a.outcome === 'interrupted') interrupted.add(a.id);
    for (const e of input.events)
      if (e.type === 'attempt.ended' && e.payload.outcome === 'interrupted')
        interrupted.add(String(e.payload.attemptId));
    for (const [key, ids] of bySlot) {
      const max = (input.bookings.get(key.split('|')[0]!)?.retry?.maxAttempts ?? 3) as number;
      const groups = new Map<string, { n: number; free: number }>();
      for (const id of ids) {
        const g = inFinalDb.has(id) ? 'final' : `lost-${generationOf.get(id) ?? '?'}`;
        const c = groups.get(g) ?? { n: 0, free: 0 };
        c.n++;
        if (interrupted.has(id)) c.free++;
        groups.set(g, c);
      }
      for (const [g, c] of groups) {
        const allowed = max + Math.min(c.free, FREE_INTERRUPTIONS);
        if (c.n > allowed)
          fail('slot_dialled_beyond_retries', `${key}: ${c.n} dials in db ${g} > ${allowed}`);
      }
    }
    for (const r of runs) {
      const own = attempts.filter((a) => a.run_id === r.id);
      const open = own.filter((a) =>
        ['claimed', 'dialing', 'alerting', 'active'].includes(a.status),
      );
      if (open.length > 0)
        fail('attempt_left_open', `${r.id}: ${open.length} live attempts at the end`);
    }

    // 3. Every run terminal, or legitimately pending (due later, or firing held by the clock rule).
    let pendingRuns = 0;
    for (const r of runs) {
      if (TERMINAL.includes(r.status)) continue;
      pendingRuns++;
      const waiting = r.status === 'pending' || r.status === 'retry_wait';
      const later = r.due_at > input.agentNow - SLACK_MS;
      const held = maxSeen > input.agentNow + input.backwardToleranceMs;
      if (!waiting || (!later && !held))
        fail(
          'run_not_settled',
          `${r.id} (${r.booking_id}) is ${r.status}, due ${new Date(r.due_at).toISOString()}`,
        );
    }

    // 4. Outcome events delivered to the cloud, exactly once by event id.
    const delivered = new Map<string, number>();
    for (const e of input.events) delivered.set(e.eventId, (delivered.get(e.eventId) ?? 0) + 1);
    let outcomeEvents = 0;
    for (const row of outbox) {
      const p = JSON.parse(row.payload) as Record<string, unknown>;
      const outcome =
        row.type === 'attempt.ended' ||
        (row.type === 'run.state' && TERMINAL.includes(String(p.status)));
      if (!outcome) continue;
      outcomeEvents++;
      if (!delivered.has(row.event_id))
        fail(
          'outcome_not_delivered',
          `${row.type} ${row.event_id} (${String(p.runId)}) never reached the cloud`,
        );
    }
    const idsPerSubject = new Map<string, Set<string>>();
    for (const e of input.events) {
      const terminalRun = e.type === 'run.state' && TERMINAL.includes(String(e.payload.status));
      if (e.type !== 'attempt.ended' && !terminalRun) continue;
      const subject =
        e.type === 'attempt.ended'
          ? `attempt|${String(e.payload.attemptId)}`
          : `run|${String(e.payload.runId)}`;
      if (!idsPerSubject.has(subject)) idsPerSubject.set(subject, new Set());
      idsPerSubject.get(subject)!.add(e.eventId);
    }
    for (const [subject, ids] of idsPerSubject) {
      if (ids.size > 1)
        fail('outcome_reported_twice', `${subject}: ${ids.size} distinct event ids`);
    }
    const duplicateDeliveries = [...delivered.values()].reduce((n, c) => n + c - 1, 0);

    // 5. No stale call: a first attempt dials within the catch-up window, unless fired by fire_once.
    const fireOnce = new Set<string>();
    const planned = [
      ...outbox.map((o) => ({
        type: o.type,
        payload: JSON.parse(o.payload) as Record<string, unknown>,
      })),
      ...input.events,
    ];
    for (const e of planned) {
      // Planned late (run.state) or gone stale before its dial (attempt.dialing says so).
      if (
        (e.type === 'run.state' || e.type === 'attempt.dialing') &&
        e.payload.reason === 'misfire_fire_once'
      )
        fireOnce.add(String(e.payload.runId));
    }
    for (const a of attempts) {
      if (a.lateness_ms === null) continue;
      const r = runById.get(a.run_id);
      if (!r || fireOnce.has(r.id) || !r.booking_id) continue;
      const windowSec = input.bookings.get(r.booking_id)?.catchUpWindowSec ?? 900;
      if (a.lateness_ms > windowSec * 1000 + SLACK_MS)
        fail(
          'stale_call',
          `${r.id}: dialled ${a.lateness_ms} ms after its slot (window ${windowSec} s)`,
        );
    }

    return {
      violations: v,
      stats: {
        runs: runs.length,
        dialsRecorded: attempts.filter((a) => a.dial_at !== null).length,
        modemDials: input.dials.length,
        outcomeEvents,
        duplicateDeliveries,
        pendingRuns,
      },
    };
  } finally {
    db.close();
  }
}
