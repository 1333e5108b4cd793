/**
 * Outbox events of technician access, one builder per event type (STYLE: build event payloads in
 * one place per type, never inline); their types are members of sync/contract/events.ts.
 */
import type {
  TechnicianActionEvent,
  TechnicianRevocationsEvent,
} from '../../sync/contract/events.js';

export const TECHNICIAN_EVENTS = {
  /** A technician did something through the diagnostics endpoint (or signed in). */
  action: 'technician.action',
  /** A revocation list from the cloud was applied. */
  revocations: 'technician.revocations',
} as const;

export type TechnicianAction =
  | 'sign-in'
  | 'test-call'
  | 'replay'
  | 'resync'
  | 'speaker-test'
  | 'mic-test'
  | 'modem-details'
  | 'modem-reset';

export type ActionOutcome = 'ok' | 'refused' | 'failed';

export interface TechnicianActionInput {
  action: TechnicianAction;
  technician: string;
  /** null: the unit's local token was used. */
  tokenId: string | null;
  outcome: ActionOutcome;
  detail: Record<string, unknown>;
  at: number;
}

/** A refused action is never an event (it changed nothing): audit.ts writes only ok/failed. */
export function technicianActionPayload(
  i: TechnicianActionInput & { outcome: 'ok' | 'failed' },
): TechnicianActionEvent {
  return {
    action: i.action,
    technician: i.technician,
    tokenId: i.tokenId,
    auth: i.tokenId === null ? 'local-token' : 'technician-token',
    via: 'diagnostics',
    outcome: i.outcome,
    detail: i.detail,
    at: new Date(i.at).toISOString(),
  };
}

export function revocationsAppliedPayload(i: {
  version: number;
  previousVersion: number | null;
  issuedAt: number;
  tokens: number;
  technicians: number;
  at: number;
}): TechnicianRevocationsEvent {
  return {
    version: i.version,
    previousVersion: i.previousVersion,
    issuedAt: new Date(i.issuedAt).toISOString(),
    tokens: i.tokens,
    technicians: i.technicians,
    appliedAt: new Date(i.at).toISOString(),
  };
}
