/**
 * The body of each topic's envelope. The booking and its commands come from the contract's own
 * booking module (sync/contract/booking.ts); the unit validates with the same shapes plus its own
 * checks, so the published contract and what the unit enforces cannot drift. Inbound *runtime*
 * validation of command batches and snapshot chunks uses the `wire*` variants (items left open) so
 * each command gets its own result instead of one bad command refusing the whole batch.
 */
import { z } from 'zod';
import { bookingCommandShape, bookingShape, calleeShape } from './booking.js';
import { instantSchema, msgIdSchema, seqSchema } from './envelope.js';
import { MAX_BOOKINGS_PER_CHUNK, MAX_COMMANDS_PER_BATCH, MAX_RECEIPT_RANGES } from './limits.js';
import { REVOCATIONS_ACTION, revocationListSchema } from './technician.js';

export { MAX_BOOKINGS_PER_CHUNK, MAX_COMMANDS_PER_BATCH } from './limits.js';
export const MAX_SNAPSHOT_CHUNKS = 10_000;

export const commandBatchBodySchema = z
  .object({ commands: z.array(bookingCommandShape).min(1).max(MAX_COMMANDS_PER_BATCH) })
  .strict();
export const wireCommandBatchBodySchema = z
  .object({ commands: z.array(z.unknown()).min(1).max(MAX_COMMANDS_PER_BATCH) })
  .strict();

const snapshotShape = {
  snapshotId: z.string().min(1).max(128),
  /**
   * The command sequence this snapshot is as of: the last `cmd` seq the cloud had assigned the unit
   * when it read the set (0 = before any command). Required: the unit never lets a snapshot undo a
   * command newer than this.
   */
  asOf: z.number().int().min(0).max(Number.MAX_SAFE_INTEGER),
  /** 0-based index of this chunk. */
  chunk: z
    .number()
    .int()
    .min(0)
    .max(MAX_SNAPSHOT_CHUNKS - 1),
  chunks: z.number().int().min(1).max(MAX_SNAPSHOT_CHUNKS),
};
export const snapshotChunkBodySchema = z
  .object({ ...snapshotShape, bookings: z.array(bookingShape).max(MAX_BOOKINGS_PER_CHUNK) })
  .strict();
export const wireSnapshotChunkBodySchema = z
  .object({ ...snapshotShape, bookings: z.array(z.unknown()).max(MAX_BOOKINGS_PER_CHUNK) })
  .strict();

export const controlBodySchema = z.discriminatedUnion('action', [
  z.object({ action: z.literal('resync') }).strict(),
  z
    .object({
      action: z.literal('test-call'),
      callee: calleeShape,
      agentId: z.string().min(1).max(128).optional(),
    })
    .strict(),
  z.object({ action: z.literal('replay'), runId: z.string().min(1).max(128) }).strict(),
  // Technician access (issue 15): the full current revocation list, replaced if newer.
  revocationListSchema.extend({ action: z.literal(REVOCATIONS_ACTION) }).strict(),
]);

/**
 * Delivery receipts (cloud → unit): the outbox sequences the cloud has stored, as inclusive ranges.
 * The unit keeps every critical event, and sends it again, until a receipt covers it.
 */
export const receiptBodySchema = z
  .object({
    ranges: z
      .array(z.tuple([seqSchema, seqSchema]).refine(([a, b]) => a <= b, 'from must be <= to'))
      .min(1)
      .max(MAX_RECEIPT_RANGES),
  })
  .strict();

/** Outbox events (events topic) and results (results topic) share one shape. */
export const eventBodySchema = z
  .object({
    /** Stable id; the cloud de-duplicates on it (a re-sent event keeps its id and seq). */
    eventId: z.string().min(1).max(128),
    type: z.string().min(1).max(64),
    /** critical: kept and re-sent until receipted; telemetry: best effort, may be evicted. */
    class: z.enum(['critical', 'telemetry']),
    /** When the unit wrote the event (its clock). */
    createdAt: instantSchema,
    payload: z.record(z.string(), z.unknown()),
  })
  .strict();

export const statusBodySchema = z
  .object({
    state: z.enum(['online', 'lost', 'offline']),
    /**
     * Rises on every connect (persisted). The newest status is the one with the highest
     * connectCount; for equal counts `lost`/`offline` come after `online`.
     */
    connectCount: z.number().int().min(0),
    /** online: when connected; lost: the earliest the broker can publish the will; offline: when stopping. */
    since: instantSchema,
    /** The last command sequence applied when this status was written. */
    lastSeq: seqSchema.nullable(),
  })
  .strict();

export const SYNC_REASONS = [
  'gap',
  'session_lost',
  'never_synced',
  'snapshot_incomplete',
  'resync',
  'storage_full',
  'recovered_from_corruption',
] as const;

export const syncRequestBodySchema = z
  .object({
    reason: z.enum(SYNC_REASONS),
    /** The last command sequence the unit has applied (null: none yet). */
    haveSeq: seqSchema.nullable(),
    /** The sequence that revealed the gap, when reason is "gap". */
    gotSeq: seqSchema.optional(),
    /** The message that triggered the request (a control, a command). */
    inReplyTo: msgIdSchema.optional(),
    /** How often this need has been asked for (1, 2, ...): repeated with backoff until healed. */
    attempt: z.number().int().min(1),
    /** Since when the unit has needed a snapshot. */
    since: instantSchema,
  })
  .strict();

export const heartbeatBodySchema = z
  .object({
    uptimeSec: z.number().int().min(0),
    lastSeq: seqSchema.nullable(),
    /** Events not yet sent. */
    backlog: z.number().int().min(0),
    /** Critical events sent but not yet receipted. */
    unreceipted: z.number().int().min(0),
    connectCount: z.number().int().min(0),
    health: z.record(z.string(), z.unknown()).optional(),
  })
  .strict();

export type CommandBatchBody = z.infer<typeof commandBatchBodySchema>;
export type SnapshotChunkBody = z.infer<typeof snapshotChunkBodySchema>;
export type ControlBody = z.infer<typeof controlBodySchema>;
export type ReceiptBody = z.infer<typeof receiptBodySchema>;
export type EventBody = z.infer<typeof eventBodySchema>;
export type StatusBody = z.infer<typeof statusBodySchema>;
export type SyncRequestBody = z.infer<typeof syncRequestBodySchema>;
export type HeartbeatBody = z.infer<typeof heartbeatBodySchema>;

/** STYLE.md "the MQTT contract is a type": channel → body type. */
export interface TopicPayloads {
  cmd: CommandBatchBody;
  snapshot: SnapshotChunkBody;
  control: ControlBody;
  receipts: ReceiptBody;
  events: EventBody;
  results: EventBody;
  status: StatusBody;
  'sync-request': SyncRequestBody;
  heartbeat: HeartbeatBody;
}

/** The full (documented) body schema of each channel; `satisfies` keeps it in step with the map. */
export const bodySchemas = {
  cmd: commandBatchBodySchema,
  snapshot: snapshotChunkBodySchema,
  control: controlBodySchema,
  receipts: receiptBodySchema,
  events: eventBodySchema,
  results: eventBodySchema,
  status: statusBodySchema,
  'sync-request': syncRequestBodySchema,
  heartbeat: heartbeatBodySchema,
} satisfies { [K in keyof TopicPayloads]: z.ZodType<TopicPayloads[K], unknown> };
