/**
 * The technician revocation list: the one writer of `technician_revocations`. The cloud pushes the
 * FULL current list as the `technician.revocations` control; a list replaces the held one only when
 * its version is higher (the same version with other content is refused: one version, one list).
 * The verifier asks `revokedBecause` on every request, from memory.
 */
import type { RevocationList, TechnicianClaims } from '../../sync/contract/technician.js';
import { canonicalJson } from '../../sync/contract/canonical.js';
import type { Store } from '../store/store.js';
import { revocationsAppliedPayload, TECHNICIAN_EVENTS } from './events.js';

export interface HeldRevocations {
  version: number;
  issuedAt: number;
  receivedAt: number;
  /** Revoked token id → when that token expires anyway. */
  tokens: Map<string, number>;
  /** name → tokens issued before this instant are revoked. */
  technicians: Map<string, number>;
  /** The list as received (what a redelivery is compared with). */
  list: Pick<RevocationList, 'issuedAt' | 'tokens' | 'technicians'>;
}

export interface RevocationOutcome {
  status: 'accepted' | 'rejected';
  detail?: Record<string, unknown>;
  reasons?: { path: string; code: string; message: string }[];
}

interface Row {
  version: number;
  issued_at: number;
  received_at: number;
  list: string;
}

export class TechnicianRevocations {
  /** undefined: not loaded yet; null: none received. */
  private held: HeldRevocations | null | undefined = undefined;

  constructor(private readonly store: Store) {}

  /** The list held now (loaded from the store on first use, and after every replace). */
  current(): HeldRevocations | null {
    if (this.held === undefined) {
      const row = this.store.db
        .prepare<[], Row>(
          'SELECT version, issued_at, received_at, list FROM technician_revocations',
        )
        .get();
      this.held = row ? toHeld(row) : null;
    }
    return this.held;
  }

  revokedBecause(c: TechnicianClaims): string | null {
    const h = this.current();
    if (!h) return null;
    if (h.tokens.has(c.tid)) {
      return `this token (${c.tid}) was revoked by the cloud (revocation list v${h.version})`;
    }
    const before = h.technicians.get(c.name);
    if (before !== undefined && c.iat * 1000 < before) {
      return (
        `every token of ${c.name} issued before ${new Date(before).toISOString()} was revoked ` +
        `(revocation list v${h.version})`
      );
    }
    return null;
  }

  /** Apply a pushed list. Call inside the transaction that records the control. */
  replace(list: RevocationList, now: number): RevocationOutcome {
    const held = this.current();
    const content = {
      issuedAt: list.issuedAt,
      tokens: list.tokens,
      technicians: list.technicians,
    };
    if (held && list.version <= held.version) {
      const same =
        list.version === held.version && canonicalJson(content) === canonicalJson(held.list);
      if (same) {
        return { status: 'accepted', detail: { version: held.version, unchanged: true } };
      }
      return {
        status: 'rejected',
        reasons: [
          {
            path: 'body.version',
            code: list.version === held.version ? 'revocations_conflict' : 'stale_revocations',
            message:
              list.version === held.version
                ? `revocation list v${list.version} is already held with other content; send a higher version`
                : `revocation list v${list.version} is older than the held v${held.version}`,
          },
        ],
      };
    }
    const issuedAt = Date.parse(list.issuedAt);
    this.store.tx(() => {
      this.store.db
        .prepare(
          `INSERT INTO technician_revocations (id, version, issued_at, received_at, list)
           VALUES (1, @version, @issuedAt, @now, @list)
           ON CONFLICT (id) DO UPDATE SET version = excluded.version, issued_at = excluded.issued_at,
             received_at = excluded.received_at, list = excluded.list
           WHERE excluded.version > technician_revocations.version`,
        )
        .run({
          version: list.version,
          issuedAt,
          now,
          list: JSON.stringify(content),
        });
      this.store.outbox.add(
        TECHNICIAN_EVENTS.revocations,
        revocationsAppliedPayload({
          version: list.version,
          previousVersion: held?.version ?? null,
          issuedAt,
          tokens: list.tokens.length,
          technicians: list.technicians.length,
          at: now,
        }),
        now,
      );
    });
    // Reload after the enclosing transaction: what is held is what was committed.
    this.held = undefined;
    return {
      status: 'accepted',
      detail: {
        version: list.version,
        previousVersion: held?.version ?? null,
        tokens: list.tokens.length,
        technicians: list.technicians.length,
      },
    };
  }
}

function toHeld(row: Row): HeldRevocations {
  const list = JSON.parse(row.list) as HeldRevocations['list'];
  return {
    version: row.version,
    issuedAt: row.issued_at,
    receivedAt: row.received_at,
    tokens: new Map(list.tokens.map((t) => [t.tid, Date.parse(t.expiresAt)])),
    technicians: list.technicians.reduce((m, t) => {
      const at = Date.parse(t.issuedBefore);
      return m.set(t.name, Math.max(at, m.get(t.name) ?? at));
    }, new Map<string, number>()),
    list,
  };
}
