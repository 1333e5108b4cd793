/**
 * Rule 6: side effects toward the cloud are rows too. Every event is written here in the same
 * transaction as the state change it describes, with a stable event id and the per-unit sequence
 * (the row's seq). Delivery (MQTT, QoS 1, marked sent on PUBACK) lives in sync/.
 */
import { randomUUID } from 'node:crypto';
import type { Db } from './db.js';
import {
  EVENT_CLASS,
  type EventClass,
  type EventPayloads,
  type EventType,
} from '../../sync/contract/events.js';

export type { EventClass, EventPayloads, EventType };

export interface OutboxEvent {
  seq: number;
  eventId: string;
  type: string;
  class: EventClass;
  payload: Record<string, unknown>;
  createdAt: number;
  sentAt: number | null;
  receiptedAt: number | null;
}

interface OutboxRow {
  seq: number;
  event_id: string;
  type: string;
  class: EventClass;
  payload: string;
  created_at: number;
  sent_at: number | null;
  receipted_at: number | null;
}

const toEvent = (r: OutboxRow): OutboxEvent => ({
  seq: r.seq,
  eventId: r.event_id,
  type: r.type,
  class: r.class,
  payload: JSON.parse(r.payload) as Record<string, unknown>,
  createdAt: r.created_at,
  sentAt: r.sent_at,
  receiptedAt: r.receipted_at,
});

/** A row to send: its payload left as the JSON text stored (the drain splices it in, unparsed). */
export interface OwedEvent {
  seq: number;
  eventId: string;
  type: string;
  class: EventClass;
  payloadJson: string;
  createdAt: number;
  sentAt: number | null;
}

const toOwed = (r: OutboxRow): OwedEvent => ({
  seq: r.seq,
  eventId: r.event_id,
  type: r.type,
  class: r.class,
  payloadJson: r.payload,
  createdAt: r.created_at,
  sentAt: r.sent_at,
});

export class Outbox {
  private readonly insert;
  private readonly unsent;
  private readonly markSentStmt;
  private readonly countStmt;
  private readonly oldestStmt;
  private readonly evictStmt;
  private readonly listStmt;
  private readonly owedStmt;
  private readonly receiptStmt;
  private readonly unreceiptedStmt;
  private readonly seqFloorStmt;

  constructor(
    private readonly db: Db,
    private readonly onAdd: () => void = () => undefined,
  ) {
    this.insert = db.prepare(
      'INSERT INTO outbox (event_id, type, class, payload, created_at) VALUES (?, ?, ?, ?, ?)',
    );
    // The never-sent rows are read and counted through their own partial index: SQLite would
    // otherwise pick outbox_unreceipted and walk every sent-but-unreceipted row (4 ms per drain
    // sweep with 20,000 of them: 140 ms/min of idle CPU with the link on, issue 14).
    this.unsent = db.prepare<[number, number], OutboxRow>(
      `SELECT * FROM outbox INDEXED BY outbox_unsent
       WHERE sent_at IS NULL AND receipted_at IS NULL AND seq > ? ORDER BY seq LIMIT +?`,
    );
    // The first send only: a re-send of an unreceipted critical event writes nothing (the drainer
    // spaces re-sends in memory), so a cloud that stays silent costs no flash wear.
    // By seq range: PUBACKs come back in publish order, so a burst's marks are one or a few ranges.
    this.markSentStmt = db.prepare<[number, number, number]>(
      `UPDATE outbox SET sent_at = ?
       WHERE seq BETWEEN ? AND ? AND sent_at IS NULL AND receipted_at IS NULL`,
    );
    this.owedStmt = db.prepare<[number, number, number], OutboxRow>(
      `SELECT * FROM outbox WHERE seq > ? AND receipted_at IS NULL
         AND (sent_at IS NULL OR (class = 'critical' AND sent_at <= ?))
       ORDER BY seq LIMIT +?`,
    );
    // A receipt may overtake the PUBACK's mark: a receipted row counts as sent. (The right-hand
    // side of SET sees the old row, so `coalesce(sent_at, receipted_at)` left sent_at NULL and the
    // row counted as owed for ever.) Rows left so by that mistake: see the backlog's filter below.
    this.receiptStmt = db.prepare<[number, number, number, number]>(
      `UPDATE outbox SET receipted_at = ?, sent_at = coalesce(sent_at, ?)
       WHERE seq BETWEEN ? AND ? AND receipted_at IS NULL`,
    );
    this.unreceiptedStmt = db.prepare<[], { n: number }>(
      `SELECT count(*) AS n FROM outbox WHERE receipted_at IS NULL AND class = 'critical'`,
    );
    this.countStmt = db.prepare<[], { n: number; oldest: number | null }>(
      `SELECT count(*) AS n, min(created_at) AS oldest FROM outbox INDEXED BY outbox_unsent
       WHERE sent_at IS NULL AND receipted_at IS NULL`,
    );
    this.oldestStmt = db.prepare<[], { seq: number }>(
      `SELECT seq FROM outbox INDEXED BY outbox_unsent
       WHERE sent_at IS NULL AND receipted_at IS NULL ORDER BY seq LIMIT 1`,
    );
    this.evictStmt = db.prepare<[number]>(
      `DELETE FROM outbox WHERE seq IN (
         SELECT seq FROM outbox INDEXED BY outbox_unsent
         WHERE sent_at IS NULL AND class = 'telemetry' ORDER BY seq LIMIT +?)`,
    );
    // AUTOINCREMENT keeps its high-water mark in sqlite_sequence (a row appears with the first
    // insert): raising it makes the next event's seq follow `floor`.
    this.seqFloorStmt = db.prepare<[number]>(
      `INSERT INTO sqlite_sequence (name, seq)
       SELECT 'outbox', ? WHERE NOT EXISTS (SELECT 1 FROM sqlite_sequence WHERE name = 'outbox')`,
    );
    this.listStmt = db.prepare<[number], OutboxRow>(
      'SELECT * FROM outbox ORDER BY seq DESC LIMIT +?',
    );
  }

  /**
   * Append an event: one member of the typed event map (sync/contract/events.ts), its class fixed
   * per type. Call inside the transaction that makes the change it reports.
   */
  add<K extends EventType>(type: K, payload: EventPayloads[K], at: number): string {
    const eventId = randomUUID();
    this.insert.run(eventId, type, EVENT_CLASS[type], JSON.stringify(payload), at);
    this.onAdd();
    return eventId;
  }

  /** Unsent events in sequence order, after `afterSeq`. */
  pending(limit = 100, afterSeq = 0): OutboxEvent[] {
    return this.unsent.all(afterSeq, limit).map(toEvent);
  }

  /**
   * What is still owed to the cloud, in sequence order after `afterSeq`: every event never sent, and
   * every critical one sent at or before `resendBefore` that the cloud has not receipted yet.
   */
  owed(limit: number, afterSeq: number, resendBefore: number): OwedEvent[] {
    // No re-send due (the drainer's usual pass, every few seconds): only never-sent rows, found
    // through the partial index. The general statement scans every unreceipted row.
    const rows =
      resendBefore === Number.NEGATIVE_INFINITY
        ? this.unsent.all(afterSeq, limit)
        : this.owedStmt.all(afterSeq, resendBefore, limit);
    return rows.map(toOwed);
  }

  /** The cloud has these events (inclusive seq ranges): they are never sent again. */
  receipt(ranges: readonly (readonly [number, number])[], at: number): number {
    let n = 0;
    for (const [from, to] of ranges) n += this.receiptStmt.run(at, at, from, to).changes;
    return n;
  }

  /** Critical events the cloud has not receipted yet (sent or not). */
  unreceipted(): number {
    return this.unreceiptedStmt.get()!.n;
  }

  /**
   * Record the first send of the rows with these seqs (by seq: event_id has no index, 0005);
   * returns how many were not marked yet. One statement per run of consecutive seqs.
   */
  markSent(seqs: readonly number[], at: number): number {
    const sorted = [...seqs].sort((a, b) => a - b);
    let n = 0;
    for (let i = 0; i < sorted.length;) {
      const from = sorted[i]!;
      let to = from;
      while (++i < sorted.length && sorted[i]! <= to + 1) to = sorted[i]!;
      n += this.markSentStmt.run(at, from, to).changes;
    }
    return n;
  }

  backlog(): { count: number; oldestCreatedAt: number | null } {
    const r = this.countStmt.get()!;
    return { count: r.n, oldestCreatedAt: r.oldest };
  }

  oldestUnsentSeq(): number | null {
    return this.oldestStmt.get()?.seq ?? null;
  }

  /** Drop the oldest unsent telemetry to keep the backlog bounded; critical events are never dropped. */
  evictTelemetry(count: number): number {
    return this.evictStmt.run(count).changes;
  }

  /**
   * The next event's seq is above `floor` (a store recovered from corruption continues after the
   * damaged one's sequence, agent/store/corrupt-recovery.ts). Only for an outbox that never had a
   * row: a sequence is never lowered or moved under rows that exist.
   */
  continueAfter(floor: number): void {
    const n = this.seqFloorStmt.run(floor).changes;
    if (n !== 1) throw new Error('outbox sequence already started; it is never moved');
  }

  recent(limit = 50): OutboxEvent[] {
    return this.listStmt.all(limit).map(toEvent);
  }
}
