/**
 * The two queries every claim makes (agent/store/runs-repo.ts, migration 0006): the next due run,
 * and the dial policy's count of attempts dialled since a time. Found profiling the claim cycle
 * (issue 14): the first sorted every waiting run to return one, the second counted every attempt
 * the unit had kept. They must give the answer a full read gives, through an index that holds it.
 * Real SQLite files; rows written directly, in any order and with ties.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { Store } from '../../agent/store/store.js';
import type { RunStatus } from '../../agent/store/runs-repo.js';
import { tempStores } from '../support/temp-db.js';

const openStore = tempStores('claim-queries');

interface RunSpec {
  status: RunStatus;
  due: number;
  slot: number;
  created: number;
}

function addRun(store: Store, id: string, r: RunSpec): void {
  store.db
    .prepare(
      `INSERT INTO runs (id, booking_id, kind, slot_at, status, due_at, max_attempts, call, created_at,
         updated_at)
       VALUES (?, NULL, 'test', ?, ?, ?, 3, '{}', ?, ?)`,
    )
    .run(id, r.slot, r.status, r.due, r.created, r.created);
}

/** The plan SQLite runs for one of the repo's prepared statements. */
function planOf(store: Store, name: string, ...args: number[]): string {
  const s = Reflect.get(store.runs, 's') as Record<string, { source: string }>;
  const rows = store.db.prepare(`EXPLAIN QUERY PLAN ${s[name]!.source}`).all(...args) as {
    detail: string;
  }[];
  return rows.map((r) => r.detail).join('; ');
}

const runSpec = fc.record({
  status: fc.constantFrom<RunStatus>('pending', 'retry_wait', 'running', 'completed', 'cancelled'),
  // Few distinct values: ties in due_at and slot_at are the point.
  due: fc.integer({ min: 0, max: 6 }),
  slot: fc.integer({ min: 0, max: 3 }),
  created: fc.integer({ min: 0, max: 1000 }),
});

describe('the next due run', () => {
  it('is the waiting run first by due time, then slot, then creation — as a full read orders them', () => {
    fc.assert(
      fc.property(
        fc.array(runSpec, { minLength: 0, maxLength: 40 }),
        fc.integer({ min: -1, max: 7 }),
        (specs, now) => {
          const store = openStore();
          try {
            specs.forEach((r, i) => addRun(store, `run-${i}`, r));
            const waiting = specs
              .map((r, i) => ({ ...r, id: `run-${i}` }))
              .filter((r) => (r.status === 'pending' || r.status === 'retry_wait') && r.due <= now)
              .sort((a, b) => a.due - b.due || a.slot - b.slot || a.created - b.created);
            const got = store.runs.nextDue(now);
            if (waiting.length === 0) {
              expect(got).toBeNull();
            } else {
              const first = waiting[0]!;
              expect(got).not.toBeNull();
              // Ties on all three keys may return either run: compare the keys.
              expect([got!.dueAt, got!.slotAt, got!.createdAt]).toEqual([
                first.due,
                first.slot,
                first.created,
              ]);
            }
            const later = specs
              .filter((r) => (r.status === 'pending' || r.status === 'retry_wait') && r.due > now)
              .map((r) => r.due);
            expect(store.runs.nextDueAfter(now)).toBe(later.length ? Math.min(...later) : null);
          } finally {
            store.close();
          }
        },
      ),
      { numRuns: 60 },
    );
  });

  it('is read from runs_due in its order, not by sorting every waiting run', () => {
    const store = openStore();
    try {
      for (let i = 0; i < 500; i++)
        addRun(store, `run-${i}`, { status: 'pending', due: 1000 - i, slot: i, created: i });
      expect(store.runs.nextDue(2000)?.id).toBe('run-499');
      const next = planOf(store, 'nextDue', 2000);
      expect(next).toContain('runs_due');
      expect(next).not.toContain('TEMP B-TREE');
      expect(planOf(store, 'nextDueAt', 0)).toContain('runs_due');
    } finally {
      store.close();
    }
  });
});

describe('attempts dialled since a time (the dial caps)', () => {
  it('counts what a full read counts, through attempts_dialled', () => {
    fc.assert(
      fc.property(
        fc.array(fc.option(fc.integer({ min: 0, max: 20 }), { nil: null }), { maxLength: 40 }),
        fc.integer({ min: -1, max: 21 }),
        (dials, since) => {
          const store = openStore();
          try {
            addRun(store, 'run', { status: 'running', due: 0, slot: 0, created: 0 });
            const insert = store.db.prepare(
              `INSERT INTO attempts (id, run_id, attempt_no, boot_epoch, status, claimed_at, dial_at)
               VALUES (?, 'run', ?, 1, 'ended', 0, ?)`,
            );
            dials.forEach((d, i) => insert.run(`a-${i}`, i + 1, d));
            const expected = dials.filter((d) => d !== null && d >= since).length;
            expect(store.runs.dialsSince(since)).toBe(expected);
          } finally {
            store.close();
          }
        },
      ),
      { numRuns: 60 },
    );
    const store = openStore();
    try {
      expect(planOf(store, 'dialsSince', 0)).toContain('attempts_dialled');
    } finally {
      store.close();
    }
  });
});
