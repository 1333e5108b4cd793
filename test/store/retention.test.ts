/**
 * Retention (agent/store/retention.ts, run by agent/housekeeping.ts): what is kept, what is deleted,
 * and — for any mix of rows — that nothing owed is ever deleted: open runs and their attempts, runs
 * whose call is still live, outbox rows not yet delivered. Real SQLite files, a fake clock.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { afterEach, describe, expect, it } from 'vitest';
import { FakeClock } from '../../agent/clock.js';
import { parseConfig } from '../../agent/config/config.js';
import { Housekeeping } from '../../agent/housekeeping.js';
import { silentLogger } from '../../agent/log.js';
import { Store } from '../../agent/store/store.js';
import type { RetentionPolicy } from '../../agent/store/retention.js';
import type { RunStatus, AttemptStatus } from '../../agent/store/runs-repo.js';

const DAY = 86_400_000;
const T0 = Date.UTC(2027, 5, 1, 3, 30);
const dirs: string[] = [];

function openStore(): Store {
  const dir = mkdtempSync(join(tmpdir(), 'companion-retention-'));
  dirs.push(dir);
  return Store.open(join(dir, 'companion.db'));
}

afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

const OWED: RunStatus[] = ['pending', 'retry_wait', 'running'];
const FINISHED: RunStatus[] = ['completed', 'skipped', 'cancelled', 'refused'];
const LIVE: AttemptStatus[] = ['claimed', 'dialing', 'alerting', 'active'];

let n = 0;
/** A run in any state the runner can leave it in, finished (or last touched) at `at`. */
function addRun(
  store: Store,
  status: RunStatus,
  at: number,
  attempts: AttemptStatus[] = ['ended'],
): string {
  const id = `run-${++n}`;
  store.db
    .prepare(
      `INSERT INTO runs (id, booking_id, kind, slot_at, status, due_at, max_attempts, call, created_at,
         updated_at, finished_at, lease_attempt_id)
       VALUES (?, NULL, 'test', ?, ?, ?, 3, '{}', ?, ?, ?, ?)`,
    )
    .run(
      id,
      at - 60_000,
      status,
      at,
      at - 60_000,
      at,
      OWED.includes(status) ? null : at,
      status === 'running' ? `${id}-a${attempts.length}` : null,
    );
  attempts.forEach((s, i) =>
    store.db
      .prepare(
        `INSERT INTO attempts (id, run_id, attempt_no, boot_epoch, status, claimed_at)
         VALUES (?, ?, ?, 1, ?, ?)`,
      )
      .run(`${id}-a${i + 1}`, id, i + 1, s, at - 30_000),
  );
  return id;
}

/**
 * A critical event; `delivered`: sent and receipted by the cloud. `'sent'`: the broker has it but the
 * cloud has not receipted it — still owed (it is sent again until receipted).
 */
function addOutbox(store: Store, at: number, delivered: boolean | 'sent'): number {
  store.outbox.add('clock.trusted', { source: `test-${++n}` }, at);
  const seq = (store.db.prepare('SELECT max(seq) AS s FROM outbox').get() as { s: number }).s;
  if (delivered) store.db.prepare('UPDATE outbox SET sent_at = ? WHERE seq = ?').run(at + 1, seq);
  if (delivered === true)
    store.db.prepare('UPDATE outbox SET receipted_at = ? WHERE seq = ?').run(at + 2, seq);
  return seq;
}

function addCommand(store: Store, at: number, status: 'accepted' | 'rejected' = 'accepted') {
  const commandId = `cmd-${++n}`;
  store.commands.record({
    commandId,
    source: 'test',
    type: 'booking.upsert',
    bookingId: null,
    status,
    result: { commandId, status, bookingId: null, currentVersion: null, reasons: [] },
    raw: status === 'rejected' ? 'x'.repeat(100) : null,
    receivedAt: at,
    digest: null,
    msgId: null,
  });
  return commandId;
}

const ids = (store: Store, table: 'runs' | 'attempts') =>
  new Set((store.db.prepare(`SELECT id FROM ${table}`).all() as { id: string }[]).map((r) => r.id));
const seqs = (store: Store) =>
  new Set(
    (store.db.prepare('SELECT seq FROM outbox').all() as { seq: number }[]).map((r) => r.seq),
  );
const commandIds = (store: Store) =>
  new Set(
    (store.db.prepare('SELECT command_id AS id FROM commands').all() as { id: string }[]).map(
      (r) => r.id,
    ),
  );

const defaults = (): RetentionPolicy => parseConfig({}).retention;

function housekeeping(store: Store, policy = defaults(), batch = 500) {
  const clock = new FakeClock(T0);
  return new Housekeeping({ store, clock, logger: silentLogger(), policy, batch });
}

describe('retention: what is kept and what is deleted', () => {
  it('has documented defaults: dead letters are kept much longer than other finished runs', () => {
    const p = defaults();
    expect(p).toMatchObject({
      outbox: { maxAgeDays: 7, maxRows: 10_000 },
      commands: { maxAgeDays: 30, maxRows: 50_000, rejectedMaxRows: 2_000 },
      runs: { maxAgeDays: 90, maxRows: 10_000 },
      deadRuns: { maxAgeDays: 365, maxRows: 5_000 },
      schedule: '30 3 * * *',
    });
    expect(p.deadRuns.maxAgeDays).toBeGreaterThan(p.runs.maxAgeDays);
  });

  it('deletes delivered outbox rows past their age and keeps every undelivered one, however old', async () => {
    const store = openStore();
    const oldSent = addOutbox(store, T0 - 8 * DAY, true);
    const oldUnsent = addOutbox(store, T0 - 400 * DAY, false);
    const recentSent = addOutbox(store, T0 - 6 * DAY, true);
    const oldUnreceipted = addOutbox(store, T0 - 400 * DAY, 'sent');
    const r = await housekeeping(store).runOnce();
    expect(r.outbox).toBe(1);
    // Sent but never receipted is still owed: the unit sends it again until the cloud has it.
    expect(seqs(store)).toEqual(new Set([oldUnsent, recentSent, oldUnreceipted]));
    // The per-unit event sequence goes on after a delete (AUTOINCREMENT): no seq is ever reused.
    expect(addOutbox(store, T0, false)).toBeGreaterThan(Math.max(oldSent, recentSent));
    store.close();
  });

  it('keeps only the newest maxRows delivered outbox rows, and never counts undelivered ones away', async () => {
    const store = openStore();
    const sent = Array.from({ length: 250 }, (_, i) => addOutbox(store, T0 - DAY + i, true));
    const unsent = Array.from({ length: 150 }, (_, i) => addOutbox(store, T0 - 2 * DAY + i, false));
    const policy = { ...defaults(), outbox: { maxAgeDays: 7, maxRows: 100 } };
    const r = await housekeeping(store, policy, 40).runOnce();
    expect(r.outbox).toBe(150);
    expect(seqs(store)).toEqual(new Set([...sent.slice(-100), ...unsent]));
    store.close();
  });

  it('prunes the command audit by age and count, and caps rejected (raw-carrying) rows apart', async () => {
    const store = openStore();
    const old = addCommand(store, T0 - 31 * DAY);
    const kept = addCommand(store, T0 - 29 * DAY);
    const junk = Array.from({ length: 130 }, (_, i) => addCommand(store, T0 - DAY + i, 'rejected'));
    const policy = {
      ...defaults(),
      commands: { maxAgeDays: 30, maxRows: 50_000, rejectedMaxRows: 100 },
    };
    const r = await housekeeping(store, policy, 50).runOnce();
    expect(r.commands).toBe(31);
    expect(commandIds(store)).toEqual(new Set([kept, ...junk.slice(-100)]));
    expect(store.commands.get(old)).toBeNull();
    store.close();
  });

  it('deletes finished runs with their attempts after runs.maxAgeDays, dead letters only after deadRuns.maxAgeDays', async () => {
    const store = openStore();
    const oldDone = FINISHED.map((s) => addRun(store, s, T0 - 91 * DAY, ['ended', 'ended']));
    const recentDone = addRun(store, 'completed', T0 - 89 * DAY);
    const deadOld = addRun(store, 'dead', T0 - 366 * DAY, ['ended', 'ended', 'ended']);
    const deadKept = addRun(store, 'dead', T0 - 200 * DAY, ['ended']);
    const r = await housekeeping(store).runOnce();
    expect(r).toMatchObject({ runs: 4, deadRuns: 1, attempts: 4 * 2 + 3 });
    expect(ids(store, 'runs')).toEqual(new Set([recentDone, deadKept]));
    for (const id of [...oldDone, deadOld]) expect(store.runs.attemptsOf(id)).toEqual([]);
    expect(store.runs.attemptsOf(deadKept)).toHaveLength(1);
    store.close();
  });

  it('caps finished runs by count, newest kept, and a dead-letter replay target stays', async () => {
    const store = openStore();
    const done = Array.from({ length: 120 }, (_, i) => addRun(store, 'completed', T0 - DAY + i));
    const dead = addRun(store, 'dead', T0 - 2 * DAY);
    const policy = { ...defaults(), runs: { maxAgeDays: 90, maxRows: 100 } };
    await housekeeping(store, policy, 7).runOnce();
    expect(ids(store, 'runs')).toEqual(new Set([...done.slice(-100), dead]));
    store.close();
  });

  it('never deletes a finished run whose call is still live (cancel committed while it rang)', async () => {
    const store = openStore();
    const ringing = addRun(store, 'cancelled', T0 - 400 * DAY, ['ended', 'alerting']);
    await housekeeping(store).runOnce();
    expect(ids(store, 'runs')).toEqual(new Set([ringing]));
    expect(store.runs.attemptsOf(ringing)).toHaveLength(2);
    store.close();
  });

  it('ends with a checkpoint that leaves the WAL empty', async () => {
    const store = openStore();
    for (let i = 0; i < 50; i++) addOutbox(store, T0 - 30 * DAY, true);
    const r = await housekeeping(store).runOnce();
    expect(r.checkpointedFrames).toBeGreaterThan(0);
    const [wal] = store.db.pragma('wal_checkpoint(PASSIVE)') as { log: number }[];
    expect(wal!.log).toBe(0);
    expect(store.db.pragma('journal_size_limit', { simple: true })).toBe(4 * 1024 * 1024);
    store.close();
  });
});

describe('retention: nothing owed is ever deleted (any mix of rows, tiny limits)', () => {
  const statusArb = fc.constantFrom<RunStatus>(...OWED, ...FINISHED, 'dead');
  const attemptArb = fc.constantFrom<AttemptStatus>(...LIVE, 'ended', 'abandoned', 'refused');
  const runArb = fc.record({
    status: statusArb,
    ageDays: fc.integer({ min: 0, max: 800 }),
    attempts: fc.array(attemptArb, { maxLength: 3 }),
  });
  const outboxArb = fc.record({ ageDays: fc.integer({ min: 0, max: 800 }), sent: fc.boolean() });
  const ruleArb = fc.record({
    maxAgeDays: fc.integer({ min: 1, max: 400 }),
    maxRows: fc.integer({ min: 0, max: 5 }),
  });

  it('keeps open runs, their attempts, live calls and undelivered events; removes what is past its rule', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(runArb, { maxLength: 25 }),
        fc.array(outboxArb, { maxLength: 25 }),
        ruleArb,
        ruleArb,
        ruleArb,
        fc.integer({ min: 1, max: 4 }),
        async (runs, events, runsRule, deadRule, outboxRule, batch) => {
          const store = openStore();
          const made = runs.map((r) => ({
            ...r,
            id: addRun(store, r.status, T0 - r.ageDays * DAY, r.attempts),
          }));
          const evs = events.map((e) => ({
            ...e,
            seq: addOutbox(store, T0 - e.ageDays * DAY, e.sent),
          }));
          const policy = { ...defaults(), runs: runsRule, deadRuns: deadRule, outbox: outboxRule };
          await housekeeping(store, policy, batch).runOnce();
          const runsLeft = ids(store, 'runs');
          const attemptsLeft = ids(store, 'attempts');
          const seqLeft = seqs(store);
          for (const r of made) {
            const owed = OWED.includes(r.status) || r.attempts.some((a) => LIVE.includes(a));
            if (owed) {
              expect(runsLeft.has(r.id)).toBe(true);
              r.attempts.forEach((_, i) =>
                expect(attemptsLeft.has(`${r.id}-a${i + 1}`)).toBe(true),
              );
            }
            // No orphans: an attempt is kept exactly when its run is.
            r.attempts.forEach((_, i) =>
              expect(attemptsLeft.has(`${r.id}-a${i + 1}`)).toBe(runsLeft.has(r.id)),
            );
            const rule = r.status === 'dead' ? deadRule : runsRule;
            if (!owed && r.ageDays > rule.maxAgeDays) expect(runsLeft.has(r.id)).toBe(false);
          }
          for (const e of evs) {
            if (!e.sent) expect(seqLeft.has(e.seq)).toBe(true);
            if (e.sent && e.ageDays > outboxRule.maxAgeDays) expect(seqLeft.has(e.seq)).toBe(false);
          }
          // The count rules hold for what may be deleted.
          const deletableLeft = (dead: boolean) =>
            made.filter(
              (r) =>
                runsLeft.has(r.id) &&
                (dead ? r.status === 'dead' : FINISHED.includes(r.status)) &&
                !r.attempts.some((a) => LIVE.includes(a)),
            ).length;
          expect(deletableLeft(false)).toBeLessThanOrEqual(runsRule.maxRows);
          expect(deletableLeft(true)).toBeLessThanOrEqual(deadRule.maxRows);
          expect(evs.filter((e) => e.sent && seqLeft.has(e.seq)).length).toBeLessThanOrEqual(
            outboxRule.maxRows,
          );
          store.close();
        },
      ),
      { numRuns: 60 },
    );
  });
});
