/** Small key/value facts about the unit (boot epoch, highest time seen, last command sequence). */
import type { Db } from './db.js';

export class MetaStore {
  private readonly getStmt;
  private readonly setStmt;
  constructor(db: Db) {
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
}

export const META = {
  bootEpoch: 'boot_epoch',
  maxSeenTime: 'max_seen_time',
  lastCommandSeq: 'last_command_seq',
  unitId: 'unit_id',
} as const;
