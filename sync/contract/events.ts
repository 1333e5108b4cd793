/**
 * Every event a unit sends the cloud (the `events` and `results` channels), as one typed map from
 * event type to payload. The agent writes events only through `Outbox.add`, which takes a member of
 * this map, so a payload cannot drift from its type; each payload is built by one builder function
 * (agent/lifecycle/events.ts for runs and attempts). Times are ISO 8601 UTC strings.
 */

import type { CommandResultPayload, ControlResultPayload } from './results.js';

export type RunKind = 'booking' | 'test';

/** A run's status as the cloud sees it; `cancelling` = a cancel reached a call still ringing. */
export type RunEventStatus =
  | 'pending'
  | 'running'
  | 'cancelling'
  | 'retry_wait'
  | 'completed'
  | 'dead'
  | 'skipped'
  | 'cancelled'
  | 'refused';

export interface RunStateEvent {
  runId: string;
  bookingId: string | null;
  kind: RunKind;
  slotAt: string;
  status: RunEventStatus;
  /** Why it is in this state (misfire_skipped, cancelled_by_cloud, busy, dial_policy:quiet_hours...). */
  reason: string | null;
  /** The booking version the run was last planned or claimed under. */
  bookingVersion: number | null;
  /** Attempts dialled so far for this run (since the last replay). */
  dials: number;
  /** When a retry is due (status retry_wait). */
  retryAt?: string;
  /** How late the slot was when it was planned or skipped (ms; attempt.dialing says how late the dial was). */
  latenessMs?: number;
  /** Who asked for a test call or a replay (cli, cloud, diagnostics, a technician's name). */
  requestedBy?: string;
  replays?: number;
  /** Human-readable detail (a dial-policy refusal's message). */
  message?: string;
}

interface AttemptBase {
  runId: string;
  bookingId: string | null;
  slotAt: string;
  attemptId: string;
  attemptNo: number;
  agentId: string;
}

export interface AttemptDialingEvent extends AttemptBase {
  at: string;
  bookingVersion: number | null;
  /** Dial issued minus slot time, first attempts only (null for retries and replays). */
  latenessMs: number | null;
  /** `misfire_fire_once` when a slot older than its catch-up window is dialled once, late. */
  reason: string | null;
}

export interface AttemptMarkEvent extends AttemptBase {
  at: string;
}

export type EndedBy = 'remote' | 'local' | 'network' | 'timeout' | 'modem' | 'agent';

export interface AttemptEndedEvent extends AttemptBase {
  /** completed, busy, no_answer, rejected, no_carrier, failed, modem_error, cancelled, interrupted, interrupted_after_answer */
  outcome: string;
  answered: boolean;
  answeredAt: string | null;
  endedAt: string;
  endedBy: EndedBy;
  detail: string | null;
}

export interface RunCoalescedEvent {
  bookingId: string;
  count: number;
  firstSlotAt: string;
  reason: 'missed_while_down_superseded_by_later_slot';
}

export interface BookingStateEvent {
  bookingId: string;
  version: number;
  status: 'active' | 'paused' | 'completed' | 'cancelled';
  nextSlotAt: string | null;
  reason?: string;
}

export interface SnapshotAppliedEvent {
  snapshotId: string;
  /** The command sequence the snapshot was as of. */
  asOf: number;
  /** Items in the snapshot. */
  bookings: number;
  /** Items that changed a booking (created, replaced, re-created after an absence). */
  accepted: number;
  /** Items already held at that version or newer. */
  unchanged: number;
  /** Items that failed validation (listed in notApplied); the booking held stays as it was. */
  rejected: number;
  /** Bookings cancelled for being absent (last changed at or before asOf). */
  cancelled: number;
  /** Bookings absent but changed by a command newer than asOf: kept. */
  keptNewer: string[];
  /** Every item not applied and why (the first 200; notAppliedCount is exact). */
  notApplied: {
    index: number;
    bookingId: string | null;
    status: 'ignored_stale' | 'rejected';
    reasons: { path: string; code: string; message: string }[];
  }[];
  notAppliedCount: number;
}

/** The unit's position in the command sequence changed other than by one step forward. */
export interface SyncPositionEvent {
  change: 'gap' | 'needed' | 'healed';
  /** End of the contiguous range of applied command sequences. */
  lastSeq: number | null;
  /** Sequences applied beyond a gap. */
  ahead: number[];
  /** Why a snapshot is needed (null once healed). */
  needed: string | null;
}

export interface AudioFailedEvent {
  /** The modem's call id; null when the failure came before the dial. */
  callId: string | null;
  /** prepare (before the dial) or restore (after the call). */
  phase: string;
  /** route, volume, unmute, announcement. */
  step: string;
  detail: string;
  at: string;
}

/** technician access (issue 15): a technician's action on the unit, with their name. */
export interface TechnicianActionEvent {
  /** sign-in, test-call, replay, resync, speaker-test, mic-test, modem-details, modem-reset */
  action: string;
  technician: string;
  /** null when the unit's local token was used. */
  tokenId: string | null;
  auth: 'technician-token' | 'local-token';
  via: 'diagnostics';
  outcome: 'ok' | 'failed';
  detail: Record<string, unknown>;
  at: string;
}

/** technician access (issue 15): a technician revocation list from the cloud was applied. */
export interface TechnicianRevocationsEvent {
  version: number;
  previousVersion: number | null;
  issuedAt: string;
  tokens: number;
  technicians: number;
  appliedAt: string;
}

export interface EventPayloads {
  'run.state': RunStateEvent;
  'run.coalesced': RunCoalescedEvent;
  'attempt.dialing': AttemptDialingEvent;
  'attempt.alerting': AttemptMarkEvent;
  'attempt.answered': AttemptMarkEvent;
  'attempt.ended': AttemptEndedEvent;
  'booking.state': BookingStateEvent;
  'command.result': CommandResultPayload;
  'control.result': ControlResultPayload;
  'snapshot.applied': SnapshotAppliedEvent;
  'sync.position': SyncPositionEvent;
  'clock.untrusted': { reason: string; message: string };
  'clock.trusted': { source: string | null };
  'storage.recovered': { fullSince: string; recoveredAt: string; failedWrites: number };
  'store.recovered_from_corruption': Record<string, unknown>;
  /** A technician's or operator's action on the unit (diagnostics). */
  'operator.action': Record<string, unknown>;
  /** Audio around a call failed; the call still went out, perhaps unheard (docs/hal.md). */
  'audio.failed': AudioFailedEvent;
  'technician.action': TechnicianActionEvent;
  'technician.revocations': TechnicianRevocationsEvent;
}

export type EventType = keyof EventPayloads;

export type EventClass = 'critical' | 'telemetry';

/**
 * Critical events are kept until delivered, whatever the backlog; telemetry may be evicted when the
 * backlog is over its limit (oldest first). Every dial is critical (a call placed costs money and
 * reached a person); the progress marks in between are telemetry: the outcome supersedes them.
 */
export const EVENT_CLASS: { [K in EventType]: EventClass } = {
  'run.state': 'critical',
  'run.coalesced': 'critical',
  'attempt.dialing': 'critical',
  'attempt.alerting': 'telemetry',
  'attempt.answered': 'telemetry',
  'attempt.ended': 'critical',
  'booking.state': 'critical',
  'command.result': 'critical',
  'control.result': 'critical',
  'snapshot.applied': 'critical',
  'sync.position': 'critical',
  'clock.untrusted': 'critical',
  'clock.trusted': 'critical',
  'storage.recovered': 'critical',
  'store.recovered_from_corruption': 'critical',
  'operator.action': 'critical',
  'audio.failed': 'critical',
  'technician.action': 'critical',
  'technician.revocations': 'critical',
};
