/**
 * One agent per data dir (rule 13). The lock is an exclusive SQLite lock on `<dataDir>/agent.lock`
 * (`locking_mode=EXCLUSIVE` + a write): a kernel (fcntl) lock that the holder keeps for its whole
 * life and that the kernel drops the moment the process dies — also after SIGKILL or a power cut, so
 * a stale lock file never blocks a restart. The holder's pid is written beside it for the message
 * a second agent prints. CLI commands do not take it: they work beside the agent through SQLite's
 * own transactions (docs/lifecycle.md).
 */
import Database from 'better-sqlite3';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

/** Exit code of a second `companion-agent run` on a data dir that is in use. */
export const EXIT_DATA_DIR_LOCKED = 73;

export class DataDirLockedError extends Error {
  constructor(
    readonly dataDir: string,
    readonly holderPid: number | null,
  ) {
    super(
      `another agent is already running on ${dataDir}` +
        (holderPid !== null ? ` (pid ${holderPid})` : '') +
        '; stop it first (systemctl stop companion-agent), or give this one its own dataDir',
    );
    this.name = 'DataDirLockedError';
  }
}

export class DataDirLock {
  private constructor(
    private db: Database.Database | null,
    readonly path: string,
  ) {}

  static acquire(dataDir: string, pid = process.pid): DataDirLock {
    mkdirSync(dataDir, { recursive: true, mode: 0o700 });
    const path = join(dataDir, 'agent.lock');
    const pidPath = `${path}.pid`;
    const db = new Database(path);
    try {
      db.pragma('busy_timeout = 0');
      db.pragma('journal_mode = DELETE');
      db.pragma('locking_mode = EXCLUSIVE');
      // The first write takes the exclusive lock; EXCLUSIVE mode keeps it until the connection closes.
      db.exec('CREATE TABLE IF NOT EXISTS holder (pid INTEGER NOT NULL, since TEXT NOT NULL)');
      db.transaction(() => {
        db.exec('DELETE FROM holder');
        db.prepare('INSERT INTO holder (pid, since) VALUES (?, ?)').run(
          pid,
          new Date().toISOString(),
        );
      }).immediate();
    } catch (err) {
      db.close();
      const code = (err as { code?: unknown }).code;
      if (typeof code === 'string' && code.startsWith('SQLITE_BUSY'))
        throw new DataDirLockedError(dataDir, readPid(pidPath));
      throw err;
    }
    writeFileSync(pidPath, `${pid}\n`, { mode: 0o600 });
    return new DataDirLock(db, path);
  }

  get held(): boolean {
    return this.db !== null;
  }

  release(): void {
    this.db?.close();
    this.db = null;
  }
}

function readPid(path: string): number | null {
  try {
    const n = Number(readFileSync(path, 'utf8').trim());
    return Number.isInteger(n) && n > 0 ? n : null;
  } catch {
    return null;
  }
}
