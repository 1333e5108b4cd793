/**
 * What the link needs from the agent, as shapes. sync/ depends on these, never on agent/ classes,
 * and the agent's wiring passes the real objects in (agent/sync-sink.ts, the Outbox, MetaStore,
 * Clock...).
 */
import type { ControlBody, SyncRequestBody } from './contract/bodies.js';
import type { CommandResult, ControlResultPayload, RejectionReason } from './contract/results.js';

export type InboundMessageChannel = 'cmd' | 'snapshot' | 'control';

/** An inbound envelope that passed every check of the link (shape, unit, freshness, signature). */
export interface CheckedMessage {
  msgId: string;
  channel: InboundMessageChannel;
  /** SHA-256 (base64url) of the canonical envelope without `sig`: the same message has the same digest. */
  digest: string;
  seq: number | null;
  /** The envelope's sentAt, epoch ms. */
  sentAt: number;
  /** The message as received, truncated, for the audit trail. */
  raw: string;
}

export interface CommandsOutcome {
  results: CommandResult[];
  /** The same message was applied before: its first answers were sent again. */
  duplicate: boolean;
  /** The message id was used before for another message: refused. */
  reused: boolean;
}

export interface SnapshotOutcome {
  duplicate: boolean;
  reused: boolean;
  /** Applied (all chunks arrived); false while chunks are still missing. */
  applied: boolean;
  /** Refused as a whole (stale, mismatched chunks), with the reason. */
  refused?: RejectionReason;
}

export interface ControlOutcomeResult {
  result: ControlResultPayload;
  duplicate: boolean;
  reused: boolean;
}

/**
 * Inbound side, implemented by agent/sync-sink.ts. Every method is one durable transaction: the
 * change, the de-duplication memory and the answers (outbox rows) commit together, before the link
 * sends the PUBACK. A message id seen before with the same digest is answered again with its first
 * answers (`duplicate`); with another digest it is refused (`msg_id_reused`).
 */
export interface InboundSink {
  commands(m: CheckedMessage, commands: unknown[]): CommandsOutcome;
  snapshotChunk(
    m: CheckedMessage,
    chunk: { snapshotId: string; asOf: number; chunk: number; chunks: number; bookings: unknown[] },
  ): SnapshotOutcome;
  control(
    m: CheckedMessage,
    control: ControlBody,
  ): ControlOutcomeResult | Promise<ControlOutcomeResult>;
  /** A message refused before it reached the applier: kept for audit and answered. */
  rejected(r: {
    msgId: string | null;
    channel: string;
    raw: string | null;
    reasons: RejectionReason[];
    sentAt: number | null;
  }): void;
  /** The cloud has these outbox sequences (inclusive ranges). */
  receipt(ranges: readonly (readonly [number, number])[]): number;
  lastSeq(): number | null;
  /** Why a snapshot is needed (and since when), or null: the link asks until it is healed. */
  snapshotNeeded(): Omit<SyncRequestBody, 'attempt'> | null;
  /** Record that a snapshot is needed (session lost, never synced, an incomplete snapshot...). */
  needSnapshot(reason: SyncRequestBody['reason']): void;
  /** The freshness reference: the unit's clock if it is trusted, and the newest sentAt accepted. */
  freshness(): { now: number; clockTrusted: boolean; newestSentAt: number | null };
}

export interface OutboxRow {
  seq: number;
  eventId: string;
  type: string;
  class: 'critical' | 'telemetry';
  /**
   * The payload as stored: JSON text (written by JSON.stringify), spliced into the envelope as it
   * is — parsing it only to print it again was a third of what draining a row allocated.
   */
  payloadJson: string;
  createdAt: number;
  /** When it was first sent (PUBACKed); null: never sent. */
  sentAt: number | null;
}

/** Outbound side: implemented by agent/store/outbox.ts Outbox. */
export interface OutboxSource {
  /** Owed rows after `afterSeq`: never sent, or critical, unreceipted and sent at or before `resendBefore`. */
  owed(limit: number, afterSeq: number, resendBefore: number): OutboxRow[];
  /** Record the first send of these rows (a re-send writes nothing); how many were not marked yet. */
  markSent(seqs: readonly number[], at: number): number;
  backlog(): { count: number; oldestCreatedAt: number | null };
  unreceipted(): number;
  evictTelemetry(count: number): number;
}

/** Small persisted facts (the connect counter). agent/store/meta.ts MetaStore fits. */
export interface LinkMeta {
  getNumber(key: string): number | null;
  set(key: string, value: string | number): void;
}

/** Optional health summary carried by the heartbeat (modem, queue, clock...). */
export type HealthSource = () => Record<string, unknown>;

/** agent/clock.ts Clock fits. */
export interface LinkClock {
  now(): number;
  setTimeout(fn: () => void, ms: number): unknown;
  clearTimeout(handle: unknown): void;
}

/** pino-compatible subset. */
export interface LinkLogger {
  debug(obj: object, msg?: string): void;
  info(obj: object, msg?: string): void;
  warn(obj: object, msg?: string): void;
  error(obj: object, msg?: string): void;
}

export const silentLogger: LinkLogger = {
  debug: () => {},
  info: () => {},
  warn: () => {},
  error: () => {},
};
