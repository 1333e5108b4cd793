/**
 * The technician audit trail: the one writer of `technician_audit`. Every action (and each token's
 * first sign-in per agent run) is a row with the technician's name from their token, AND a
 * `technician.action` outbox event, in one transaction — so the cloud learns who did what on which
 * unit. The table keeps its newest rows only (a bounded trail on a small flash disk).
 */
import type { Store } from '../store/store.js';
import {
  technicianActionPayload,
  TECHNICIAN_EVENTS,
  type TechnicianActionInput,
} from './events.js';

export const AUDIT_KEEP_ROWS = 2000;

export interface AuditRecord extends TechnicianActionInput {
  /** The client's address. */
  client: string | null;
}

export interface AuditView {
  id: number;
  at: string;
  technician: string;
  tokenId: string | null;
  action: string;
  outcome: string;
  detail: Record<string, unknown> | null;
  client: string | null;
}

interface Row {
  id: number;
  at: number;
  technician: string;
  token_id: string | null;
  action: string;
  outcome: string;
  detail: string | null;
  client: string | null;
}

export class TechnicianAudit {
  constructor(private readonly store: Store) {}

  /**
   * Write the audit row and (unless the action was refused: nothing changed) its outbox event.
   * Joins the caller's transaction when there is one.
   */
  record(r: AuditRecord): { auditId: number; eventId: string | null } {
    const { db } = this.store;
    return this.store.tx(() => {
      const id = Number(
        db
          .prepare(
            `INSERT INTO technician_audit (at, technician, token_id, action, outcome, detail, client)
             VALUES (?, ?, ?, ?, ?, ?, ?)`,
          )
          .run(
            r.at,
            r.technician,
            r.tokenId,
            r.action,
            r.outcome,
            JSON.stringify(r.detail),
            r.client,
          ).lastInsertRowid,
      );
      // Bounded by rowid: a cheap range delete, no scan.
      if (id % 100 === 0) {
        db.prepare('DELETE FROM technician_audit WHERE id <= ?').run(id - AUDIT_KEEP_ROWS);
      }
      const eventId =
        r.outcome === 'refused'
          ? null
          : this.store.outbox.add(
              TECHNICIAN_EVENTS.action,
              technicianActionPayload({ ...r, outcome: r.outcome }),
              r.at,
            );
      return { auditId: id, eventId };
    });
  }

  recent(limit: number): AuditView[] {
    return this.store.db
      .prepare<[number], Row>('SELECT * FROM technician_audit ORDER BY id DESC LIMIT +?')
      .all(limit)
      .map((x) => ({
        id: x.id,
        at: new Date(x.at).toISOString(),
        technician: x.technician,
        tokenId: x.token_id,
        action: x.action,
        outcome: x.outcome,
        detail: x.detail === null ? null : (JSON.parse(x.detail) as Record<string, unknown>),
        client: x.client,
      }));
  }
}
