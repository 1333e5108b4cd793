/**
 * The bookings' count by status (GET /v1/status, `companion status`), migration 0009: the total
 * from the table's smallest index and the bookings not active from a partial index, active = the
 * difference. Found profiling the diagnostics under load (issue 14): the GROUP BY over the table
 * read every row, ~4 ms with 10,000 bookings, every 3 s while the technician's page is open. It
 * must give what that full read gives, read no table row, and leave the plans of the queries on
 * active bookings (planning, the next slot) on bookings_next_slot. Real SQLite files; rows written
 * directly.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { Store } from '../../agent/store/store.js';
import { tempStores } from '../support/temp-db.js';

const STATUSES = ['active', 'paused', 'completed', 'cancelled'] as const;

const openStore = tempStores('booking-counts');

function addBookings(store: Store, statuses: readonly string[]): void {
  const insert = store.db.prepare(
    `INSERT INTO bookings (id, version, status, spec, next_slot_at, created_at, updated_at)
     VALUES (?, 1, ?, NULL, ?, 0, 0)`,
  );
  store.tx(() =>
    statuses.forEach((s, i) => insert.run(`b-${i}`, s, s === 'active' ? 1000 + i : null)),
  );
}

/** The plan SQLite runs for one of the repo's prepared statements. */
function planOf(store: Store, name: string, ...args: number[]): string {
  const stmt = Reflect.get(store.bookings, name) as { source: string };
  const rows = store.db.prepare(`EXPLAIN QUERY PLAN ${stmt.source}`).all(...args) as {
    detail: string;
  }[];
  return rows.map((r) => r.detail).join('; ');
}

describe('bookings counted by status', () => {
  it('counts what a full read of the table counts, and status changes move the counts', () => {
    fc.assert(
      fc.property(
        fc.array(fc.constantFrom(...STATUSES), { maxLength: 60 }),
        fc.array(fc.tuple(fc.nat(), fc.constantFrom(...STATUSES)), { maxLength: 10 }),
        (statuses, changes) => {
          const store = openStore();
          try {
            addBookings(store, statuses);
            const full = () => {
              const out = { active: 0, paused: 0, completed: 0, cancelled: 0 };
              const rows = store.db.prepare('SELECT status FROM bookings NOT INDEXED').all() as {
                status: (typeof STATUSES)[number];
              }[];
              for (const r of rows) out[r.status]++;
              return out;
            };
            expect(store.bookings.counts()).toEqual(full());
            const setStatus = store.db.prepare('UPDATE bookings SET status = ? WHERE id = ?');
            for (const [i, s] of changes) {
              if (statuses.length === 0) break;
              setStatus.run(s, `b-${i % statuses.length}`);
              expect(store.bookings.counts()).toEqual(full());
            }
          } finally {
            store.close();
          }
        },
      ),
      { numRuns: 60 },
    );
  });

  it('reads indexes only, and the queries on active bookings keep bookings_next_slot', () => {
    const store = openStore();
    try {
      addBookings(
        store,
        Array.from({ length: 2000 }, (_, i) => STATUSES[i % 7 === 0 ? 1 + (i % 3) : 0]!),
      );
      const count = planOf(store, 'countStmt');
      expect(count).toContain('COVERING INDEX bookings_not_active');
      expect(count).not.toMatch(/SCAN bookings(;|$)/);
      expect(count).not.toContain('TEMP B-TREE');
      // The partial index can never serve these (its rows are the bookings not active); a plain
      // index on status would have been taken for the due read instead of bookings_next_slot.
      expect(planOf(store, 'dueStmt', 5000, 100)).toContain('bookings_next_slot');
      expect(planOf(store, 'nextDueStmt')).toContain('bookings_next_slot');
      expect(planOf(store, 'activeIdsStmt')).not.toContain('bookings_not_active');
    } finally {
      store.close();
    }
  });
});
