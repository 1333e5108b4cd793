/**
 * Migration 0005 rebuilds the outbox without the UNIQUE index on event_id (issue 14: that index on
 * random UUIDs made every event insert 2.5 times dearer). A rebuild must keep every row as it was
 * and the AUTOINCREMENT high-water mark: with the newest rows already pruned, a fresh table would
 * hand their seqs out again — and a late receipt for one of them would mark a new event delivered.
 */
import { describe, expect, it } from 'vitest';
import { openDb, schemaVersion } from '../../agent/store/db.js';
import { Store } from '../../agent/store/store.js';
import { tempDbPaths } from '../support/temp-db.js';

const dbPath = tempDbPaths('outbox-mig');

const rows = (s: Store) => s.db.prepare('SELECT * FROM outbox ORDER BY seq').all();

describe('migration 0005: the outbox without the event_id index', () => {
  it('keeps every row, drops only the index, and the sequence goes on after pruned rows', () => {
    const path = dbPath();
    // A v4 store as that release wrote it (its own SQL: this build's repos speak the newest schema).
    const old = openDb(path, { targetVersion: 4 });
    expect(schemaVersion(old)).toBe(4);
    const add = old.prepare(
      "INSERT INTO outbox (event_id, type, class, payload, created_at) VALUES (?, 'clock.trusted', 'critical', ?, ?)",
    );
    old.transaction(() => {
      for (let i = 0; i < 6; i++) add.run(`e-${i}`, JSON.stringify({ source: `r${i}` }), 1000 + i);
    })();
    old.transaction(() => {
      old.prepare('UPDATE outbox SET sent_at = 2000 WHERE seq = 1').run();
      old.prepare('UPDATE outbox SET receipted_at = 2001 WHERE seq = 1').run();
      // The newest rows were delivered and pruned: nothing in the table remembers seqs 5 and 6.
      old.prepare('DELETE FROM outbox WHERE seq > 4').run();
    })();
    const before = old.prepare('SELECT * FROM outbox ORDER BY seq').all();
    old.close();

    const store = Store.open(path);
    try {
      expect(schemaVersion(store.db)).toBeGreaterThanOrEqual(5);
      expect(rows(store)).toEqual(before);
      const indexes = store.db.prepare('PRAGMA index_list(outbox)').all() as {
        name: string;
        unique: number;
      }[];
      expect(indexes.map((i) => i.name).sort()).toEqual(['outbox_unreceipted', 'outbox_unsent']);
      expect(indexes.every((i) => i.unique === 0)).toBe(true);
      store.tx(() => store.outbox.add('clock.trusted', { source: 'after' }, 3000));
      expect(store.outbox.recent(1)[0]).toMatchObject({ seq: 7, payload: { source: 'after' } });
      // A send is marked by seq now; the partial indexes still serve the drain.
      expect(store.outbox.markSent([7], 3001)).toBe(1);
      expect(store.outbox.pending(10).map((e) => e.seq)).toEqual([2, 3, 4]);
    } finally {
      store.close();
    }
  });

  it('an outbox that never had a row migrates too, and starts at 1', () => {
    const path = dbPath();
    openDb(path, { targetVersion: 4 }).close();
    const store = Store.open(path);
    try {
      store.tx(() => store.outbox.add('clock.trusted', { source: 'first' }, 1));
      expect(store.outbox.recent(1)[0]?.seq).toBe(1);
    } finally {
      store.close();
    }
  });
});
