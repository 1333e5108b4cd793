/**
 * The unit's ONE validation path for bookings, used by the CLI's `apply`, by MQTT sync and by
 * tests: the wire contract's shape (sync/contract/booking.ts) plus the checks only the unit can make
 * — the schedule compiles (the zone exists, HH:MM is real, a cron expression can fire) and the callee
 * is a real phone number. Types are inferred from the schemas, so they cannot drift.
 */
import { z } from 'zod';
import {
  bookingShape,
  commandSchemas,
  type Booking,
  type BookingInput,
  type RetryPolicy,
} from '../../sync/contract/booking.js';
import { validateSchedule } from '../schedule/validate.js';
import type { Schedule } from '../schedule/types.js';
import { validateCallee } from '../policy/dial-policy.js';

export {
  bookingIdSchema,
  retryPolicySchema,
  type Booking,
  type BookingInput,
  type RetryPolicy,
  type BookingCommand,
  type UpsertCommand,
  type CancelCommand,
} from '../../sync/contract/booking.js';
export type { CommandResult, CommandStatus, RejectionReason } from '../../sync/contract/results.js';

export const calleeSchema = z.string().superRefine((s, ctx) => {
  const reason = validateCallee(s);
  if (reason) ctx.addIssue({ code: 'custom', message: reason });
});

export const bookingSchema = bookingShape.superRefine((b, ctx) => {
  for (const message of validateSchedule(b.schedule as Schedule))
    ctx.addIssue({ code: 'custom', path: ['schedule'], message });
  const reason = validateCallee(b.callee);
  if (reason) ctx.addIssue({ code: 'custom', path: ['callee'], message: reason });
});

const commands = commandSchemas(bookingSchema);
export const upsertCommandSchema = commands.upsert;
export const cancelCommandSchema = commands.cancel;
export const bookingCommandSchema = commands.command;

/** Compile-time checks that the contract's types and the unit's agree. */
const _sameBooking: (b: z.infer<typeof bookingSchema>) => Booking = (b) => b;
const _sameInput: (b: BookingInput) => z.input<typeof bookingSchema> = (b) => b;
const _sameRetry: (r: RetryPolicy) => Booking['retry'] = (r) => r;
void _sameBooking;
void _sameInput;
void _sameRetry;
