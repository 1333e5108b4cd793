/**
 * Inbound messages by their envelope msgId: the de-duplication memory (a redelivered message gets
 * its first answers again; a reused id with other content is refused) and the audit trail of
 * refused messages. SQL stays here; the sync sink is the only writer.
 */
import type { Db } from './db.js';

export interface MessageAnswer {
  type: 'command.result' | 'control.result';
  payload: Record<string, unknown>;
}

export interface MessageRecord {
  msgId: string | null;
  channel: string;
  digest: string | null;
  status: 'accepted' | 'rejected';
  answers: MessageAnswer[];
  raw: string | null;
  sentAt: number | null;
  receivedAt: number;
}

interface RawMessage {
  msg_id: string | null;
  channel: string;
  digest: string | null;
  status: 'accepted' | 'rejected';
  answers: string;
  raw: string | null;
  sent_at: number | null;
  received_at: number;
}

const RAW_LIMIT = 8192;

export class MessagesRepo {
  private readonly getStmt;
  private readonly insertStmt;
  private readonly recentStmt;

  constructor(db: Db) {
    this.getStmt = db.prepare<[string], RawMessage>(
      `SELECT * FROM messages WHERE msg_id = ? AND status = 'accepted'`,
    );
    this.insertStmt = db.prepare(
      `INSERT INTO messages (msg_id, channel, digest, status, answers, raw, sent_at, received_at)
       VALUES (@msgId, @channel, @digest, @status, @answers, @raw, @sentAt, @receivedAt)`,
    );
    this.recentStmt = db.prepare<[number], RawMessage>(
      'SELECT * FROM messages ORDER BY received_at DESC LIMIT +?',
    );
  }

  /** The accepted message with this id (refused ones never own an id). */
  get(msgId: string): MessageRecord | null {
    const r = this.getStmt.get(msgId);
    return r ? toRecord(r) : null;
  }

  record(m: MessageRecord): void {
    this.insertStmt.run({
      ...m,
      answers: JSON.stringify(m.answers),
      raw: m.raw === null ? null : m.raw.slice(0, RAW_LIMIT),
    });
  }

  recent(limit = 50): MessageRecord[] {
    return this.recentStmt.all(limit).map(toRecord);
  }
}

function toRecord(r: RawMessage): MessageRecord {
  return {
    msgId: r.msg_id,
    channel: r.channel,
    digest: r.digest,
    status: r.status,
    answers: JSON.parse(r.answers) as MessageAnswer[],
    raw: r.raw,
    sentAt: r.sent_at,
    receivedAt: r.received_at,
  };
}
