/**
 * Applying booking commands: the ONE function every source (CLI `apply`, MQTT sync, tests) goes
 * through. Each call is one IMMEDIATE transaction with synchronous=FULL: when it returns, the
 * effect and its outbox events (one `command.result` per command, naming the message it answers)
 * are on disk, so the caller may acknowledge (rule 1).
 *
 * Rules (docs/protocol.md): an upsert or cancel whose version is not newer than the one held is
 * `ignored_stale`; a cancellation is a tombstone keeping its version, so a late older upsert cannot
 * revive it — except a tombstone left by a snapshot's absence, which a message with a newer command
 * sequence may lift. A command numbered at or below the newest applied snapshot's asOf is
 * `covered_by_snapshot`: already part of it, never applied. A command id names one command: the same id again with the same content gets
 * its first result back (`duplicate`), with other content `command_id_reused`. Invalid commands are
 * rejected with reasons and kept for audit. A callee the dial policy can never dial is rejected now,
 * not refused at the slot. Owed calls follow every change through the run lifecycle.
 */
import { createHash, randomUUID } from 'node:crypto';
import type { ZodError } from 'zod';
import type { Clock } from '../clock.js';
import type { Store } from '../store/store.js';
import { META } from '../store/meta.js';
import type { BookingRow } from '../store/bookings-repo.js';
import { canonicalJson } from '../../sync/contract/canonical.js';
import {
  bookingCommandSchema,
  type Booking,
  type BookingCommand,
  type CommandResult,
  type RejectionReason,
} from './schema.js';
import { nextSlotOf } from './slots.js';
import type { RunLifecycle } from '../lifecycle/lifecycle.js';

/**
 * The permanent part of the dial policy (valid, allowed country, allowlist, no premium or short
 * codes), applied when a booking arrives: a callee that can never be dialled is rejected now, not
 * refused hours later at the slot. Time-dependent rules (quiet hours, caps) stay at the slot.
 */
export interface CalleePolicy {
  checkNumber(
    number: string,
  ): { ok: true; e164: string } | { ok: false; reason: string; message: string };
}

export interface ApplyContext {
  source: string;
  /** The envelope that carried the commands (MQTT): each result names it (`inReplyTo`). */
  msgId?: string;
  /** The command sequence of that message: recorded on every booking it changes. */
  seq?: number;
}

/** Earlier than any instant a booking can name (a one-off's slot is always after it). */
const BEGINNING_OF_TIME = -8_640_000_000_000_000;

export type ChangeListener = (bookingIds: string[]) => void;

/** What an upsert needs to know about where it came from. */
export interface UpsertOrigin {
  commandId: string;
  /** Command sequence of the message (a snapshot's "as of"); null for a local change. */
  seq: number | null;
}

export class CommandApplier {
  private readonly listeners = new Set<ChangeListener>();

  constructor(
    private readonly store: Store,
    private readonly clock: Clock,
    private readonly lifecycle: RunLifecycle,
    private readonly callees: CalleePolicy,
  ) {}

  /** Called after every committed change (the scheduler re-plans, the runner hangs up a cancelled call). */
  onChange(listener: ChangeListener): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  apply(commands: unknown[], ctx: ApplyContext): CommandResult[] {
    const now = this.clock.now();
    const changed: string[] = [];
    const results = this.store.tx(() =>
      commands.map((raw) => this.applyOne(raw, ctx, now, changed)),
    );
    this.emit(changed);
    return results;
  }

  /** @internal the snapshot path (snapshot.ts) applies items and tombstones within its transaction. */
  withChanges<T>(fn: (now: number, changed: string[]) => T): T {
    const now = this.clock.now();
    const changed: string[] = [];
    const out = this.store.tx(() => fn(now, changed));
    this.emit(changed);
    return out;
  }

  lookup(commandId: string): CommandResult | null {
    return this.store.commands.get(commandId)?.result ?? null;
  }

  /** After the outermost commit: an apply nested in a message's transaction acts only once it holds. */
  private emit(changed: string[]): void {
    if (changed.length === 0) return;
    this.store.afterCommit(() => {
      for (const l of this.listeners) l(changed);
    });
  }

  private applyOne(raw: unknown, ctx: ApplyContext, now: number, changed: string[]): CommandResult {
    const rawId = (raw as { commandId?: unknown } | null)?.commandId;
    const commandId =
      typeof rawId === 'string' && rawId.length > 0 && rawId.length <= 128
        ? rawId
        : `unparsed-${randomUUID()}`;
    const digest = commandDigest(raw);
    const prior = this.store.commands.get(commandId);
    if (prior) {
      // The same command again (a redelivery, a retry by the cloud): its first answer, unchanged.
      if (prior.digest === null || prior.digest === digest) {
        const dup: CommandResult = { ...prior.result, status: 'duplicate' };
        this.answer(dup, ctx, now, prior.result);
        return dup;
      }
      const reused: CommandResult = {
        commandId,
        status: 'rejected',
        bookingId: prior.bookingId,
        currentVersion: this.store.bookings.get(prior.bookingId ?? '')?.version ?? null,
        reasons: [
          {
            path: 'commandId',
            code: 'command_id_reused',
            message: `command id ${commandId} already named another command (received ${new Date(prior.receivedAt).toISOString()}); give every command its own id`,
          },
        ],
      };
      this.answer(reused, ctx, now);
      return reused;
    }

    const parsed = bookingCommandSchema.safeParse(raw);
    if (!parsed.success) {
      const result: CommandResult = {
        commandId,
        status: 'rejected',
        bookingId: bookingIdOf(raw),
        currentVersion: null,
        reasons: zodReasons(parsed.error),
      };
      this.record(result, ctx, typeOf(raw), safeJson(raw), digest, now);
      return result;
    }
    const cmd = parsed.data;
    const seq = ctx.seq ?? null;
    const covered = seq !== null ? this.store.meta.getNumber(META.snapshotAsOf) : null;
    const result =
      covered !== null && seq !== null && seq <= covered
        ? coveredBySnapshot(commandId, cmd, seq, covered, this.store)
        : cmd.type === 'booking.upsert'
          ? this.upsert(cmd.booking, { commandId, seq }, now)
          : this.cancel(cmd, seq, now);
    if (result.status === 'accepted') changed.push(result.bookingId!);
    this.record(
      result,
      ctx,
      cmd.type,
      result.status === 'rejected' ? safeJson(raw) : null,
      digest,
      now,
    );
    return result;
  }

  /** Create or replace a booking by the version rules. @internal also the snapshot path. */
  upsert(b: Booking, origin: UpsertOrigin, now: number): CommandResult {
    const { commandId, seq } = origin;
    const existing = this.store.bookings.get(b.id);
    if (existing && existing.version >= b.version && !liftsAbsence(existing, b.version, seq)) {
      return stale(commandId, existing, b.version);
    }
    const callee = this.callees.checkNumber(b.callee);
    if (!callee.ok) {
      return {
        commandId,
        status: 'rejected',
        bookingId: b.id,
        currentVersion: existing?.version ?? null,
        reasons: [
          { path: 'booking.callee', code: `dial_policy:${callee.reason}`, message: callee.message },
        ],
      };
    }
    const paused = b.paused || b.remaining === 0;
    let after: number;
    if (b.schedule.kind === 'once') after = BEGINNING_OF_TIME;
    else if (existing?.cursorAt != null)
      after = existing.status === 'paused' ? Math.max(existing.cursorAt, now) : existing.cursorAt;
    else after = now;
    // A one-off whose slot was already decided (planned or skipped) is not owed again by an edit.
    if (b.schedule.kind === 'once' && existing?.cursorAt != null) after = existing.cursorAt;
    const next = paused ? null : nextSlotOf(b, after);
    const status = b.paused ? 'paused' : next === null ? 'completed' : 'active';
    this.store.bookings.save(
      {
        id: b.id,
        version: b.version,
        status,
        spec: b,
        nextSlotAt: next,
        cursorAt: existing?.cursorAt ?? null,
        remaining: b.remaining ?? null,
        changedSeq: maxSeq(seq, existing?.changedSeq ?? null),
        absentAtSeq: null,
      },
      now,
    );
    // Owed work follows the change (docs/lifecycle.md): a pause ends it, an edit that moved the
    // schedule ends the runs of slots it no longer has; other edits reach the next attempt at claim.
    if (b.paused) this.lifecycle.cancelBookingWork(b.id, 'paused', now);
    else if (existing) this.lifecycle.supersedeRemovedSlots(b.id, b, now);
    this.store.outbox.add(
      'booking.state',
      { bookingId: b.id, version: b.version, status, nextSlotAt: iso(next) },
      now,
    );
    return {
      commandId,
      status: 'accepted',
      bookingId: b.id,
      currentVersion: b.version,
      reasons: [],
    };
  }

  private cancel(
    cmd: Extract<BookingCommand, { type: 'booking.cancel' }>,
    seq: number | null,
    now: number,
  ): CommandResult {
    const existing = this.store.bookings.get(cmd.bookingId);
    if (existing && existing.version >= cmd.version) {
      return stale(cmd.commandId, existing, cmd.version);
    }
    if (existing) this.tombstone(existing, cmd.version, now, 'cancelled_by_cloud', { seq });
    else {
      // Cancellation before upsert: keep a tombstone so the late upsert cannot create it.
      this.store.bookings.save(
        {
          id: cmd.bookingId,
          version: cmd.version,
          status: 'cancelled',
          spec: null,
          nextSlotAt: null,
          cursorAt: null,
          remaining: null,
          changedSeq: seq,
        },
        now,
      );
      this.store.outbox.add(
        'booking.state',
        { bookingId: cmd.bookingId, version: cmd.version, status: 'cancelled', nextSlotAt: null },
        now,
      );
    }
    return {
      commandId: cmd.commandId,
      status: 'accepted',
      bookingId: cmd.bookingId,
      currentVersion: cmd.version,
      reasons: [],
    };
  }

  /**
   * Cancel a booking and everything it still owes. @internal also the snapshot path, which passes
   * `absentAtSeq`: the booking may be created again by a message with a newer sequence.
   */
  tombstone(
    row: BookingRow,
    version: number,
    now: number,
    reason: string,
    o: { seq: number | null; absentAtSeq?: number },
  ): void {
    this.store.bookings.save(
      {
        id: row.id,
        version,
        status: 'cancelled',
        spec: row.spec,
        nextSlotAt: null,
        cursorAt: row.cursorAt,
        remaining: row.remaining,
        changedSeq: maxSeq(o.seq, row.changedSeq),
        absentAtSeq: o.absentAtSeq ?? null,
      },
      now,
    );
    this.lifecycle.cancelBookingWork(row.id, reason, now);
    this.store.outbox.add(
      'booking.state',
      { bookingId: row.id, version, status: 'cancelled', nextSlotAt: null, reason },
      now,
    );
  }

  private record(
    result: CommandResult,
    ctx: ApplyContext,
    type: string | null,
    raw: string | null,
    digest: string | null,
    now: number,
  ): void {
    this.store.commands.record({
      commandId: result.commandId,
      source: ctx.source,
      type,
      bookingId: result.bookingId,
      status: result.status === 'duplicate' ? 'accepted' : result.status,
      result,
      raw,
      receivedAt: now,
      digest,
      msgId: ctx.msgId ?? null,
    });
    this.answer(result, ctx, now);
  }

  /** Every answer is an outbox row, in the transaction that decided it (kept until receipted). */
  private answer(
    result: CommandResult,
    ctx: ApplyContext,
    now: number,
    original?: CommandResult,
  ): void {
    this.store.outbox.add(
      'command.result',
      { ...result, inReplyTo: ctx.msgId ?? null, ...(original ? { original } : {}) },
      now,
    );
  }
}

/**
 * A tombstone a snapshot left (absent as of seq S) is lifted, at the same version, by a message
 * that speaks for S or later: a later snapshot of the same point (the first one was wrong) or a
 * newer one, or a command numbered S or later. A redelivery older than S never revives.
 */
function liftsAbsence(existing: BookingRow, version: number, seq: number | null): boolean {
  return (
    existing.status === 'cancelled' &&
    existing.absentAtSeq !== null &&
    seq !== null &&
    seq >= existing.absentAtSeq &&
    version >= existing.version
  );
}

function maxSeq(a: number | null, b: number | null): number | null {
  if (a === null) return b;
  if (b === null) return a;
  return Math.max(a, b);
}

/** SHA-256 of the canonical command: the same command sent twice has the same digest. */
export function commandDigest(raw: unknown): string | null {
  try {
    return createHash('sha256').update(canonicalJson(raw)).digest('base64url');
  } catch {
    return null;
  }
}

/**
 * A command numbered at or below the newest applied snapshot's asOf is part of that snapshot
 * already: whatever it did, the snapshot said where it led. Applying a late copy could only go
 * back — re-create a booking the cloud cancelled after it, or revive one the snapshot left out.
 */
function coveredBySnapshot(
  commandId: string,
  cmd: BookingCommand,
  seq: number,
  asOf: number,
  store: Store,
): CommandResult {
  const bookingId = cmd.type === 'booking.upsert' ? cmd.booking.id : cmd.bookingId;
  return {
    commandId,
    status: 'ignored_stale',
    bookingId,
    currentVersion: store.bookings.get(bookingId)?.version ?? null,
    reasons: [
      {
        path: 'seq',
        code: 'covered_by_snapshot',
        message: `the message is seq ${seq}; a snapshot as of seq ${asOf} already covers it`,
      },
    ],
  };
}

export function stale(commandId: string, existing: BookingRow, version: number): CommandResult {
  const tomb = existing.status === 'cancelled';
  return {
    commandId,
    status: 'ignored_stale',
    bookingId: existing.id,
    currentVersion: existing.version,
    reasons: [
      {
        path: 'version',
        code: tomb ? 'tombstoned' : 'stale_version',
        message: tomb
          ? `booking was cancelled at version ${existing.version}; version ${version} cannot revive it`
          : `version ${version} is not newer than the held version ${existing.version}`,
      },
    ],
  };
}

export function zodReasons(err: ZodError, prefix = ''): RejectionReason[] {
  return err.issues.map((i) => ({
    path: [prefix, ...i.path.map(String)].filter(Boolean).join('.'),
    code: i.path.includes('callee')
      ? 'invalid_callee'
      : i.path.includes('schedule')
        ? 'invalid_schedule'
        : i.code === 'unrecognized_keys'
          ? 'unknown_field'
          : 'invalid_schema',
    message: i.message,
  }));
}

export function bookingIdOf(raw: unknown): string | null {
  const r = raw as { bookingId?: unknown; booking?: { id?: unknown }; id?: unknown } | null;
  const id = r?.bookingId ?? r?.booking?.id ?? r?.id;
  return typeof id === 'string' ? id.slice(0, 64) : null;
}

function typeOf(raw: unknown): string | null {
  const t = (raw as { type?: unknown } | null)?.type;
  return typeof t === 'string' ? t.slice(0, 64) : null;
}

function safeJson(raw: unknown): string | null {
  try {
    return JSON.stringify(raw) ?? null;
  } catch {
    return null;
  }
}

export function iso(t: number | null): string | null {
  return t === null ? null : new Date(t).toISOString();
}
