/**
 * Applying booking commands: the ONE function every source (CLI `apply`, MQTT sync, tests) goes
 * through. Each call is one IMMEDIATE transaction with synchronous=FULL: when it returns, the
 * effect and its outbox events are on disk, so the caller may acknowledge (rule 1).
 *
 * Version rules: an upsert or cancel whose version is older than or equal to the version held is
 * ignored (`ignored_stale`); a cancellation is a tombstone that keeps its version, so an older upsert
 * delivered late cannot revive it. Invalid commands are rejected with reasons, kept in the audit log
 * and reported through the outbox. Nothing here throws on bad input.
 */
import { randomUUID } from 'node:crypto';
import type { ZodError } from 'zod';
import type { Clock } from '../clock.js';
import type { Store } from '../store/store.js';
import type { BookingRow } from '../store/bookings-repo.js';
import { META } from '../store/meta.js';
import {
  bookingCommandSchema,
  bookingSchema,
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
  /** The per-unit command sequence of the message carrying these commands (MQTT). */
  seq?: number;
}

export interface Snapshot {
  snapshotId: string;
  bookings: unknown[];
}

/** Earlier than any instant a booking can name (a one-off's slot is always after it). */
const BEGINNING_OF_TIME = -8_640_000_000_000_000;

export type ChangeListener = (bookingIds: string[]) => void;

export class CommandApplier {
  private readonly listeners = new Set<ChangeListener>();

  constructor(
    private readonly store: Store,
    private readonly clock: Clock,
    private readonly lifecycle: RunLifecycle,
    private readonly callees: CalleePolicy,
  ) {}

  /** Called after every committed change (the scheduler re-plans, the runner cancels nothing in flight). */
  onChange(listener: ChangeListener): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  apply(commands: unknown[], ctx: ApplyContext): CommandResult[] {
    const now = this.clock.now();
    const changed: string[] = [];
    const results = this.store.tx(() => {
      const out = commands.map((raw) => this.applyOne(raw, ctx, now, changed));
      if (ctx.seq !== undefined) this.bumpSeq(ctx.seq);
      return out;
    });
    this.emit(changed);
    return results;
  }

  /**
   * A snapshot is the cloud's full set of live bookings. Applied atomically: each booking follows the
   * usual version rules, and live bookings missing from it are cancelled (tombstoned at their current
   * version). Runs already in progress are never touched; only waiting runs of removed bookings end.
   */
  applySnapshot(snapshot: Snapshot, ctx: ApplyContext): CommandResult[] {
    const now = this.clock.now();
    const changed: string[] = [];
    const results = this.store.tx(() => {
      const present = new Set<string>();
      const out = snapshot.bookings.map((raw, i) => {
        const commandId = `${snapshot.snapshotId}:${i}`;
        const parsed = bookingSchema.safeParse(raw);
        if (parsed.success) present.add(parsed.data.id);
        return this.applyOne(
          { type: 'booking.upsert', commandId, booking: raw },
          ctx,
          now,
          changed,
          true,
        );
      });
      for (const live of this.store.bookings.liveIds()) {
        if (present.has(live.id)) continue;
        const row = this.store.bookings.get(live.id)!;
        this.tombstone(row, row.version, now, 'absent_from_snapshot');
        changed.push(live.id);
        out.push({
          commandId: `${snapshot.snapshotId}:remove:${live.id}`,
          status: 'accepted',
          bookingId: live.id,
          currentVersion: row.version,
          reasons: [],
        });
      }
      this.store.outbox.add(
        'snapshot.applied',
        {
          snapshotId: snapshot.snapshotId,
          bookings: snapshot.bookings.length,
          accepted: out.filter((r) => r.status === 'accepted').length,
          rejected: out.filter((r) => r.status === 'rejected').length,
        },
        now,
      );
      if (ctx.seq !== undefined) this.bumpSeq(ctx.seq, true);
      return out;
    });
    this.emit(changed);
    return results;
  }

  /** Keep a command that was refused before it could be parsed (wrong unit, bad signature, garbage). */
  recordRejected(c: {
    source: string;
    commandId?: string | null;
    raw: string | null;
    reasons: RejectionReason[];
  }): CommandResult {
    const now = this.clock.now();
    return this.store.tx(() => {
      const commandId = c.commandId ?? `unparsed-${randomUUID()}`;
      const prior = this.store.commands.get(commandId);
      if (prior) return { ...prior.result, status: 'duplicate' as const };
      const result: CommandResult = {
        commandId,
        status: 'rejected',
        bookingId: null,
        currentVersion: null,
        reasons: c.reasons,
      };
      this.record(result, c.source, null, c.raw, now);
      return result;
    });
  }

  lookup(commandId: string): CommandResult | null {
    return this.store.commands.get(commandId)?.result ?? null;
  }

  lastSeq(): number | null {
    return this.store.meta.getNumber(META.lastCommandSeq);
  }

  private bumpSeq(seq: number, force = false): void {
    const last = this.lastSeq();
    if (force || last === null || seq > last) this.store.meta.set(META.lastCommandSeq, seq);
  }

  private emit(changed: string[]): void {
    if (changed.length === 0) return;
    for (const l of this.listeners) l(changed);
  }

  private applyOne(
    raw: unknown,
    ctx: ApplyContext,
    now: number,
    changed: string[],
    _fromSnapshot = false,
  ): CommandResult {
    const rawId = (raw as { commandId?: unknown } | null)?.commandId;
    const commandId =
      typeof rawId === 'string' && rawId.length > 0 && rawId.length <= 128
        ? rawId
        : `unparsed-${randomUUID()}`;
    const prior = this.store.commands.get(commandId);
    if (prior) return { ...prior.result, status: 'duplicate' };

    const parsed = bookingCommandSchema.safeParse(raw);
    if (!parsed.success) {
      const result: CommandResult = {
        commandId,
        status: 'rejected',
        bookingId: bookingIdOf(raw),
        currentVersion: null,
        reasons: zodReasons(parsed.error),
      };
      this.record(result, ctx.source, typeOf(raw), safeJson(raw), now);
      return result;
    }
    const cmd = parsed.data;
    const result =
      cmd.type === 'booking.upsert'
        ? this.upsert(cmd.booking, commandId, now)
        : this.cancel(cmd, now);
    if (result.status === 'accepted') changed.push(result.bookingId!);
    // Snapshots are big; the audit log keeps their results but not every raw booking.
    this.record(result, ctx.source, cmd.type, null, now);
    return result;
  }

  private upsert(b: Booking, commandId: string, now: number): CommandResult {
    const existing = this.store.bookings.get(b.id);
    if (existing && existing.version >= b.version) {
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
      },
      now,
    );
    // Owed work follows the change (docs/lifecycle.md): a pause ends it, an edit that moved the
    // schedule ends the runs of slots it no longer has; other edits reach the next attempt at claim.
    if (b.paused) this.lifecycle.cancelBookingWork(b.id, 'paused', now);
    else if (existing) this.lifecycle.supersedeRemovedSlots(b.id, b, now);
    const result: CommandResult = {
      commandId,
      status: 'accepted',
      bookingId: b.id,
      currentVersion: b.version,
      reasons: [],
    };
    this.store.outbox.add(
      'booking.state',
      { bookingId: b.id, version: b.version, status, nextSlotAt: iso(next) },
      now,
    );
    return result;
  }

  private cancel(
    cmd: Extract<BookingCommand, { type: 'booking.cancel' }>,
    now: number,
  ): CommandResult {
    const existing = this.store.bookings.get(cmd.bookingId);
    if (existing && existing.version >= cmd.version) {
      return stale(cmd.commandId, existing, cmd.version);
    }
    if (existing) this.tombstone(existing, cmd.version, now, 'cancelled_by_cloud');
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

  private tombstone(row: BookingRow, version: number, now: number, reason: string): void {
    this.store.bookings.save(
      {
        id: row.id,
        version,
        status: 'cancelled',
        spec: row.spec,
        nextSlotAt: null,
        cursorAt: row.cursorAt,
        remaining: row.remaining,
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
    source: string,
    type: string | null,
    raw: string | null,
    now: number,
  ): void {
    this.store.commands.record({
      commandId: result.commandId,
      source,
      type,
      bookingId: result.bookingId,
      status: result.status === 'duplicate' ? 'accepted' : result.status,
      result,
      raw: result.status === 'rejected' ? raw : null,
      receivedAt: now,
    });
    this.store.outbox.add('command.result', { ...result }, now);
  }
}

function stale(commandId: string, existing: BookingRow, version: number): CommandResult {
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

export function zodReasons(err: ZodError): RejectionReason[] {
  return err.issues.map((i) => ({
    path: i.path.map(String).join('.'),
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

function bookingIdOf(raw: unknown): string | null {
  const r = raw as { bookingId?: unknown; booking?: { id?: unknown } } | null;
  const id = r?.bookingId ?? r?.booking?.id;
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
