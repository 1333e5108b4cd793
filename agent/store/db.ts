/**
 * Opens the unit's SQLite store with the durability settings the design depends on, and applies
 * numbered migrations. Rule 1: an acknowledged booking is committed AND flushed, so WAL with
 * synchronous=FULL (better-sqlite3 would otherwise leave WAL at NORMAL, which can lose the last
 * commits on power loss).
 */
import Database from 'better-sqlite3';
import {
  chmodSync,
  closeSync,
  mkdirSync,
  openSync,
  existsSync,
  readdirSync,
  readFileSync,
  statSync,
} from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { COMMAND_KEY_SQL, commandKey } from './command-key.js';
import type { WalCheckpointerOptions } from './wal-checkpointer.js';

export type Db = Database.Database;

/*
 * A bound LIMIT or OFFSET is written `LIMIT +?` (`+@name`), never `LIMIT ?`. SQLite's planner reads a
 * bare parameter there as a hint and marks the statement to be prepared again whenever that
 * parameter is bound — and better-sqlite3 binds every parameter on every run. So each run of such a
 * statement was a fresh prepare: the drainer's owed-rows read took 6.3 µs instead of 0.8 (measured on
 * SQLite 3.53.2, issue 14), once per result in a sync round trip, per planning batch, per claim. The
 * unary plus makes it an expression the planner does not read; the limit applies the same.
 * test/store/bound-limits.test.ts keeps the sources to this.
 */

/**
 * The WAL file is cut back to this after a checkpoint (4 MiB: about the ~500–1000 pages written
 * between two checkpoints; a burst may grow it to the 4000-page backstop of wal-checkpointer.ts).
 */
export const WAL_SIZE_LIMIT_BYTES = 4 * 1024 * 1024;

/**
 * Page cache per connection, KiB. Pages past it are read again from the kernel's page cache. A
 * planning pass that plans due slots among 10,000 bookings (the design's 5 ms bar) read 77 pages
 * from the kernel with 2 MiB, 155 with 1 MiB, 463 with 512 KiB and 689 with 256 KiB, and took
 * ~1 ms longer with 256 KiB (same process, interleaved: issue 14). 2 MiB costs ~2 MB of idle RSS
 * with 10,000 bookings; the bar wins.
 */
export const STORE_CACHE_KIB = 2048;

export interface Migration {
  version: number;
  name: string;
  sql: string;
}

/**
 * agent/store/migrations beside this module (source tree, tsc's dist/); from the bundled command
 * line (dist/agent/cli/main.js, scripts/bundle.mjs) the same directory is ../store/migrations. One
 * copy in the package: an upgrade's new migration is found whichever way the code was loaded.
 */
function defaultMigrationsDir(): string {
  const here = dirname(fileURLToPath(import.meta.url));
  const beside = join(here, 'migrations');
  return existsSync(beside) ? beside : join(here, '..', 'store', 'migrations');
}

const migrationsDir = defaultMigrationsDir();

/** The numbered migrations shipped with this build, in order. */
export function loadMigrations(dir = migrationsDir): Migration[] {
  return readdirSync(dir)
    .filter((f) => /^\d{4}_.+\.sql$/.test(f))
    .sort()
    .map((f) => ({
      version: Number(f.slice(0, 4)),
      name: f.replace(/\.sql$/, ''),
      sql: readFileSync(join(dir, f), 'utf8'),
    }));
}

export class MigrationError extends Error {
  constructor(
    message: string,
    readonly migration: string,
    override readonly cause: unknown,
  ) {
    super(message);
    this.name = 'MigrationError';
  }
}

export interface OpenOptions {
  /** Called once before the first pending migration runs (e.g. to back the database up). */
  beforeMigrate?: (db: Db, fromVersion: number, toVersion: number) => void;
  migrations?: Migration[];
  readonly?: boolean;
  /** Stop after this schema version (tests that build an "old" database). */
  targetVersion?: number;
  /** Move a corrupt file aside and start fresh instead of failing (agent start; see corrupt-recovery.ts). */
  recoverCorruption?: boolean;
  /** Chaos/test hook: cap the file at this many pages (PRAGMA max_page_count) to act out a full disk. */
  maxPageCount?: number;
  /** Timestamps for the store's own events (storage recovered); the agent passes its clock. */
  now?: () => number;
  /** When WAL checkpoints run (wal-checkpointer.ts); the agent passes its clock as `timers`. */
  walCheckpoint?: WalCheckpointerOptions;
  /**
   * How long SQLite itself waits for another connection's write lock before SQLITE_BUSY. The driver
   * is synchronous, so this wait blocks the event loop: the agent keeps it short and retries
   * asynchronously (docs/lifecycle.md "Failures"); one-shot CLI commands may wait longer.
   */
  busyTimeoutMs?: number;
}

/** The agent's default: SQLite waits at most this long, then the write is retried asynchronously. */
export const AGENT_BUSY_TIMEOUT_MS = 100;

export function openDb(path: string, opts: OpenOptions = {}): Db {
  if (path !== ':memory:' && !opts.readonly) createOwnerOnly(path);
  const db = new Database(path, { readonly: opts.readonly ?? false });
  try {
    // Migration 0007 computes the commands table's lookup key in SQL.
    db.function(COMMAND_KEY_SQL, { deterministic: true }, (id: unknown) => commandKey(String(id)));
    db.pragma(
      `busy_timeout = ${Math.max(0, Math.floor(opts.busyTimeoutMs ?? AGENT_BUSY_TIMEOUT_MS))}`,
    );
    if (!opts.readonly) {
      db.pragma('journal_mode = WAL');
      // A checkpoint leaves the WAL at most this big (a burst can grow it far past the 1000-page
      // auto-checkpoint while a reader holds it back); housekeeping truncates it to zero.
      db.pragma(`journal_size_limit = ${WAL_SIZE_LIMIT_BYTES}`);
    }
    db.pragma('synchronous = FULL');
    // better-sqlite3 builds SQLite with a 16 MiB page cache per connection; the agent's hot set (due
    // bookings and runs, by index) is small, and the unit's memory budget is too.
    db.pragma(`cache_size = -${STORE_CACHE_KIB}`);
    db.pragma('foreign_keys = ON');
    if (!opts.readonly) migrate(db, opts);
    if (opts.maxPageCount) db.pragma(`max_page_count = ${Math.floor(opts.maxPageCount)}`);
    return db;
  } catch (err) {
    db.close();
    throw err;
  }
}

/**
 * The store holds clear-text phone numbers and raw commands: its directory is created 0700 and its
 * files 0600 whoever starts the agent, whatever the umask. SQLite would create the file 0644 minus
 * the umask, and gives -wal/-shm the database file's mode, so the file is created here first.
 * Files of ours left group/world-readable by an older agent are tightened.
 */
function createOwnerOnly(path: string): void {
  mkdirSync(dirname(path), { recursive: true, mode: 0o700 });
  try {
    closeSync(openSync(path, 'wx', 0o600));
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
  }
  for (const f of [path, `${path}-wal`, `${path}-shm`]) {
    const st = statSync(f, { throwIfNoEntry: false });
    if (st && st.mode & 0o077 && st.uid === process.getuid?.()) chmodSync(f, st.mode & 0o700);
  }
}

export function schemaVersion(db: Db): number {
  return db.pragma('user_version', { simple: true }) as number;
}

/** Forward-only, one transaction per migration: a failure leaves the previous schema untouched. */
export function migrate(db: Db, opts: OpenOptions = {}): number {
  const all = opts.migrations ?? loadMigrations();
  const current = schemaVersion(db);
  const latest = all.at(-1)?.version ?? 0;
  if (current > latest) {
    throw new MigrationError(
      `database schema version ${current} is newer than this agent knows (${latest}); ` +
        'install the newer agent again or restore a backup',
      `v${current}`,
      null,
    );
  }
  const target = opts.targetVersion ?? latest;
  const pending = all.filter((m) => m.version > current && m.version <= target);
  if (pending.length === 0) return current;
  opts.beforeMigrate?.(db, current, pending.at(-1)!.version);
  for (const m of pending) {
    try {
      db.transaction(() => {
        db.exec(m.sql);
        db.pragma(`user_version = ${m.version}`);
      }).immediate();
    } catch (err) {
      throw new MigrationError(
        `migration ${m.name} failed: ${(err as Error).message}`,
        m.name,
        err,
      );
    }
  }
  return schemaVersion(db);
}
