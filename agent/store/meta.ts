/** Small key/value facts about the unit (boot epoch, highest time seen, last command sequence). */
import type { Db } from './db.js';

export class MetaStore {
  private readonly getStmt;
  private readonly setStmt;
  private readonly deleteStmt;
  constructor(db: Db) {
    this.deleteStmt = db.prepare<[string]>('DELETE FROM meta WHERE key = ?');
    this.getStmt = db.prepare<[string], { value: string }>('SELECT value FROM meta WHERE key = ?');
    this.setStmt = db.prepare<[string, string]>(
      'INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value',
    );
  }
  get(key: string): string | null {
    return this.getStmt.get(key)?.value ?? null;
  }
  getNumber(key: string): number | null {
    const v = this.get(key);
    return v === null ? null : Number(v);
  }
  set(key: string, value: string | number): void {
    this.setStmt.run(key, String(value));
  }
  delete(key: string): void {
    this.deleteStmt.run(key);
  }
}

export const META = {
  bootEpoch: 'boot_epoch',
  maxSeenTime: 'max_seen_time',
  lastCommandSeq: 'last_command_seq',
  /** Command sequences applied beyond lastCommandSeq (arrived out of order), JSON array. */
  commandsAhead: 'commands_ahead',
  /**
   * The asOf of the newest snapshot applied: a command numbered at or below it is already part of
   * that snapshot, so it is answered `covered_by_snapshot` and never applied (docs/protocol.md).
   */
  snapshotAsOf: 'snapshot_as_of',
  /** Why the unit needs a snapshot, until one heals it (JSON; agent/bookings/sync-position.ts). */
  snapshotNeeded: 'snapshot_needed',
  /** A snapshot whose chunks were arriving (a restart loses them: ask again). */
  snapshotAssembling: 'snapshot_assembling',
  /** The newest `sentAt` of an accepted cloud message: the freshness reference of an untrusted clock. */
  newestCloudSentAt: 'newest_cloud_sent_at',
  unitId: 'unit_id',
  /**
   * Connects so far, written by the link (sync/link/link.ts CONNECT_COUNT_KEY, the same key): named
   * here because a store recovered from corruption carries it over (agent/store/recovery-floors.ts).
   */
  connectCount: 'mqtt_connect_count',
} as const;
