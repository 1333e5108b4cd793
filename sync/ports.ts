/**
 * What the link needs from the agent, as shapes. sync/ depends on these, never on agent/ classes,
 * and the agent's wiring passes the real objects in (CommandApplier, Outbox, MetaStore, Clock...).
 */
import type { CommandResult, RejectionReason } from '../agent/bookings/schema.js';
import type { ControlBody } from './contract/bodies.js';

export interface ApplyContext {
  source: 'mqtt' | 'cli';
  /** The per-unit command sequence of the message; persisted with the change when given. */
  seq?: number;
}

/** Inbound side: implemented by agent/bookings/apply.ts CommandApplier. All synchronous, durable. */
export interface InboundSink {
  apply(commands: unknown[], ctx: ApplyContext): CommandResult[];
  applySnapshot(
    snapshot: { snapshotId: string; bookings: unknown[] },
    ctx: ApplyContext,
  ): CommandResult[];
  recordRejected(r: {
    source: 'mqtt' | 'cli';
    commandId?: string | null;
    raw: string | null;
    reasons: RejectionReason[];
  }): unknown;
  lastSeq(): number | null;
}

export interface OutboxRow {
  seq: number;
  eventId: string;
  type: string;
  class: 'critical' | 'telemetry';
  payload: Record<string, unknown>;
  createdAt: number;
}

/** Outbound side: implemented by agent/store/outbox.ts Outbox. */
export interface OutboxSource {
  pending(limit: number, afterSeq: number): OutboxRow[];
  markSent(eventId: string, at: number): boolean;
  backlog(): { count: number; oldestCreatedAt: number | null };
  evictTelemetry(count: number): number;
}

export interface ControlOutcome {
  status: 'accepted' | 'rejected' | 'duplicate';
  /** e.g. the test run id, the replayed run id. */
  detail?: Record<string, unknown>;
  reasons?: RejectionReason[];
}

/**
 * Test calls and replays are agent work. The handler must be idempotent on `controlId` (a
 * redelivered control returns 'duplicate'), and durable before it returns: the PUBACK follows it.
 */
export interface ControlHandler {
  handle(
    control: Exclude<ControlBody, { action: 'resync' }>,
    ctx: { controlId: string },
  ): ControlOutcome | Promise<ControlOutcome>;
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
