/**
 * Every event a unit sends the cloud (the `events` and `results` channels), as one typed map from
 * event type to payload. The agent writes events only through `Outbox.add`, which takes a member of
 * this map, so a payload cannot drift from its type; each payload is built by one builder function
 * (agent/lifecycle/events.ts for runs and attempts). Times are ISO 8601 UTC strings.
 */

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
  /** How late the slot was when it was planned or skipped (ms). */
  lateMs?: number;
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

export interface CommandResultEvent {
  commandId: string;
  status: 'accepted' | 'ignored_stale' | 'rejected' | 'duplicate';
  bookingId: string | null;
  currentVersion: number | null;
  reasons: { path: string; code: string; message: string }[];
  inReplyTo?: string | null;
}

export interface SnapshotAppliedEvent {
  snapshotId: string;
  bookings: number;
  accepted: number;
  rejected: number;
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
  'command.result': CommandResultEvent;
  'snapshot.applied': SnapshotAppliedEvent;
  'clock.untrusted': { reason: string; message: string };
  'clock.trusted': { source: string | null };
  'storage.recovered': { fullSince: string; recoveredAt: string; failedWrites: number };
  'store.recovered_from_corruption': Record<string, unknown>;
  /** A technician's or operator's action on the unit (diagnostics). */
  'operator.action': Record<string, unknown>;
  /** Audio around a call failed; the call still went out (docs/hal.md). */
  'audio.failed': Record<string, unknown>;
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
  'snapshot.applied': 'critical',
  'clock.untrusted': 'critical',
  'clock.trusted': 'critical',
  'storage.recovered': 'critical',
  'store.recovered_from_corruption': 'critical',
  'operator.action': 'critical',
  'audio.failed': 'telemetry',
  'technician.action': 'critical',
  'technician.revocations': 'critical',
};
