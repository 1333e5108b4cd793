/**
 * The booking and its commands, as the wire contract states them: which members, which types, which
 * bounds and defaults, no unknown members. This is what the cloud can check before it sends and what
 * docs/schemas/ publishes. The unit adds the checks that need its own knowledge on top (the zone
 * exists, the cron expression can fire, the number is a real phone number, the dial policy allows
 * it: agent/bookings/schema.ts), with the reason codes listed in docs/protocol.md.
 */
import { z } from 'zod';

export const BOOKING_ID = /^[A-Za-z0-9][A-Za-z0-9._:-]{0,63}$/;
/** E.164: "+", a country code and the number, digits only, at most 15 digits. */
export const E164 = /^\+[1-9]\d{1,14}$/;

export const bookingIdSchema = z
  .string()
  .regex(BOOKING_ID, 'must be 1-64 characters of letters, digits, ".", "_", ":" or "-"');

export const isoInstantSchema = z
  .string()
  .max(64)
  .refine((s) => /[zZ]|[+-]\d\d:?\d\d$/.test(s) && !Number.isNaN(Date.parse(s)), {
    message: 'must be an ISO 8601 instant with a zone offset, e.g. 2026-12-01T16:00:00Z',
  });

export const calleeShape = z
  .string()
  .regex(
    E164,
    'callee must be an E.164 number: "+", country code and number, digits only (e.g. +4915123456789)',
  );

const weekday = z.enum(['mon', 'tue', 'wed', 'thu', 'fri', 'sat', 'sun']);
/** Local wall time "HH:MM" (24 h); checked by the unit, with every other reason, in one answer. */
const hhmm = z.string().max(16);
/** An IANA time zone name, e.g. "Europe/Berlin"; the unit checks that it exists. */
const zone = z.string().max(64);

/**
 * The schedule's shape: which members and types. Its meaning — `at` an ISO 8601 instant with an
 * offset, `time` a real HH:MM, `zone` a known IANA zone, `days` not empty, `expr` a 5-field cron
 * expression that fires — is checked by the unit, which reports every reason at once
 * (`invalid_schedule`).
 */
export const scheduleShape = z.discriminatedUnion('kind', [
  z.object({ kind: z.literal('once'), at: z.string().max(64) }).strict(),
  z.object({ kind: z.literal('daily'), time: hhmm, zone }).strict(),
  z.object({ kind: z.literal('weekly'), days: z.array(weekday).max(7), time: hhmm, zone }).strict(),
  z.object({ kind: z.literal('cron'), expr: z.string().max(256), zone }).strict(),
]);

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

const bookingMembers = {
  id: bookingIdSchema,
  /** Monotonic per booking; the cloud bumps it on every change. Older or equal versions are ignored. */
  version: z.number().int().min(1).max(Number.MAX_SAFE_INTEGER),
  callee: calleeShape,
  /** Which AI companion agent takes the call (opaque to the unit, reported back with outcomes). */
  agentId: z.string().min(1).max(128),
  schedule: scheduleShape,
  startsAt: isoInstantSchema.nullish(),
  endsAt: isoInstantSchema.nullish(),
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
  /**
   * The prompt played on the unit's speaker before dialling, so the resident knows a call is
   * coming (a file name in the unit's prompts directory). Omitted: the unit's default
   * (`hal.audio.call.announcement`); null: none for this booking.
   */
  announcement: z
    .string()
    .regex(
      /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/,
      'must be a prompt name: letters, digits, ".", "_", "-"',
    )
    .nullish(),
};

/** The booking as the contract states it: shape, bounds, defaults and the cross-member rules. */
export const bookingShape = z
  .object(bookingMembers)
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

export type Booking = z.infer<typeof bookingShape>;
export type BookingInput = z.input<typeof bookingShape>;
export type RetryPolicy = z.infer<typeof retryPolicySchema>;
export type Schedule = z.infer<typeof scheduleShape>;

export const commandIdSchema = z.string().min(1).max(128);

/** The two booking commands, over a booking schema (the contract's shape, or the unit's full check). */
export function commandSchemas<B extends z.ZodType>(booking: B) {
  const upsert = z
    .object({
      type: z.literal('booking.upsert'),
      /** Names this command; reused only for the very same command (else `command_id_reused`). */
      commandId: commandIdSchema,
      booking,
    })
    .strict();
  const cancel = z
    .object({
      type: z.literal('booking.cancel'),
      commandId: commandIdSchema,
      bookingId: bookingIdSchema,
      /** The version of the cancellation; it becomes the tombstone's version. */
      version: z.number().int().min(1).max(Number.MAX_SAFE_INTEGER),
    })
    .strict();
  return { upsert, cancel, command: z.discriminatedUnion('type', [upsert, cancel]) };
}

export const bookingCommandShape = commandSchemas(bookingShape).command;
export type BookingCommand = z.infer<typeof bookingCommandShape>;
export type BookingCommandInput = z.input<typeof bookingCommandShape>;
export type UpsertCommand = Extract<BookingCommand, { type: 'booking.upsert' }>;
export type CancelCommand = Extract<BookingCommand, { type: 'booking.cancel' }>;
