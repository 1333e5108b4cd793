/**
 * Read models shared by the CLI (`status`, `runs`, `bookings`, `dead-letter`) and the diagnostics
 * endpoint: one place decides what a technician sees. Phone numbers are masked here (rule 10).
 */
import type { Store } from './store/store.js';
import type { RunRow } from './store/runs-repo.js';
import type { BookingRow } from './store/bookings-repo.js';
import { META } from './store/meta.js';
import { maskPhone } from './policy/phone.js';

const iso = (t: number | null) => (t === null ? null : new Date(t).toISOString());

export interface RunView {
  runId: string;
  bookingId: string | null;
  kind: string;
  slotAt: string | null;
  dueAt: string | null;
  status: string;
  reason: string | null;
  callee: string;
  agentId: string;
  dials: number;
  maxAttempts: number;
  replays: number;
  finishedAt: string | null;
  attempts?: {
    attemptId: string;
    attemptNo: number;
    status: string;
    outcome: string | null;
    dialAt: string | null;
    answeredAt: string | null;
    endedAt: string | null;
    latenessMs: number | null;
    detail: string | null;
  }[];
}

export function runView(store: Store, r: RunRow, withAttempts = false): RunView {
  const v: RunView = {
    runId: r.id,
    bookingId: r.bookingId,
    kind: r.kind,
    slotAt: iso(r.slotAt),
    dueAt: iso(r.dueAt),
    status: r.status,
    reason: r.reason,
    callee: maskPhone(r.call.callee),
    agentId: r.call.agentId,
    dials: r.dials,
    maxAttempts: r.maxAttempts,
    replays: r.replays,
    finishedAt: iso(r.finishedAt),
  };
  if (withAttempts) {
    v.attempts = store.runs.attemptsOf(r.id).map((a) => ({
      attemptId: a.id,
      attemptNo: a.attemptNo,
      status: a.status,
      outcome: a.outcome,
      dialAt: iso(a.dialAt),
      answeredAt: iso(a.answeredAt),
      endedAt: iso(a.endedAt),
      latenessMs: a.latenessMs,
      detail: a.detail,
    }));
  }
  return v;
}

export interface BookingView {
  bookingId: string;
  version: number;
  status: string;
  callee: string | null;
  agentId: string | null;
  schedule: unknown;
  nextSlotAt: string | null;
  lastSlotAt: string | null;
  remaining: number | null;
}

export function bookingView(b: BookingRow): BookingView {
  return {
    bookingId: b.id,
    version: b.version,
    status: b.status,
    callee: b.spec ? maskPhone(b.spec.callee) : null,
    agentId: b.spec?.agentId ?? null,
    schedule: b.spec?.schedule ?? null,
    nextSlotAt: iso(b.nextSlotAt),
    lastSlotAt: iso(b.cursorAt),
    remaining: b.remaining,
  };
}

export interface StoreStatus {
  bootEpoch: number | null;
  highestTimeSeen: string | null;
  lastCommandSeq: number | null;
  bookings: Record<string, number>;
  runs: Record<string, number>;
  nextCallAt: string | null;
  outbox: { backlog: number; oldestUnsentAt: string | null; oldestUnsentAgeMs: number | null };
  deadLetters: number;
  storeBytes: number;
}

export function storeStatus(store: Store, now: number): StoreStatus {
  const backlog = store.outbox.backlog();
  const runs = store.runs.statusCounts();
  const nextBooking = store.bookings.nextSlotAt();
  const nextRun = store.runs.nextDueAfter(now - 1);
  const next =
    nextBooking === null
      ? nextRun
      : nextRun === null
        ? nextBooking
        : Math.min(nextBooking, nextRun);
  return {
    bootEpoch: store.meta.getNumber(META.bootEpoch),
    highestTimeSeen: iso(store.meta.getNumber(META.maxSeenTime)),
    lastCommandSeq: store.meta.getNumber(META.lastCommandSeq),
    bookings: store.bookings.counts(),
    runs,
    nextCallAt: iso(next),
    outbox: {
      backlog: backlog.count,
      oldestUnsentAt: iso(backlog.oldestCreatedAt),
      oldestUnsentAgeMs: backlog.oldestCreatedAt === null ? null : now - backlog.oldestCreatedAt,
    },
    deadLetters: runs.dead ?? 0,
    storeBytes: store.sizeBytes(),
  };
}
