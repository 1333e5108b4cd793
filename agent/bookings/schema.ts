/**
 * The booking and booking-command schemas: the ONE validation path for bookings, used by the CLI's
 * `apply`, by MQTT sync and by tests. Types are inferred from the schemas, so they cannot drift.
 */
import { z } from 'zod';
import { scheduleSchema } from '../schedule/schema.js';
import { validateCallee } from '../policy/dial-policy.js';

const idPattern = /^[A-Za-z0-9][A-Za-z0-9._:-]{0,63}$/;

export const bookingIdSchema = z
  .string()
  .regex(idPattern, 'must be 1-64 characters of letters, digits, ".", "_", ":" or "-"');

const isoInstant = z
  .string()
  .refine((s) => /[zZ]|[+-]\d\d:?\d\d$/.test(s) && !Number.isNaN(Date.parse(s)), {
    message: 'must be an ISO 8601 instant with a zone offset, e.g. 2026-12-01T16:00:00Z',
  });

export const calleeSchema = z.string().superRefine((s, ctx) => {
  const reason = validateCallee(s);
  if (reason) ctx.addIssue({ code: 'custom', message: reason });
});

export const retryPolicySchema = z
  .object({
    /** Total dial attempts for one slot, including the first. */
    maxAttempts: z.number().int().min(1).max(10).default(3),
    initialBackoffSec: z.number().int().min(5).max(3600).default(120),
    maxBackoffSec: z
      .number()
      .int()
      .min(5)
      .max(6 * 3600)
      .default(900),
    /** Fraction of the backoff randomised (+/-), so a fleet does not retry in lock-step. */
    jitter: z.number().min(0).max(0.5).default(0.2),
  })
  .strict();

export const bookingSchema = z
  .object({
    id: bookingIdSchema,
    /** Monotonic per booking; the cloud bumps it on every change. Older or equal versions are ignored. */
    version: z.number().int().min(1).max(Number.MAX_SAFE_INTEGER),
    callee: calleeSchema,
    /** Which AI companion agent takes the call (opaque to the unit, reported back with outcomes). */
    agentId: z.string().min(1).max(128),
    schedule: scheduleSchema,
    startsAt: isoInstant.nullish(),
    endsAt: isoInstant.nullish(),
    paused: z.boolean().default(false),
    /** How many more calls this booking may place; null = unlimited. */
    remaining: z.number().int().min(0).max(1_000_000).nullish(),
    ringTimeoutSec: z.number().int().min(10).max(180).default(45),
    maxDurationSec: z
      .number()
      .int()
      .min(30)
      .max(4 * 3600)
      .default(1800),
    retry: retryPolicySchema.default({
      maxAttempts: 3,
      initialBackoffSec: 120,
      maxBackoffSec: 900,
      jitter: 0.2,
    }),
    /** A slot missed by at most this long (downtime, held clock) still fires normally. */
    catchUpWindowSec: z.number().int().min(0).max(86_400).default(900),
    /** A slot missed by longer than the catch-up window: fire once now, or skip and report. */
    misfire: z.enum(['fire_once', 'skip']).default('skip'),
    dstGap: z.enum(['shift', 'skip']).default('shift'),
    /** May ring during the unit's quiet hours (dial policy). */
    allowQuietHours: z.boolean().default(false),
  })
  .strict()
  .superRefine((b, ctx) => {
    if (b.startsAt && b.endsAt && Date.parse(b.endsAt) <= Date.parse(b.startsAt)) {
      ctx.addIssue({ code: 'custom', path: ['endsAt'], message: 'must be after startsAt' });
    }
    if (b.retry.maxBackoffSec < b.retry.initialBackoffSec) {
      ctx.addIssue({
        code: 'custom',
        path: ['retry', 'maxBackoffSec'],
        message: 'must be at least initialBackoffSec',
      });
    }
  });

export type Booking = z.infer<typeof bookingSchema>;
export type RetryPolicy = z.infer<typeof retryPolicySchema>;
export type BookingInput = z.input<typeof bookingSchema>;

export const upsertCommandSchema = z
  .object({
    type: z.literal('booking.upsert'),
    /** Stable id of this command (message id); re-applying the same id is a duplicate. */
    commandId: z.string().min(1).max(128),
    booking: bookingSchema,
  })
  .strict();

export const cancelCommandSchema = z
  .object({
    type: z.literal('booking.cancel'),
    commandId: z.string().min(1).max(128),
    bookingId: bookingIdSchema,
    /** The version of the cancellation; it becomes the tombstone's version. */
    version: z.number().int().min(1).max(Number.MAX_SAFE_INTEGER),
  })
  .strict();

export const bookingCommandSchema = z.discriminatedUnion('type', [
  upsertCommandSchema,
  cancelCommandSchema,
]);

export type UpsertCommand = z.infer<typeof upsertCommandSchema>;
export type CancelCommand = z.infer<typeof cancelCommandSchema>;
export type BookingCommand = z.infer<typeof bookingCommandSchema>;

export interface RejectionReason {
  /** Dotted path into the command, e.g. "booking.callee"; "" for the whole command. */
  path: string;
  /** Stable machine code: invalid_schema, invalid_callee, stale_version, tombstoned, unit_mismatch... */
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
