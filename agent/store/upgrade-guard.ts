/**
 * Turns a failed upgrade into a refusal to start that tells the operator exactly what happened and
 * where the backup is. Exit code 78 (EX_CONFIG) is listed in the systemd unit's
 * RestartPreventExitStatus: restarting cannot fix a migration, so systemd must not loop on it.
 */
import { MigrationError } from './db.js';
import { BackupError, backupsDirOf, listBackups, preMigrationBackup } from './backup.js';
import type { PreMigrationBackup } from './backup.js';
import type { OpenOptions } from './db.js';

export const EXIT_REFUSED = 78;

export class StartRefusedError extends Error {
  readonly exitCode = EXIT_REFUSED;
  constructor(
    message: string,
    override readonly cause: unknown,
  ) {
    super(message);
    this.name = 'StartRefusedError';
  }
}

/** The agent's pre-migration backup policy for a data dir. */
export function backupsFor(
  dataDir: string,
  keep: number,
  base?: OpenOptions,
): PreMigrationBackup & { dir: string } {
  const dir = backupsDirOf(dataDir);
  return { dir, ...preMigrationBackup({ dir, keep, ...(base ? { base } : {}) }) };
}

/** Run the agent's start; a migration or backup failure becomes a StartRefusedError. */
export async function refuseOnFailedUpgrade<T>(
  backups: PreMigrationBackup & { dir: string },
  start: () => Promise<T>,
): Promise<T> {
  try {
    return await start();
  } catch (err) {
    if (err instanceof BackupError) {
      throw new StartRefusedError(`refusing to start: ${err.message}`, err);
    }
    if (!(err instanceof MigrationError)) throw err;
    const taken = backups.lastBackup();
    const newest = taken ?? listBackups(backups.dir).at(-1) ?? null;
    const where = taken
      ? `the copy taken just before migrating is ${taken}`
      : newest
        ? `the newest backup is ${newest}`
        : `no backup exists in ${backups.dir}`;
    throw new StartRefusedError(
      `refusing to start: ${err.message}. The database was left as it was before this upgrade ` +
        `(each migration is one transaction); ${where}. Install the previous agent version, or ` +
        `fix the cause and start again.`,
      err,
    );
  }
}
