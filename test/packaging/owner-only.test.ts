/**
 * The store holds residents' numbers and raw commands: its directory is 0700 and its files 0600
 * whoever starts the agent and whatever the umask (a technician's shell with umask 000, a cron
 * job). Real SQLite files; the real CLI as a child process under a permissive umask.
 */
import { spawnSync } from 'node:child_process';
import { chmodSync, existsSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadMigrations, openDb, type Migration } from '../../agent/store/db.js';
import { preMigrationBackup } from '../../agent/store/backup.js';
import { assertBuilt, CLI } from '../support/agent-process.js';
import { tempDir } from './support.js';

const BOOKINGS = JSON.stringify({
  commands: [
    {
      type: 'booking.upsert',
      commandId: 'owner-1',
      booking: {
        id: 'mum-weekly',
        version: 1,
        callee: '+4915123456789',
        agentId: 'companion',
        schedule: { kind: 'weekly', days: ['mon'], time: '16:00', zone: 'Europe/Berlin' },
      },
    },
  ],
});

const mode = (p: string) => (statSync(p).mode & 0o777).toString(8);

describe('owner-only store', () => {
  it('a store created under umask 000 is 0700 / 0600, -wal and -shm included', () => {
    const dir = join(tempDir('owner'), 'nested', 'data');
    const old = process.umask(0);
    try {
      const db = openDb(join(dir, 'companion.db'));
      db.prepare('CREATE TABLE t (x)').run(); // something in the WAL
      expect(mode(dir)).toBe('700');
      expect(mode(join(dir, '..'))).toBe('700');
      for (const f of ['companion.db', 'companion.db-wal', 'companion.db-shm']) {
        expect(existsSync(join(dir, f)), f).toBe(true);
        expect(mode(join(dir, f)), f).toBe('600');
      }
      db.close();
    } finally {
      process.umask(old);
    }
  });

  it('files an older agent left group/world-readable are tightened on open', () => {
    const dir = tempDir('tighten');
    const path = join(dir, 'companion.db');
    openDb(path).close();
    chmodSync(path, 0o644);
    writeFileSync(`${path}-wal`, '');
    chmodSync(`${path}-wal`, 0o664);
    openDb(path).close();
    expect(mode(path)).toBe('600');
  });

  it('pre-migration backups are 0600 in a 0700 directory', () => {
    const dir = tempDir('backup-mode');
    const path = join(dir, 'companion.db');
    openDb(path).close();
    const shipped = loadMigrations();
    const next: Migration = {
      version: shipped.at(-1)!.version + 1,
      name: 'next_test',
      sql: 'CREATE TABLE next_test (x INTEGER);',
    };
    const old = process.umask(0);
    try {
      const b = preMigrationBackup({ dir: join(dir, 'backups'), keep: 3 });
      openDb(path, { ...b.openOptions, migrations: [...shipped, next] }).close();
      const backup = b.lastBackup();
      expect(backup).not.toBeNull();
      expect(mode(join(dir, 'backups'))).toBe('700');
      expect(mode(backup!)).toBe('600');
    } finally {
      process.umask(old);
    }
  });

  it('the CLI, started from a umask 000 shell, creates the data dir and database owner-only', () => {
    assertBuilt();
    const dir = join(tempDir('cli-owner'), 'data');
    const r = spawnSync('sh', ['-c', `umask 000; exec "${process.execPath}" "${CLI}" apply -`], {
      env: { PATH: process.env.PATH, COMPANION_DATA_DIR: dir },
      encoding: 'utf8',
      input: BOOKINGS,
    });
    expect(r.status, r.stderr).toBe(0);
    expect(mode(dir)).toBe('700');
    for (const f of readdirSync(dir).filter((n) => n.startsWith('companion.db'))) {
      expect(mode(join(dir, f)), f).toBe('600');
    }
  });
});
