/**
 * Retention: the SQL that keeps the store bounded for the life of a unit (flash storage, years of
 * service). Rows are deleted by age AND by count, in small batches (each its own short transaction,
 * so a call's commit never waits long behind housekeeping). The rule that matters most: nothing owed
 * is ever deleted —
 *
 * - runs that are pending, retry_wait or running, and every attempt of such a run, are never touched;
 *   a finished run that still has a live attempt (a cancel committed while the phone rang) neither;
 * - outbox rows the cloud has not been given are never touched (`OUTBOX_DELIVERED` below is the one
 *   place that says when a row is no longer owed);
 * - dead-lettered runs stay replayable for much longer than other finished runs (`deadRuns`).
 *
 * The schedule that calls this lives in agent/housekeeping.ts.
 */
import type { Db } from './db.js';

/**
 * The ONE condition under which an outbox row is no longer owed to the cloud and may be deleted:
 * the cloud receipted it (docs/protocol.md "Receipts") — or, for telemetry, which is best effort
 * and never re-sent, the broker acknowledged it.
 */
export const OUTBOX_DELIVERED =
  "(receipted_at IS NOT NULL OR (class = 'telemetry' AND sent_at IS NOT NULL))";

/** Finished runs that are not dead letters (those have their own, longer, rule). */
const FINISHED_LIST = `'completed', 'skipped', 'cancelled', 'refused'`;
const FINISHED = `(${FINISHED_LIST})`;
/** Every run status that owes nothing more (finished or dead-lettered). */
const DONE = `(${FINISHED_LIST}, 'dead')`;
const LIVE_ATTEMPT = `('claimed', 'dialing', 'alerting', 'active')`;

/** How long and how many rows of one kind are kept; whichever limit is hit first deletes. */
export interface KeepRule {
  maxAgeDays: number;
  maxRows: number;
}

export interface RetentionPolicy {
  /** Outbox rows already delivered (see OUTBOX_DELIVERED). */
  outbox: KeepRule;
  /** The inbound command audit (and redelivery memory). */
  commands: KeepRule & {
    /** Rejected commands carry their raw payload (up to 8 KiB each): a junk flood is capped apart. */
    rejectedMaxRows: number;
  };
  /** Completed, skipped, cancelled and refused runs, with their attempts. */
  runs: KeepRule;
  /** Dead-lettered runs (replayable), with their attempts. */
  deadRuns: KeepRule;
  /**
   * The inbound message memory (de-duplication by msgId, audit of refused messages). Kept longer
   * than the freshness window, so a message is refused as stale before its id is forgotten.
   */
  messages: KeepRule & { rejectedMaxRows: number };
}

export interface RetentionReport {
  outbox: number;
  commands: number;
  messages: number;
  runs: number;
  deadRuns: number;
  attempts: number;
}

export const emptyReport = (): RetentionReport => ({
  outbox: 0,
  commands: 0,
  messages: 0,
  runs: 0,
  deadRuns: 0,
  attempts: 0,
});

const DAY_MS = 86_400_000;

/** A run may go when it is finished, old or over the count, and has no live attempt. */
const runDeletable = (statuses: string) => `
  status IN ${statuses}
  AND NOT EXISTS (SELECT 1 FROM attempts a WHERE a.run_id = runs.id AND a.status IN ${LIVE_ATTEMPT})`;

/**
 * The prepared statements; every select returns at most `batch` keys, oldest first, and the caller
 * deletes exactly those keys, so every delete is bounded.
 */
export class RetentionQueries {
  private readonly s;

  constructor(db: Db) {
    const runsBatch = (statuses: string) =>
      db.prepare<{ cutoff: number; keep: number; batch: number }, { id: string }>(
        `SELECT id FROM runs
         WHERE ${runDeletable(statuses)}
           AND (coalesce(finished_at, updated_at) < @cutoff
                OR rowid <= (SELECT rowid FROM runs WHERE status IN ${statuses}
                             ORDER BY rowid DESC LIMIT 1 OFFSET +@keep))
         ORDER BY rowid LIMIT +@batch`,
      );
    this.s = {
      outboxBatch: db.prepare<{ cutoff: number; keep: number; batch: number }, { seq: number }>(
        `SELECT seq FROM outbox
         WHERE ${OUTBOX_DELIVERED}
           AND (created_at < @cutoff
                OR seq <= (SELECT seq FROM outbox WHERE ${OUTBOX_DELIVERED}
                           ORDER BY seq DESC LIMIT 1 OFFSET +@keep))
         ORDER BY seq LIMIT +@batch`,
      ),
      // The condition is repeated in the DELETE so a row that changed meanwhile is never removed.
      outboxDelete: db.prepare<[number]>(
        `DELETE FROM outbox WHERE seq = ? AND ${OUTBOX_DELIVERED}`,
      ),
      commandsBatch: db.prepare<{ cutoff: number; keep: number; batch: number }, { rowid: number }>(
        `SELECT rowid FROM commands
         WHERE received_at < @cutoff
            OR rowid <= (SELECT rowid FROM commands ORDER BY rowid DESC LIMIT 1 OFFSET +@keep)
         ORDER BY rowid LIMIT +@batch`,
      ),
      rejectedBatch: db.prepare<{ keep: number; batch: number }, { rowid: number }>(
        `SELECT rowid FROM commands
         WHERE status = 'rejected'
           AND rowid <= (SELECT rowid FROM commands WHERE status = 'rejected'
                         ORDER BY rowid DESC LIMIT 1 OFFSET +@keep)
         ORDER BY rowid LIMIT +@batch`,
      ),
      commandDelete: db.prepare<[number]>('DELETE FROM commands WHERE rowid = ?'),
      messagesBatch: db.prepare<{ cutoff: number; keep: number; batch: number }, { id: number }>(
        `SELECT id FROM messages
         WHERE received_at < @cutoff
            OR id <= (SELECT id FROM messages ORDER BY id DESC LIMIT 1 OFFSET +@keep)
         ORDER BY id LIMIT +@batch`,
      ),
      rejectedMessagesBatch: db.prepare<{ keep: number; batch: number }, { id: number }>(
        `SELECT id FROM messages
         WHERE status = 'rejected'
           AND id <= (SELECT id FROM messages WHERE status = 'rejected'
                      ORDER BY id DESC LIMIT 1 OFFSET +@keep)
         ORDER BY id LIMIT +@batch`,
      ),
      messageDelete: db.prepare<[number]>('DELETE FROM messages WHERE id = ?'),
      finishedRunsBatch: runsBatch(FINISHED),
      deadRunsBatch: runsBatch(`('dead')`),
      // Both deletes re-check that the run is finished: an owed run or its attempts never go.
      attemptsDelete: db.prepare<[string]>(
        `DELETE FROM attempts WHERE run_id = ?
           AND EXISTS (SELECT 1 FROM runs WHERE runs.id = attempts.run_id
                       AND ${runDeletable(DONE)})`,
      ),
      runDelete: db.prepare<[string]>(`DELETE FROM runs WHERE id = ? AND ${runDeletable(DONE)}`),
    };
  }

  /** One batch of delivered outbox rows past their age or count. Returns rows deleted. */
  outbox(rule: KeepRule, now: number, batch: number): number {
    const keys = this.s.outboxBatch.all(this.bounds(rule, now, batch));
    let n = 0;
    for (const k of keys) n += this.s.outboxDelete.run(k.seq).changes;
    return n;
  }

  /** One batch of command audit rows past their age or count (rejected ones have a tighter cap). */
  commands(rule: RetentionPolicy['commands'], now: number, batch: number): number {
    const keys = [
      ...this.s.rejectedBatch.all({ keep: rule.rejectedMaxRows, batch }),
      ...this.s.commandsBatch.all(this.bounds(rule, now, batch)),
    ];
    let n = 0;
    for (const k of new Set(keys.map((k) => k.rowid))) n += this.s.commandDelete.run(k).changes;
    return n;
  }

  /** One batch of inbound message records past their age or count (refused ones capped apart). */
  messages(rule: RetentionPolicy['messages'], now: number, batch: number): number {
    const keys = [
      ...this.s.rejectedMessagesBatch.all({ keep: rule.rejectedMaxRows, batch }),
      ...this.s.messagesBatch.all(this.bounds(rule, now, batch)),
    ];
    let n = 0;
    for (const id of new Set(keys.map((k) => k.id))) n += this.s.messageDelete.run(id).changes;
    return n;
  }

  /** One batch of finished (or, with `dead`, dead-lettered) runs and their attempts. */
  runs(
    rule: KeepRule,
    now: number,
    batch: number,
    dead: boolean,
  ): { runs: number; attempts: number } {
    const stmt = dead ? this.s.deadRunsBatch : this.s.finishedRunsBatch;
    const out = { runs: 0, attempts: 0 };
    for (const { id } of stmt.all(this.bounds(rule, now, batch))) {
      out.attempts += this.s.attemptsDelete.run(id).changes;
      out.runs += this.s.runDelete.run(id).changes;
    }
    return out;
  }

  private bounds(rule: KeepRule, now: number, batch: number) {
    return { cutoff: now - rule.maxAgeDays * DAY_MS, keep: rule.maxRows, batch };
  }
}
