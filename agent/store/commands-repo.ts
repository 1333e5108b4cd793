/** The inbound command audit log; also what lets a redelivered command get its original result. */
import type { Db } from './db.js';
import type { CommandResult } from '../bookings/schema.js';
import { commandKey } from './command-key.js';

export interface CommandRecord {
  commandId: string;
  source: string;
  type: string | null;
  bookingId: string | null;
  status: 'accepted' | 'ignored_stale' | 'rejected';
  result: CommandResult;
  raw: string | null;
  receivedAt: number;
  /** SHA-256 of the canonical command: the same id with another digest is a reuse. */
  digest: string | null;
  /** The envelope that carried it (null for a local `apply`). */
  msgId: string | null;
}

interface RawCommand {
  command_id: string;
  source: string;
  type: string | null;
  booking_id: string | null;
  status: CommandRecord['status'];
  result: string;
  raw: string | null;
  received_at: number;
  digest: string | null;
  msg_id: string | null;
}

const RAW_LIMIT = 8192;

/** command_id, id_key, source, type, booking_id, status, result, raw, received_at, digest, msg_id */
type InsertArgs = [
  string,
  number,
  string,
  string | null,
  string | null,
  CommandRecord['status'],
  string,
  string | null,
  number,
  string | null,
  string | null,
];

export class CommandsRepo {
  private readonly getStmt;
  private readonly insertStmt;
  private readonly recentStmt;

  constructor(db: Db) {
    this.getStmt = db.prepare<[number, string], RawCommand>(
      'SELECT * FROM commands WHERE id_key = ? AND command_id = ?',
    );
    // Positional: named parameters cost a lookup each, on the burst's hottest insert.
    this.insertStmt = db.prepare<InsertArgs>(
      `INSERT INTO commands (command_id, id_key, source, type, booking_id, status, result, raw,
         received_at, digest, msg_id)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
    );
    this.recentStmt = db.prepare<[number], RawCommand>(
      'SELECT * FROM commands ORDER BY received_at DESC LIMIT +?',
    );
  }

  /** The key of the id last looked up: applying a command looks it up, then records it. */
  private last: { id: string; key: number } | null = null;

  private keyOf(commandId: string): number {
    if (this.last?.id !== commandId) this.last = { id: commandId, key: commandKey(commandId) };
    return this.last.key;
  }

  get(commandId: string): CommandRecord | null {
    const r = this.getStmt.get(this.keyOf(commandId), commandId);
    return r ? toRecord(r) : null;
  }

  record(c: CommandRecord): void {
    this.insertStmt.run(
      c.commandId,
      this.keyOf(c.commandId),
      c.source,
      c.type,
      c.bookingId,
      c.status,
      JSON.stringify(c.result),
      c.raw === null ? null : c.raw.slice(0, RAW_LIMIT),
      c.receivedAt,
      c.digest,
      c.msgId,
    );
  }

  recent(limit = 50): CommandRecord[] {
    return this.recentStmt.all(limit).map(toRecord);
  }
}

function toRecord(r: RawCommand): CommandRecord {
  return {
    commandId: r.command_id,
    source: r.source,
    type: r.type,
    bookingId: r.booking_id,
    status: r.status,
    result: JSON.parse(r.result) as CommandResult,
    raw: r.raw,
    receivedAt: r.received_at,
    digest: r.digest,
    msgId: r.msg_id,
  };
}
