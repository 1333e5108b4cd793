/** The one builder per run/attempt event type (sync/contract/events.ts has the shapes). */
import type {
  AttemptDialingEvent,
  AttemptEndedEvent,
  AttemptMarkEvent,
  EndedBy,
  RunEventStatus,
  RunStateEvent,
} from '../../sync/contract/events.js';
import type { AttemptRow, RunRow } from '../store/runs-repo.js';

export const isoOf = (t: number): string => new Date(t).toISOString();

type RunFacts = Pick<RunRow, 'id' | 'bookingId' | 'kind' | 'slotAt' | 'dials'> & {
  bookingVersion: number | null;
};

export function runStateEvent(
  run: RunFacts,
  status: RunEventStatus,
  reason: string | null,
  extra: Partial<
    Pick<RunStateEvent, 'retryAt' | 'latenessMs' | 'requestedBy' | 'replays' | 'message' | 'dials'>
  > = {},
): RunStateEvent {
  return {
    runId: run.id,
    bookingId: run.bookingId,
    kind: run.kind,
    slotAt: isoOf(run.slotAt),
    status,
    reason,
    bookingVersion: run.bookingVersion,
    dials: run.dials,
    ...extra,
  };
}

type AttemptFacts = Pick<AttemptRow, 'id' | 'attemptNo'>;
type RunOfAttempt = Pick<RunRow, 'id' | 'bookingId' | 'slotAt'> & { call: { agentId: string } };

function attemptBase(run: RunOfAttempt, a: AttemptFacts) {
  return {
    runId: run.id,
    bookingId: run.bookingId,
    slotAt: isoOf(run.slotAt),
    attemptId: a.id,
    attemptNo: a.attemptNo,
    agentId: run.call.agentId,
  };
}

export function attemptDialingEvent(
  run: RunOfAttempt,
  a: AttemptFacts,
  f: {
    at: number;
    bookingVersion: number | null;
    latenessMs: number | null;
    reason: string | null;
  },
): AttemptDialingEvent {
  return {
    ...attemptBase(run, a),
    at: isoOf(f.at),
    bookingVersion: f.bookingVersion,
    latenessMs: f.latenessMs,
    reason: f.reason,
  };
}

export function attemptMarkEvent(run: RunOfAttempt, a: AttemptFacts, at: number): AttemptMarkEvent {
  return { ...attemptBase(run, a), at: isoOf(at) };
}

export function attemptEndedEvent(
  run: RunOfAttempt,
  a: AttemptFacts,
  f: {
    outcome: string;
    answeredAt: number | null;
    endedAt: number;
    endedBy: EndedBy;
    detail: string | null;
  },
): AttemptEndedEvent {
  return {
    ...attemptBase(run, a),
    outcome: f.outcome,
    answered: f.answeredAt !== null,
    answeredAt: f.answeredAt === null ? null : isoOf(f.answeredAt),
    endedAt: isoOf(f.endedAt),
    endedBy: f.endedBy,
    detail: f.detail,
  };
}
