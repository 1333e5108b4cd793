/** Outbox payloads for run and attempt changes, in one place so their shape stays consistent. */
import type { AttemptRow, RunRow } from '../store/runs-repo.js';
import { iso } from '../bookings/apply.js';

export function runStatePayload(
  run: Pick<RunRow, 'id' | 'bookingId' | 'kind' | 'slotAt'>,
  status: string,
  reason: string | null,
  extra: Record<string, unknown> = {},
): Record<string, unknown> {
  return {
    runId: run.id,
    bookingId: run.bookingId,
    kind: run.kind,
    slotAt: iso(run.slotAt),
    status,
    reason,
    ...extra,
  };
}

export function attemptPayload(
  run: Pick<RunRow, 'id' | 'bookingId' | 'slotAt' | 'call'>,
  a: Pick<AttemptRow, 'id' | 'attemptNo'>,
  fields: Record<string, unknown>,
): Record<string, unknown> {
  return {
    runId: run.id,
    bookingId: run.bookingId,
    slotAt: iso(run.slotAt),
    attemptId: a.id,
    attemptNo: a.attemptNo,
    agentId: run.call.agentId,
    ...fields,
  };
}
