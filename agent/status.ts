/**
 * Read models shared by the CLI (`status`, `runs`, `bookings`, `dead-letter`) and the diagnostics
 * endpoint: one place decides what a technician sees. Phone numbers are masked here (rule 10).
 */
import type { Store } from './store/store.js';
import type { RunRow } from './store/runs-repo.js';
import type { BookingRow } from './store/bookings-repo.js';
import { META } from './store/meta.js';
import { maskPhone } from './policy/phone.js';
import { nextSlotOf } from './bookings/slots.js';
import type { TrustState } from './clock-trust.js';
import type { ModemStatus } from '../hal/types.js';

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
  /** "full" while SQLite refuses writes (new commands are rejected with storage_full). */
  storage: {
    state: 'ok' | 'full';
    fullSince: string | null;
    failedWrites: number;
    lastRecoveredAt: string | null;
    recoveredFromCorruption: { movedTo: string; at: string } | null;
  };
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
    storage: storageView(store),
  };
}

function storageView(store: Store): StoreStatus['storage'] {
  const s = store.storage.view();
  const c = store.recoveredFromCorruption;
  return {
    state: s.state,
    fullSince: iso(s.fullSince),
    failedWrites: s.failedWrites,
    lastRecoveredAt: iso(s.lastRecoveredAt),
    recoveredFromCorruption: c ? { movedTo: c.movedTo, at: iso(c.at)! } : null,
  };
}

const HOUR_MS = 3_600_000;

export interface NextCall {
  at: string;
  /** `run`: already owed (a run row exists); `booking`: a future slot of an active booking. */
  source: 'run' | 'booking';
  runId: string | null;
  bookingId: string | null;
  kind: string;
  status: string;
  callee: string;
}

/**
 * Calls expected in the next `horizonMs`: runs already owed (pending, retrying, in progress) and
 * the coming slots of active bookings, in time order. Slots are expanded from the stored schedule,
 * so a booking that calls twice a day shows twice.
 */
export function nextCalls(
  store: Store,
  now: number,
  horizonMs = 24 * HOUR_MS,
  limit = 50,
): NextCall[] {
  const until = now + horizonMs;
  const out: (NextCall & { t: number })[] = [];
  for (const r of store.runs.upcoming(limit)) {
    if (r.dueAt > until) continue;
    out.push({
      t: r.dueAt,
      at: iso(r.dueAt)!,
      source: 'run',
      runId: r.id,
      bookingId: r.bookingId,
      kind: r.kind,
      status: r.status,
      callee: maskPhone(r.call.callee),
    });
  }
  for (const b of store.bookings.due(until, limit)) {
    if (!b.spec || b.nextSlotAt === null) continue;
    let t: number | null = b.nextSlotAt;
    for (let k = 0; t !== null && t <= until && out.length < limit * 2; k++) {
      if (b.remaining !== null && k >= b.remaining) break;
      out.push({
        t,
        at: iso(t)!,
        source: 'booking',
        runId: null,
        bookingId: b.id,
        kind: 'booking',
        status: 'scheduled',
        callee: maskPhone(b.spec.callee),
      });
      t = nextSlotOf(b.spec, t);
    }
  }
  out.sort((a, b) => a.t - b.t);
  return out.slice(0, limit).map(({ t: _t, ...c }) => c);
}

/** Finished runs, newest first, each with its attempts and their outcomes. */
export function recentOutcomes(store: Store, limit = 20): RunView[] {
  return store.runs.recent(limit).map((r) => runView(store, r, true));
}

export interface ModemView {
  driver: string;
  model: string | null;
  state: string;
  reason: string | null;
  sim: string;
  registration: string;
  operator: string | null;
  signal: { dbm: number | null; bars: number; quality: string };
  recoveries: number;
  networkTime: { at: string; readAt: string } | null;
  /** Can a call be placed now: modem ready (or in a call), SIM ready, registered. */
  usable: boolean;
  /** Why not, in plain words, when not usable. */
  problem: string | null;
}

/** dBm → 0..5 bars, thresholds as phones commonly draw them for 2G/3G/LTE voice. */
export function signalBars(dbm: number | null): { bars: number; quality: string } {
  if (dbm === null) return { bars: 0, quality: 'unknown' };
  const steps: [number, number, string][] = [
    [-70, 5, 'excellent'],
    [-85, 4, 'good'],
    [-95, 3, 'fair'],
    [-105, 2, 'weak'],
    [-113, 1, 'very weak'],
  ];
  for (const [min, bars, quality] of steps) if (dbm >= min) return { bars, quality };
  return { bars: 0, quality: 'no signal' };
}

function modemProblem(m: ModemStatus): string | null {
  if (m.state !== 'ready' && m.state !== 'in_call') {
    return `modem is ${m.state}${m.reason ? `: ${m.reason}` : ''}`;
  }
  if (m.sim !== 'ready') {
    return m.sim === 'absent' ? 'no SIM card inserted' : `SIM is not ready (${m.sim})`;
  }
  if (m.registration !== 'home' && m.registration !== 'roaming') {
    return `not registered on a network (${m.registration})`;
  }
  return null;
}

export function modemView(m: ModemStatus): ModemView {
  const problem = modemProblem(m);
  return {
    driver: m.driver,
    model: m.model,
    state: m.state,
    reason: m.reason,
    sim: m.sim,
    registration: m.registration,
    operator: m.operator,
    signal: { dbm: m.signalDbm, ...signalBars(m.signalDbm) },
    recoveries: m.recoveries,
    networkTime: m.networkTime
      ? { at: iso(m.networkTime.at)!, readAt: iso(m.networkTime.readAt)! }
      : null,
    usable: problem === null,
    problem,
  };
}

/** Epoch-ms fields (…At, …Since) of a link state become ISO strings; the rest passes through. */
export function linkView(state: unknown): Record<string, unknown> {
  if (state === null || typeof state !== 'object') return { enabled: false };
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(state)) {
    out[k] = typeof v === 'number' && /(At|Since)$/.test(k) ? iso(v) : v;
  }
  return out;
}

export interface UnitStatus extends StoreStatus {
  unitId: string;
  version: string;
  now: string;
  uptimeSec: number | null;
  clock: TrustState | null;
  mqtt: Record<string, unknown>;
  lastCloudContactAt: string | null;
  modem: ModemView | null;
}

export interface UnitStatusInput {
  unitId: string;
  version: string;
  now: number;
  /** Null when the caller cannot judge the clock (agent not started). */
  clock: TrustState | null;
  uptimeMs: number | null;
  /** Null when this process does not own the modem (the CLI). */
  modem: ModemStatus | null;
  /** The link's state object; null when this process has no link. */
  mqtt: Record<string, unknown>;
}

/** One status for the CLI and GET /v1/status: the store's view plus what the process knows. */
export function unitStatus(store: Store, i: UnitStatusInput): UnitStatus {
  const mqtt = i.mqtt;
  const contact = mqtt.lastContactAt;
  return {
    unitId: i.unitId,
    version: i.version,
    now: iso(i.now)!,
    uptimeSec: i.uptimeMs === null ? null : Math.round(i.uptimeMs / 1000),
    clock: i.clock,
    ...storeStatus(store, i.now),
    mqtt,
    lastCloudContactAt: typeof contact === 'string' ? contact : null,
    modem: i.modem ? modemView(i.modem) : null,
  };
}
