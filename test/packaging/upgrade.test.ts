/**
 * Safe upgrades: a database made by an older schema version is backed up and migrated without
 * losing a row; a failing migration leaves it exactly as it was and the agent refuses to start,
 * naming the backup. Real SQLite files throughout; the "old" database is made by the migrations.
 */
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { Agent } from '../../agent/app.js';
import { FakeClock } from '../../agent/clock.js';
import { parseConfig } from '../../agent/config/config.js';
import { createLogger } from '../../agent/log.js';
import { loadMigrations, MigrationError, openDb, schemaVersion } from '../../agent/store/db.js';
import type { Migration } from '../../agent/store/db.js';
import { listBackups, preMigrationBackup } from '../../agent/store/backup.js';
import {
  backupsFor,
  refuseOnFailedUpgrade,
  StartRefusedError,
} from '../../agent/store/upgrade-guard.js';
import { SimulatorAudio, SimulatorModem } from '../../hal/simulator/index.js';
import { booking, permissivePolicy, T0 } from '../support/engine.js';
import { bookingSchema } from '../../agent/bookings/schema.js';
import { dumpDb, runCli, tempDir } from './support.js';

const shipped = loadMigrations();
const latest = shipped.at(-1)!.version;

/** A migration the next release might ship: a new column with a default, and a new table. */
const addColumn: Migration = {
  version: latest + 1,
  name: `${String(latest + 1).padStart(4, '0')}_test_booking_note`,
  sql: `ALTER TABLE bookings ADD COLUMN note TEXT NOT NULL DEFAULT '';
        CREATE TABLE test_upgrade_marker (id INTEGER PRIMARY KEY) STRICT;`,
};

/** A migration that does real work, then fails half-way (its second statement is wrong). */
const broken: Migration = {
  version: latest + 1,
  name: `${String(latest + 1).padStart(4, '0')}_test_broken`,
  sql: `ALTER TABLE bookings ADD COLUMN note TEXT;
        UPDATE bookings SET note = 'half-done';
        INSERT INTO no_such_table VALUES (1);`,
};

/** A valid booking spec (the agent plans what it finds, so the old rows must be real bookings). */
const specOf = (i: number) =>
  bookingSchema.parse(
    booking({
      id: `b-${i}`,
      schedule: { kind: 'once', at: new Date(T0 + i * 3_600_000).toISOString() },
    }),
  );

/** The "old" unit: the shipped schema, with bookings, runs and meta written into it. */
function oldDatabase(dir: string): string {
  const path = join(dir, 'companion.db');
  const db = openDb(path, { targetVersion: latest });
  const insertBooking = db.prepare(
    `INSERT INTO bookings (id, version, status, spec, next_slot_at, cursor_at, remaining, created_at, updated_at)
     VALUES (?, 1, 'active', ?, ?, NULL, NULL, ?, ?)`,
  );
  const insertRun = db.prepare(
    `INSERT INTO runs (id, booking_id, kind, slot_at, status, due_at, max_attempts, call, created_at, updated_at)
     VALUES (?, ?, 'booking', ?, 'pending', ?, 3, '{}', ?, ?)`,
  );
  db.transaction(() => {
    for (let i = 0; i < 50; i++) {
      const slot = T0 + i * 3_600_000;
      insertBooking.run(`b-${i}`, JSON.stringify(specOf(i)), slot, T0, T0);
      insertRun.run(`r-${i}`, `b-${i}`, slot, slot, T0, T0);
    }
    db.prepare("INSERT INTO meta (key, value) VALUES ('boot_epoch', '7')").run();
  })();
  db.close();
  return path;
}

describe('pre-migration backup and upgrade', () => {
  it('migrates an older database without losing a row and keeps a consistent backup', () => {
    const dir = tempDir('upgrade');
    const path = oldDatabase(dir);
    const before = dumpDb(path);
    const backups = preMigrationBackup({ dir: join(dir, 'backups'), keep: 3 });

    const db = openDb(path, { ...backups.openOptions, migrations: [...shipped, addColumn] });
    expect(schemaVersion(db)).toBe(latest + 1);
    expect(db.prepare('SELECT count(*) AS n FROM bookings').get()).toEqual({ n: 50 });
    expect(db.prepare('SELECT count(*) AS n FROM runs').get()).toEqual({ n: 50 });
    expect(db.prepare("SELECT value FROM meta WHERE key = 'boot_epoch'").get()).toEqual({
      value: '7',
    });
    // Every old column of every old row is unchanged; the new column has its default.
    const row = db
      .prepare("SELECT id, spec, next_slot_at, note FROM bookings WHERE id = 'b-49'")
      .get();
    expect(row).toEqual({
      id: 'b-49',
      spec: JSON.stringify(specOf(49)),
      next_slot_at: T0 + 49 * 3_600_000,
      note: '',
    });
    db.close();

    const backup = backups.lastBackup();
    expect(backup).not.toBeNull();
    expect(listBackups(join(dir, 'backups'))).toEqual([backup]);
    expect(backup).toMatch(
      new RegExp(`companion-000001-v${latest}-to-v${latest + 1}-\\d{8}T\\d{9}Z\\.db$`),
    );
    // The backup holds exactly what the database held before the upgrade, and is self-contained.
    expect(dumpDb(backup!)).toBe(before);
    expect(existsSync(`${backup}-wal`)).toBe(false);
  });

  it('makes no backup for a brand-new database (nothing to lose)', () => {
    const dir = tempDir('fresh');
    const backups = preMigrationBackup({ dir: join(dir, 'backups'), keep: 3 });
    openDb(join(dir, 'companion.db'), backups.openOptions).close();
    expect(backups.lastBackup()).toBeNull();
    expect(listBackups(join(dir, 'backups'))).toEqual([]);
  });

  it('keeps the newest N backups, ordered by sequence even when the clock is wrong', () => {
    const dir = tempDir('prune');
    const path = oldDatabase(dir);
    const bdir = join(dir, 'backups');
    const taken: string[] = [];
    // Five upgrades in a row, each one version further; the last two on a 1970 clock.
    for (let step = 1; step <= 5; step++) {
      const migrations = [...shipped];
      for (let v = 1; v <= step; v++) {
        migrations.push({
          version: latest + v,
          name: `${latest + v}_t${v}`,
          sql: `CREATE TABLE t${v} (x INTEGER);`,
        });
      }
      const clock = step >= 4 ? new Date(0) : new Date(T0 + step * 1000);
      const b = preMigrationBackup({ dir: bdir, keep: 3, now: () => clock });
      openDb(path, { ...b.openOptions, migrations }).close();
      taken.push(b.lastBackup()!);
    }
    expect(listBackups(bdir)).toEqual(taken.slice(2));
    // A stale half-written backup from a power cut is cleaned up by the next prune too.
    writeFileSync(join(bdir, 'companion-000099-v1-to-v2-19700101T000000000Z.db.partial'), 'x');
    const b = preMigrationBackup({ dir: bdir, keep: 3 });
    openDb(path, {
      ...b.openOptions,
      migrations: [
        ...shipped,
        ...[1, 2, 3, 4, 5, 6].map((v) => ({
          version: latest + v,
          name: `${latest + v}_t${v}`,
          sql: `CREATE TABLE IF NOT EXISTS t${v} (x INTEGER);`,
        })),
      ],
    }).close();
    expect(listBackups(bdir)).toEqual([...taken.slice(3), b.lastBackup()]);
    expect(existsSync(join(bdir, 'companion-000099-v1-to-v2-19700101T000000000Z.db.partial'))).toBe(
      false,
    );
  });

  it('a failing migration leaves the old database intact, identical in content', () => {
    const dir = tempDir('broken');
    const path = oldDatabase(dir);
    const before = dumpDb(path);
    const backups = preMigrationBackup({ dir: join(dir, 'backups'), keep: 3 });

    expect(() =>
      openDb(path, { ...backups.openOptions, migrations: [...shipped, broken] }),
    ).toThrow(MigrationError);
    // The ALTER and UPDATE that ran before the failing statement were rolled back with it.
    expect(dumpDb(path)).toBe(before);
    const db = openDb(path, { migrations: shipped });
    expect(schemaVersion(db)).toBe(latest);
    expect(db.pragma('integrity_check', { simple: true })).toBe('ok');
    db.close();
    expect(dumpDb(backups.lastBackup()!)).toBe(before);
  });
});

function agentFor(dir: string, migrations: Migration[]) {
  const config = parseConfig({ dataDir: dir });
  const clock = new FakeClock(T0);
  const backups = backupsFor(dir, config.backups.keep, { migrations });
  const agent = new Agent({
    config,
    clock,
    logger: createLogger({ level: 'silent' }),
    modem: new SimulatorModem({ timers: clock }),
    audio: new SimulatorAudio({ timers: clock }),
    dialGuard: permissivePolicy(),
    openOptions: backups.openOptions,
  });
  return { agent, backups };
}

describe('the agent refuses to start after a failed upgrade', () => {
  it('names the failed migration and the backup, and exits with 78', async () => {
    const dir = tempDir('refuse');
    const path = oldDatabase(dir);
    const before = dumpDb(path);
    const { agent, backups } = agentFor(dir, [...shipped, broken]);

    const err = await refuseOnFailedUpgrade(backups, () => agent.start()).then(
      () => null,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(StartRefusedError);
    const refused = err as StartRefusedError;
    expect(refused.exitCode).toBe(78);
    expect(refused.message).toContain(`migration ${broken.name} failed`);
    expect(refused.message).toContain(backups.lastBackup()!);
    expect(refused.message).toContain('left as it was before this upgrade');
    expect(dumpDb(path)).toBe(before);

    // The same data dir starts fine with the build it came from.
    const ok = agentFor(dir, shipped);
    await refuseOnFailedUpgrade(ok.backups, () => ok.agent.start());
    expect(ok.agent.store.bookings).toBeDefined();
    await ok.agent.stop();
  });

  it('the real CLI refuses a database from a newer agent with a clear message (exit 78)', async () => {
    const dir = tempDir('newer');
    const path = oldDatabase(dir);
    const db = openDb(path, { targetVersion: latest });
    db.pragma(`user_version = ${latest + 5}`);
    db.close();
    mkdirSync(join(dir, 'backups'));
    const p = runCli(['run'], { COMPANION_DATA_DIR: dir, COMPANION_LOG__LEVEL: 'silent' });
    expect(await p.exited).toBe(78);
    expect(p.output()).toContain('error: refusing to start');
    expect(p.output()).toContain(
      `database schema version ${latest + 5} is newer than this agent knows`,
    );
    expect(p.output()).toContain(`no backup exists in ${join(dir, 'backups')}`);
    expect(p.output()).not.toMatch(/\n\s+at /); // a message for an operator, not a stack trace
  });
});
