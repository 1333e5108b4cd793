/**
 * The checker checks: each invariant is shown to fire on a small hand-made history (a real store
 * file, a dial log, a cloud event log), and a clean history passes. Without this a chaos run with
 * "0 violations" would prove nothing.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import Database from 'better-sqlite3';
import { Store } from '../../agent/store/store.js';
import type { BookingInput } from '../../agent/bookings/schema.js';
import { checkInvariants, type CheckInput } from './invariants.js';
import type { CloudEvent } from './cloud.js';

const T = Date.UTC(2026, 11, 1, 9, 0, 0);
const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

const B1: BookingInput = {
  id: 'b1',
  version: 1,
  callee: '+4915166000001',
  agentId: 'a',
  schedule: { kind: 'once', at: new Date(T).toISOString() },
  retry: { maxAttempts: 2, initialBackoffSec: 5, maxBackoffSec: 5, jitter: 0 },
  catchUpWindowSec: 120,
};

/** One booking, one run, one dialled attempt, its two outcome events; everything delivered. */
function history(o: { lateness?: number; runStatus?: string; attemptStatus?: string } = {}) {
  const dir = mkdtempSync(join(tmpdir(), 'companion-inv-'));
  dirs.push(dir);
  const dbPath = join(dir, 'companion.db');
  const store = Store.open(dbPath);
  const db = store.db;
  db.prepare(
    `INSERT INTO bookings (id, version, status, spec, created_at, updated_at) VALUES ('b1', 1, 'completed', ?, ?, ?)`,
  ).run(JSON.stringify(B1), T, T);
  db.prepare(
    `INSERT INTO runs (id, booking_id, kind, slot_at, status, due_at, dials, max_attempts, call, created_at, updated_at)
     VALUES ('r1', 'b1', 'booking', ?, ?, ?, 1, 2, '{}', ?, ?)`,
  ).run(T, o.runStatus ?? 'completed', T, T, T);
  db.prepare(
    `INSERT INTO attempts (id, run_id, attempt_no, boot_epoch, status, claimed_at, dial_at, outcome, lateness_ms)
     VALUES ('a1', 'r1', 1, 1, ?, ?, ?, 'completed', ?)`,
  ).run(o.attemptStatus ?? 'ended', T, T + (o.lateness ?? 0), o.lateness ?? 0);
  const ended = {
    runId: 'r1',
    bookingId: 'b1',
    slotAt: new Date(T).toISOString(),
    attemptId: 'a1',
    outcome: 'completed',
  };
  const done = { runId: 'r1', bookingId: 'b1', status: 'completed' };
  const add = db.prepare(
    `INSERT INTO outbox (event_id, type, class, payload, created_at, sent_at) VALUES (?, ?, 'critical', ?, ?, ?)`,
  );
  add.run('e1', 'attempt.ended', JSON.stringify(ended), T, T);
  add.run('e2', 'run.state', JSON.stringify(done), T, T);
  store.close();
  const events: CloudEvent[] = [
    { eventId: 'e1', type: 'attempt.ended', payload: ended, receivedAt: T },
    { eventId: 'e2', type: 'run.state', payload: done, receivedAt: T },
  ];
  const input: CheckInput = {
    dbPath,
    dials: [{ number: B1.callee, at: T }],
    events,
    bookings: new Map([['b1', B1]]),
    accepted: new Set(['b1']),
    done: new Set(['b1']),
    agentNow: T + 60_000,
    backwardToleranceMs: 5000,
  };
  return input;
}

const kinds = (i: CheckInput) => checkInvariants(i).violations.map((v) => v.invariant);

describe('chaos invariant checker', () => {
  it('a clean history passes (a duplicate delivery of the same event id is fine)', () => {
    const i = history();
    i.events.push({ ...i.events[0]! });
    const r = checkInvariants(i);
    expect(r.violations).toEqual([]);
    expect(r.stats.duplicateDeliveries).toBe(1);
  });

  it('a modem dial without its recorded attempt', () => {
    const i = history();
    i.dials.push({ number: B1.callee, at: T + 1 });
    expect(kinds(i)).toContain('dial_without_record');
  });

  it('an outcome event the cloud never got, and one reported under two ids', () => {
    const i = history();
    i.events.pop();
    expect(kinds(i)).toEqual(['outcome_not_delivered']);
    const j = history();
    j.events.push({ ...j.events[0]!, eventId: 'e1-again' });
    expect(kinds(j)).toEqual(['outcome_reported_twice']);
  });

  it('an accepted booking the unit does not hold', () => {
    const i = history();
    i.accepted.add('b9');
    expect(kinds(i)).toEqual(['accepted_booking_lost']);
  });

  it('a stale call and an unsettled run', () => {
    expect(kinds(history({ lateness: 300_000 }))).toEqual(['stale_call']);
    expect(kinds(history({ runStatus: 'running', attemptStatus: 'active' }))).toEqual([
      'attempt_left_open',
      'run_not_settled',
    ]);
  });

  it('more dials of one slot than its retry policy allows (per database generation)', () => {
    const lostDb = (ids: string[]) => {
      const i = history();
      for (const id of ids) {
        const p = {
          runId: 'r0',
          bookingId: 'b1',
          slotAt: new Date(T).toISOString(),
          attemptId: id,
        };
        i.events.push({ eventId: `d-${id}`, type: 'attempt.dialing', payload: p, receivedAt: T });
        i.dials.push({ number: B1.callee, at: T });
      }
      return i;
    };
    // Two dials in a database lost to corruption, one in the fresh one: each within maxAttempts 2.
    expect(kinds(lostDb(['x2', 'x3']))).toEqual([]);
    expect(kinds(lostDb(['x2', 'x3', 'x4']))).toEqual(['slot_dialled_beyond_retries']);
    // Two replaced databases, two dials each: the budget restarted with each fresh store.
    const two = lostDb(['x2', 'x3']);
    two.events.push({
      eventId: 'rec-1',
      type: 'store.recovered_from_corruption',
      payload: {},
      receivedAt: T,
    });
    for (const id of ['y1', 'y2']) {
      const p = { runId: 'r9', bookingId: 'b1', slotAt: new Date(T).toISOString(), attemptId: id };
      two.events.push({ eventId: `d-${id}`, type: 'attempt.dialing', payload: p, receivedAt: T });
      two.dials.push({ number: B1.callee, at: T });
    }
    expect(kinds(two)).toEqual([]);
  });

  it('more dials in the final database than the retry policy allows', () => {
    const i = history();
    const db = new Database(i.dbPath);
    for (const id of ['a2', 'a3']) {
      db.prepare(
        `INSERT INTO attempts (id, run_id, attempt_no, boot_epoch, status, claimed_at, dial_at, outcome)
         VALUES (?, 'r1', 2, 1, 'ended', ?, ?, 'busy')`,
      ).run(id, T, T);
      i.dials.push({ number: B1.callee, at: T });
    }
    db.close();
    expect(kinds(i)).toEqual(['slot_dialled_beyond_retries']);
  });
});
