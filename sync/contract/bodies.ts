/**
 * The body of each topic's envelope. Booking and command schemas are imported from the agent's one
 * validation path (agent/bookings/schema.ts), so the published contract and what the unit enforces
 * cannot drift. Inbound *runtime* validation of command batches and snapshot bookings uses the
 * `wire*` variants (items left open) so each command gets its own result from the applier instead of
 * one bad command rejecting a whole batch; the applier then validates each item with the same schema.
 */
import { z } from 'zod';
import { bookingCommandSchema, bookingSchema } from '../../agent/bookings/schema.js';
import type { CommandResult } from '../../agent/bookings/schema.js';
import { calleeSchema } from '../../agent/bookings/schema.js';
import { instantSchema, msgIdSchema, seqSchema } from './envelope.js';
import { REVOCATIONS_ACTION, revocationListSchema } from './technician.js';

/** Many booking changes per message: a commit per message is bounded by the disk flush. */
export const MAX_COMMANDS_PER_BATCH = 5000;
export const MAX_SNAPSHOT_CHUNKS = 10_000;

export const commandBatchBodySchema = z
  .object({ commands: z.array(bookingCommandSchema).min(1).max(MAX_COMMANDS_PER_BATCH) })
  .strict();
export const wireCommandBatchBodySchema = z
  .object({ commands: z.array(z.unknown()).min(1).max(MAX_COMMANDS_PER_BATCH) })
  .strict();

const snapshotShape = {
  snapshotId: z.string().min(1).max(128),
  /** 0-based index of this chunk. */
  chunk: z
    .number()
    .int()
    .min(0)
    .max(MAX_SNAPSHOT_CHUNKS - 1),
  chunks: z.number().int().min(1).max(MAX_SNAPSHOT_CHUNKS),
};
export const snapshotChunkBodySchema = z
  .object({ ...snapshotShape, bookings: z.array(bookingSchema) })
  .strict();
export const wireSnapshotChunkBodySchema = z
  .object({ ...snapshotShape, bookings: z.array(z.unknown()) })
  .strict();

export const controlBodySchema = z.discriminatedUnion('action', [
  z.object({ action: z.literal('resync') }).strict(),
  z
    .object({
      action: z.literal('test-call'),
      callee: calleeSchema,
      agentId: z.string().min(1).max(128).optional(),
    })
    .strict(),
  z.object({ action: z.literal('replay'), runId: z.string().min(1).max(128) }).strict(),
  // Technician access (issue 15): the full current revocation list, replaced if newer.
  revocationListSchema.extend({ action: z.literal(REVOCATIONS_ACTION) }).strict(),
]);

/** Outbox events (events topic) and results (results topic) share one shape. */
export const eventBodySchema = z
  .object({
    /** Stable id; the cloud de-duplicates on it (a redelivered event keeps its id). */
    eventId: z.string().min(1).max(128),
    type: z.string().min(1).max(64),
    class: z.enum(['critical', 'telemetry']),
    /** Epoch milliseconds on the unit's clock when the event was written. */
    createdAt: z.number().int(),
    payload: z.record(z.string(), z.unknown()),
  })
  .strict();

export const statusBodySchema = z
  .object({
    state: z.enum(['online', 'lost', 'offline']),
    /** Rises on every connect (persisted), so the cloud can order status messages and see flaps. */
    connectCount: z.number().int().min(0),
    since: instantSchema,
    /** The last command sequence applied when this status was written. */
    lastSeq: seqSchema.nullable(),
  })
  .strict();

export const syncRequestBodySchema = z
  .object({
    reason: z.enum(['gap', 'session_lost', 'never_synced', 'snapshot_incomplete', 'resync']),
    /** The last command sequence the unit has applied (null: none yet). */
    haveSeq: seqSchema.nullable(),
    /** The sequence that revealed the gap, when reason is "gap". */
    gotSeq: seqSchema.optional(),
    /** The message that triggered the request (a control, a command). */
    inReplyTo: msgIdSchema.optional(),
  })
  .strict();

export const heartbeatBodySchema = z
  .object({
    uptimeSec: z.number().int().min(0),
    lastSeq: seqSchema.nullable(),
    backlog: z.number().int().min(0),
    connectCount: z.number().int().min(0),
    health: z.record(z.string(), z.unknown()).optional(),
  })
  .strict();

export type CommandBatchBody = z.infer<typeof commandBatchBodySchema>;
export type SnapshotChunkBody = z.infer<typeof snapshotChunkBodySchema>;
export type ControlBody = z.infer<typeof controlBodySchema>;
export type EventBody = z.infer<typeof eventBodySchema>;
export type StatusBody = z.infer<typeof statusBodySchema>;
export type SyncRequestBody = z.infer<typeof syncRequestBodySchema>;
export type HeartbeatBody = z.infer<typeof heartbeatBodySchema>;

/** STYLE.md "the MQTT contract is a type": channel → body type. */
export interface TopicPayloads {
  cmd: CommandBatchBody;
  snapshot: SnapshotChunkBody;
  control: ControlBody;
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
  events: eventBodySchema,
  results: eventBodySchema,
  status: statusBodySchema,
  'sync-request': syncRequestBodySchema,
  heartbeat: heartbeatBodySchema,
} satisfies { [K in keyof TopicPayloads]: z.ZodType<TopicPayloads[K], unknown> };

/** Payload of a `command.result` / `control.result` the link publishes itself (duplicates, controls). */
export interface ResultPayload {
  /** msgId of the envelope this answers. */
  inReplyTo: string;
  result: CommandResult;
}
