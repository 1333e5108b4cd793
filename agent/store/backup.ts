/**
 * A consistent copy of the store before any migration touches it, so an upgrade can always be
 * undone by hand (stop the agent, copy the backup over companion.db, install the old package).
 *
 * Why `VACUUM INTO` and not better-sqlite3's `db.backup()`: both give a consistent snapshot (VACUUM
 * INTO reads inside one read transaction, so a concurrent CLI writer cannot tear it), but
 * `db.backup()` is asynchronous while `openDb`'s `beforeMigrate` hook and the migrations run
 * synchronously before the agent does anything else. VACUUM INTO keeps the whole "backup, then
 * migrate" step one synchronous sequence with nothing interleaved, and writes a single self-contained
 * file (no -wal/-shm companions), which is what an operator wants to copy back.
 *
 * Durability: SQLite does not fsync a VACUUM INTO target, so we write it under a temporary name,
 * fsync it, rename it into place and fsync the directory. A power cut mid-backup leaves at worst a
 * `*.partial` file, never a truncated file that looks like a real backup.
 */
import {
  chmodSync,
  closeSync,
  existsSync,
  fsyncSync,
  mkdirSync,
  openSync,
  readdirSync,
  renameSync,
  rmSync,
} from 'node:fs';
import { join } from 'node:path';
import { z } from 'zod';
import type { Db, OpenOptions } from './db.js';

export const backupsConfigSchema = () =>
  z
    .object({
      /** How many pre-migration backups to keep under <dataDir>/backups (oldest pruned first). */
      keep: z.number().int().min(1).max(100).default(3),
    })
    .strict();

export type BackupsConfig = z.infer<ReturnType<typeof backupsConfigSchema>>;

/** companion-<seq>-v<from>-to-v<to>-<utc stamp>.db; the sequence orders them, not the clock. */
const NAME = /^companion-(\d{6})-v(\d+)-to-v(\d+)-[0-9TZ]+\.db$/;

export function backupsDirOf(dataDir: string): string {
  return join(dataDir, 'backups');
}

/** Backups in the directory, oldest first. Ordered by sequence number: a unit booted with a 1970
 * clock must not make its newest backup look like its oldest. */
export function listBackups(dir: string): string[] {
  if (!existsSync(dir)) return [];
  return readdirSync(dir)
    .filter((f) => NAME.test(f))
    .sort()
    .map((f) => join(dir, f));
}

function nextSeq(dir: string): number {
  const last = listBackups(dir).at(-1);
  if (!last) return 1;
  return Number(NAME.exec(last.slice(dir.length + 1))![1]) + 1;
}

function stamp(d: Date): string {
  return d.toISOString().replace(/[-:.]/g, '');
}

/** fsync a file or a directory by path (a rename is durable once its directory is). */
export function fsyncPath(path: string): void {
  const fd = openSync(path, 'r');
  try {
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}

export interface BackupLabel {
  fromVersion: number;
  toVersion: number;
  now?: Date;
}

/** Write a consistent, fsynced copy of `db` into `dir`; returns its path. */
export function backupDatabase(db: Db, dir: string, label: BackupLabel): string {
  mkdirSync(dir, { recursive: true, mode: 0o700 }); // database copies: owner-only, like the store
  const seq = String(nextSeq(dir)).padStart(6, '0');
  const name = `companion-${seq}-v${label.fromVersion}-to-v${label.toVersion}-${stamp(label.now ?? new Date())}.db`;
  const final = join(dir, name);
  const partial = `${final}.partial`;
  rmSync(partial, { force: true }); // VACUUM INTO refuses to overwrite an existing file
  db.prepare('VACUUM INTO ?').run(partial);
  chmodSync(partial, 0o600); // SQLite creates it 0644 minus the umask
  fsyncPath(partial);
  renameSync(partial, final);
  fsyncPath(dir);
  return final;
}

/** Delete all but the newest `keep` backups (and stale partial files); returns what was removed. */
export function pruneBackups(dir: string, keep: number): string[] {
  const all = listBackups(dir);
  const doomed = all.slice(0, Math.max(0, all.length - keep));
  if (existsSync(dir)) {
    for (const f of readdirSync(dir)) if (f.endsWith('.db.partial')) doomed.push(join(dir, f));
  }
  for (const f of doomed) rmSync(f, { force: true });
  return doomed;
}

export class BackupError extends Error {
  constructor(
    message: string,
    override readonly cause: unknown,
  ) {
    super(message);
    this.name = 'BackupError';
  }
}

export interface PreMigrationBackup {
  /** Pass to openDb / Agent: backs up before the first pending migration. */
  openOptions: OpenOptions;
  /** The backup taken by this process, if a migration was pending. */
  lastBackup(): string | null;
}

/**
 * The `beforeMigrate` hook. A failed backup throws BackupError, so no migration runs without a
 * copy to go back to.
 */
export function preMigrationBackup(opts: {
  dir: string;
  keep: number;
  now?: () => Date;
  base?: OpenOptions;
}): PreMigrationBackup {
  let last: string | null = null;
  return {
    openOptions: {
      ...opts.base,
      beforeMigrate(db, fromVersion, toVersion) {
        // A brand-new database has nothing worth keeping: do not fill backups/ with empty files.
        if (fromVersion === 0) return;
        try {
          last = backupDatabase(db, opts.dir, {
            fromVersion,
            toVersion,
            ...(opts.now ? { now: opts.now() } : {}),
          });
        } catch (err) {
          throw new BackupError(
            `could not back up the database to ${opts.dir} before migrating ` +
              `(v${fromVersion} -> v${toVersion}): ${(err as Error).message}; nothing was changed`,
            err,
          );
        }
        pruneBackups(opts.dir, opts.keep);
        opts.base?.beforeMigrate?.(db, fromVersion, toVersion);
      },
    },
    lastBackup: () => last,
  };
}
