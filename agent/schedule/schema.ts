/**
 * The schedule schema the unit validates with: the wire contract's shape (sync/contract/booking.ts:
 * which fields, which types, no extras) plus validateSchedule() for the meaning (zone exists, HH:MM
 * valid, cron can fire), wired in as a refinement so one parse reports every reason.
 */
import type { z } from 'zod';
import { scheduleShape } from '../../sync/contract/booking.js';
import type { Schedule } from './types.js';
import { validateSchedule } from './validate.js';

export const scheduleSchema = scheduleShape.superRefine((s, ctx) => {
  for (const message of validateSchedule(s as Schedule)) ctx.addIssue({ code: 'custom', message });
});

/** Compile-time check that the schema and the stored type agree. */
export type ScheduleInput = z.infer<typeof scheduleSchema>;
const _sameShape: (s: ScheduleInput) => Schedule = (s) => s;
void _sameShape;
