/**
 * The unit's position in the cloud's command sequence — the ONE writer of it (rule 13). Kept in
 * the store's meta table, changed only inside the transaction that applied the message:
 *
 * | transition        | when                                             | to                                                     | event                         |
 * | ----------------- | ------------------------------------------------ | ------------------------------------------------------ | ----------------------------- |
 * | advance           | a `cmd` with seq = lastSeq + 1                   | lastSeq = seq, then every seq already applied after it | (its command results)         |
 * | gap               | a `cmd` with seq > lastSeq + 1                   | seq noted as applied ahead; a snapshot is needed        | `sync.position` (`gap`)        |
 * | replay            | a `cmd` with seq ≤ lastSeq                       | unchanged                                              | —                             |
 * | need              | session lost, never synced, resync, store reset… | a snapshot is needed (with the reason)                 | `sync.position` (`needed`)     |
 * | heal              | a snapshot as of S ≥ lastSeq applied             | lastSeq = S, then every seq applied after it; need cleared unless a gap remains; snapshotAsOf = S | `sync.position` (`healed`) |
 *
 * A `cmd` numbered at or below snapshotAsOf is already part of that snapshot: the applier answers
 * it `covered_by_snapshot` and applies nothing (a late copy must not undo what the snapshot said).
 *
 * `lastSeq` is the end of the contiguous range: every command message up to it has been applied or
 * is covered by an applied snapshot. Messages that arrive out of order are remembered (up to
 * AHEAD_LIMIT), so a late seq 23 after 24–26 moves lastSeq to 26.
 */
import type { Store } from '../store/store.js';
import { META } from '../store/meta.js';

export type SnapshotReason =
  | 'gap'
  | 'session_lost'
  | 'never_synced'
  | 'snapshot_incomplete'
  | 'resync'
  | 'storage_full'
  | 'recovered_from_corruption';

export interface SnapshotNeed {
  reason: SnapshotReason;
  /** When it was first needed (epoch ms). */
  since: number;
  /** For a gap: the first sequence seen beyond it. */
  gotSeq?: number;
}

/** Sequences applied beyond a gap that are remembered; older ones are covered by the snapshot asked for. */
export const AHEAD_LIMIT = 1000;

export class SyncPosition {
  constructor(private readonly store: Store) {}

  lastSeq(): number | null {
    return this.store.meta.getNumber(META.lastCommandSeq);
  }

  /** The asOf of the newest snapshot applied (null before the first). */
  snapshotAsOf(): number | null {
    return this.store.meta.getNumber(META.snapshotAsOf);
  }

  /** Sequences applied beyond lastSeq, ascending. */
  ahead(): number[] {
    const raw = this.store.meta.get(META.commandsAhead);
    if (!raw) return [];
    try {
      const v = JSON.parse(raw) as unknown;
      return Array.isArray(v) ? v.filter((n): n is number => Number.isInteger(n)) : [];
    } catch {
      return [];
    }
  }

  needed(): SnapshotNeed | null {
    const raw = this.store.meta.get(META.snapshotNeeded);
    if (!raw) return null;
    try {
      const v = JSON.parse(raw) as SnapshotNeed;
      if (v && typeof v.reason === 'string') return v;
    } catch {
      // an older store wrote the bare reason
    }
    return { reason: raw as SnapshotReason, since: 0 };
  }

  /** A `cmd` message with this sequence was applied (call inside its transaction). */
  noteCommand(seq: number, now: number): { gap: boolean } {
    const last = this.lastSeq() ?? 0;
    if (seq <= last) return { gap: false };
    if (seq === last + 1) {
      this.advanceTo(seq, this.ahead());
      return { gap: false };
    }
    const ahead = [...new Set([...this.ahead(), seq])].sort((a, b) => a - b).slice(-AHEAD_LIMIT);
    this.store.meta.set(META.commandsAhead, JSON.stringify(ahead));
    // A need already open (a lost session, a full disk) is healed by the same snapshot: it keeps
    // its reason and learns where the gap is.
    const open = this.needed();
    if (open === null) this.setNeed({ reason: 'gap', since: now, gotSeq: seq }, now);
    else if (open.gotSeq === undefined) this.setNeed({ ...open, gotSeq: seq }, now);
    return { gap: true };
  }

  /** Something means the unit's picture may be incomplete: ask for a snapshot until one heals it. */
  need(reason: SnapshotReason, now: number): void {
    const cur = this.needed();
    if (cur && cur.reason === reason) return;
    this.setNeed({ reason, since: cur?.since ?? now }, now);
  }

  /** A snapshot as of `asOf` was applied (call inside its transaction). */
  noteSnapshot(asOf: number, now: number): void {
    const last = this.lastSeq() ?? 0;
    this.store.meta.set(META.snapshotAsOf, Math.max(asOf, this.snapshotAsOf() ?? 0));
    this.advanceTo(
      Math.max(last, asOf),
      this.ahead().filter((s) => s > asOf),
    );
    const remaining = this.ahead();
    if (remaining.length > 0) {
      this.setNeed({ reason: 'gap', since: now, gotSeq: remaining[0]! }, now);
      return;
    }
    if (this.store.meta.get(META.snapshotNeeded) !== null) {
      this.store.meta.delete(META.snapshotNeeded);
      this.event('healed', now);
    }
  }

  private advanceTo(seq: number, ahead: number[]): void {
    let end = seq;
    const rest: number[] = [];
    for (const s of ahead) {
      if (s <= end) continue;
      if (s === end + 1) end = s;
      else rest.push(s);
    }
    this.store.meta.set(META.lastCommandSeq, end);
    if (rest.length === 0) this.store.meta.delete(META.commandsAhead);
    else this.store.meta.set(META.commandsAhead, JSON.stringify(rest));
  }

  private setNeed(n: SnapshotNeed, now: number): void {
    this.store.meta.set(META.snapshotNeeded, JSON.stringify(n));
    this.event(n.reason === 'gap' ? 'gap' : 'needed', now);
  }

  private event(change: 'gap' | 'needed' | 'healed', now: number): void {
    const need = this.needed();
    this.store.outbox.add(
      'sync.position',
      {
        change,
        lastSeq: this.lastSeq(),
        ahead: this.ahead(),
        needed: need?.reason ?? null,
      },
      now,
    );
  }
}
