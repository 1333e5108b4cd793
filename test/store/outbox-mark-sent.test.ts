/**
 * The drainer marks a burst of PUBACKs with one statement per run of consecutive seqs (issue 14:
 * one UPDATE per row was a tenth of the drain's cost). Against a per-row reference: any set of
 * acked seqs — out of order, repeated, with gaps, some already sent, some receipted, some evicted —
 * marks exactly the rows a row-by-row mark would, and counts them the same.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { Store } from '../../agent/store/store.js';

interface Row {
  seq: number;
  sent_at: number | null;
  receipted_at: number | null;
}

describe('outbox.markSent by ranges', () => {
  it('marks what a row-by-row mark marks, and counts it', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 40 }),
        fc.array(fc.constantFrom('unsent', 'sent', 'receipted', 'evicted'), {
          minLength: 40,
          maxLength: 40,
        }),
        fc.array(fc.integer({ min: 0, max: 45 }), { maxLength: 60 }),
        (n, states, acked) => {
          const store = Store.open(':memory:');
          try {
            store.tx(() => {
              for (let i = 0; i < n; i++) store.outbox.add('clock.trusted', { source: `r${i}` }, i);
              for (let seq = 1; seq <= n; seq++) {
                const s = states[seq - 1];
                if (s === 'sent') store.outbox.markSent([seq], 500);
                if (s === 'receipted') store.outbox.receipt([[seq, seq]], 600);
                if (s === 'evicted') store.db.prepare('DELETE FROM outbox WHERE seq = ?').run(seq);
              }
            });
            const all = () =>
              store.db
                .prepare('SELECT seq, sent_at, receipted_at FROM outbox ORDER BY seq')
                .all() as Row[];
            const before = all();
            const expected = before.map((r) =>
              acked.includes(r.seq) && r.sent_at === null && r.receipted_at === null
                ? { ...r, sent_at: 900 }
                : r,
            );
            const marked = store.tx(() => store.outbox.markSent(acked, 900));
            expect(all()).toEqual(expected);
            expect(marked).toBe(expected.filter((r, i) => r.sent_at !== before[i]!.sent_at).length);
          } finally {
            store.close();
          }
        },
      ),
      { numRuns: 200 },
    );
  });
});
