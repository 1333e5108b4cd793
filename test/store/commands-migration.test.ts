/**
 * Migration 0007 rebuilds the commands table around a 48-bit integer key of the command id instead
 * of a TEXT primary key (issue 14: a burst's random inserts into the wide index). The audit trail
 * must come through unchanged — every row, its rowid order (retention keeps by it) — and a command
 * seen before the upgrade must still be recognised after it: a redelivered command gets its first
 * answer, a reused id is refused, never applied twice.
 */
import { describe, expect, it } from 'vitest';
import { openDb, schemaVersion, type Db } from '../../agent/store/db.js';
import { commandDigest } from '../../agent/bookings/apply.js';
import { Store } from '../../agent/store/store.js';
import { commandKey } from '../../agent/store/command-key.js';
import { applierFor } from '../../agent/lifecycle/index.js';
import { FakeClock } from '../../agent/clock.js';
import { DialPolicy } from '../../agent/policy/dial-policy.js';
import { tempDbPaths } from '../support/temp-db.js';

const dbPath = tempDbPaths('commands-mig');

const upsert = (commandId: string, id: string, version: number) => ({
  type: 'booking.upsert',
  commandId,
  booking: {
    id,
    version,
    callee: '+4930123456',
    agentId: 'a',
    schedule: { kind: 'once', at: '2035-01-01T10:00:00Z' },
  },
});

const rows = (db: Db) =>
  db
    .prepare(
      `SELECT rowid, command_id, source, type, booking_id, status, result, raw, received_at, digest,
              msg_id FROM commands ORDER BY rowid`,
    )
    .all();

describe('migration 0007: commands looked up by an integer key', () => {
  it('keeps every row in order, and what was applied before is known after', () => {
    const path = dbPath();
    const clock = new FakeClock(Date.UTC(2026, 11, 4, 9, 0, 0));
    // A v6 store as the previous release wrote it (its own SQL: this build's repo speaks v7).
    const old = openDb(path, { targetVersion: 6 });
    expect(schemaVersion(old)).toBe(6);
    const insert = old.prepare(
      `INSERT INTO commands (command_id, source, type, booking_id, status, result, raw, received_at,
         digest, msg_id) VALUES (?, 'mqtt', ?, ?, ?, ?, ?, ?, ?, ?)`,
    );
    const result = (commandId: string, bookingId: string | null, status: string) =>
      JSON.stringify({ commandId, status, bookingId, currentVersion: 1, reasons: [] });
    const c2 = upsert('c-2', 'b-2', 1);
    insert.run(
      'c-1',
      'booking.upsert',
      'b-1',
      'accepted',
      result('c-1', 'b-1', 'accepted'),
      null,
      1000,
      commandDigest(upsert('c-1', 'b-1', 1)),
      'm1',
    );
    insert.run(
      'c-2',
      'booking.upsert',
      'b-2',
      'accepted',
      result('c-2', 'b-2', 'accepted'),
      null,
      1001,
      commandDigest(c2),
      'm1',
    );
    insert.run(
      'c-bad',
      null,
      'x',
      'rejected',
      result('c-bad', 'x', 'rejected'),
      '{"commandId":"c-bad"}',
      1002,
      null,
      'm2',
    );
    // The oldest row was pruned: rowids do not start at 1.
    old.prepare("DELETE FROM commands WHERE command_id = 'c-1'").run();
    insert.run(
      'c-9',
      'booking.upsert',
      'b-1',
      'accepted',
      result('c-9', 'b-1', 'accepted'),
      null,
      1003,
      null,
      'm3',
    );
    const audit = rows(old);
    old.close();

    const store = Store.open(path);
    try {
      expect(schemaVersion(store.db)).toBeGreaterThanOrEqual(7);
      expect(rows(store.db)).toEqual(audit);
      const keys = store.db.prepare('SELECT command_id, id_key FROM commands').all() as {
        command_id: string;
        id_key: number;
      }[];
      for (const k of keys) expect(k.id_key).toBe(commandKey(k.command_id));
      const indexes = store.db.prepare('PRAGMA index_list(commands)').all() as { name: string }[];
      expect(indexes.map((i) => i.name).sort()).toEqual(['commands_id_key', 'commands_received']);

      const { applier } = applierFor(store, clock, new DialPolicy());
      // The same command again: its first answer, nothing applied.
      const [dup] = applier.apply([c2], { source: 'mqtt', msgId: 'm4' });
      expect(dup).toMatchObject({ commandId: 'c-2', status: 'duplicate' });
      expect(store.bookings.get('b-2')).toBeNull();
      // The same id with other content: refused.
      const [reused] = applier.apply([upsert('c-2', 'b-2', 5)], { source: 'mqtt', msgId: 'm5' });
      expect(reused).toMatchObject({
        status: 'rejected',
        reasons: [{ code: 'command_id_reused' }],
      });
      expect(store.bookings.get('b-2')).toBeNull();
      expect(store.commands.get('c-bad')).toMatchObject({
        status: 'rejected',
        raw: '{"commandId":"c-bad"}',
      });
      // New commands are recorded and found.
      const [fresh] = applier.apply([upsert('c-3', 'b-3', 1)], { source: 'mqtt', msgId: 'm6' });
      expect(fresh).toMatchObject({ status: 'accepted' });
      expect(store.commands.get('c-3')).toMatchObject({ bookingId: 'b-3', msgId: 'm6' });
      expect(store.commands.get('c-4')).toBeNull();
    } finally {
      store.close();
    }
  });

  it('tells ids apart whose keys collide', () => {
    const store = Store.open(':memory:');
    try {
      const record = (commandId: string, bookingId: string) =>
        store.commands.record({
          commandId,
          source: 'test',
          type: 'booking.upsert',
          bookingId,
          status: 'accepted',
          result: { commandId, status: 'accepted', bookingId, currentVersion: 1, reasons: [] },
          raw: null,
          receivedAt: 1,
          digest: null,
          msgId: null,
        });
      record('first', 'b-first');
      record('second', 'b-second');
      // Make 'second' collide with 'first' (a 48-bit collision, forced): both rows under one key.
      store.db
        .prepare("UPDATE commands SET id_key = ? WHERE command_id = 'second'")
        .run(commandKey('first'));
      const underKey = store.db
        .prepare('SELECT command_id FROM commands WHERE id_key = ? ORDER BY rowid')
        .all(commandKey('first'));
      expect(underKey).toEqual([{ command_id: 'first' }, { command_id: 'second' }]);
      expect(store.commands.get('first')?.bookingId).toBe('b-first');
    } finally {
      store.close();
    }
  });
});
