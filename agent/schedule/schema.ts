/**
 * The zod schema for a booking's schedule. zod checks the shape (which fields, which types, no
 * extras); validateSchedule() checks the meaning (zone exists, HH:MM valid, cron can fire), wired in
 * as a refinement so one parse reports every reason.
 */
import { z } from 'zod';
import type { Schedule } from './types.js';
import { validateSchedule } from './validate.js';

const weekday = z.enum(['mon', 'tue', 'wed', 'thu', 'fri', 'sat', 'sun']);

export const scheduleSchema = z
  .discriminatedUnion('kind', [
    z.object({ kind: z.literal('once'), at: z.string().max(64) }).strict(),
    z
      .object({ kind: z.literal('daily'), time: z.string().max(16), zone: z.string().max(64) })
      .strict(),
    z
      .object({
        kind: z.literal('weekly'),
        days: z.array(weekday).max(7),
        time: z.string().max(16),
        zone: z.string().max(64),
      })
      .strict(),
    z
      .object({ kind: z.literal('cron'), expr: z.string().max(256), zone: z.string().max(64) })
      .strict(),
  ])
  .superRefine((s, ctx) => {
    for (const message of validateSchedule(s)) ctx.addIssue({ code: 'custom', message });
  });

/** Compile-time check that the schema and the stored type agree. */
export type ScheduleInput = z.infer<typeof scheduleSchema>;
const _sameShape: (s: ScheduleInput) => Schedule = (s) => s;
