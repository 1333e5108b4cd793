/**
 * What the unit answers (the `results` channel): one result per booking command, one per control,
 * one per refused message. Every answer is an outbox row written in the transaction that decided it
 * (kept until the cloud receipts it), so it survives the unit going offline or dying.
 */

export interface RejectionReason {
  /** Dotted path into the message, e.g. "booking.callee"; "" for the whole message. */
  path: string;
  /** Stable machine code (docs/protocol.md lists every one). */
  code: string;
  message: string;
}

export type CommandStatus = 'accepted' | 'ignored_stale' | 'rejected' | 'duplicate';

export interface CommandResult {
  commandId: string;
  status: CommandStatus;
  bookingId: string | null;
  /** The version now held for the booking after this command (null when unknown). */
  currentVersion: number | null;
  reasons: RejectionReason[];
}

/** A command result as sent: which message it answers, and for a duplicate the first answer. */
export interface CommandResultPayload extends CommandResult {
  /** msgId of the envelope that carried the command (null for local `apply`). */
  inReplyTo: string | null;
  /** For `duplicate`: the full result this command got the first time. */
  original?: CommandResult;
}

export type ControlStatus = 'accepted' | 'rejected' | 'duplicate';

export interface ControlResultPayload {
  inReplyTo: string;
  action: string;
  status: ControlStatus;
  /** e.g. `{ runId }` for a test call or a replay. */
  detail: Record<string, unknown>;
  reasons: RejectionReason[];
  /** For `duplicate`: the full result this control got the first time. */
  original?: Omit<ControlResultPayload, 'original'>;
}
