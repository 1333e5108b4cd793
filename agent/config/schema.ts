/**
 * The ONE config schema: types, defaults and validation for the whole agent. Room-specific sections
 * (hal, mqtt, dial policy, diagnostics) are defined next to the code that uses them and composed
 * here. `version` lets old files be migrated (see migrate.ts).
 */
import { z } from 'zod';

export const CONFIG_VERSION = 1;

/** The newest instant this build can trust as a floor for the clock (rule 9). */
export const BUILD_FLOOR = '2026-11-01T00:00:00Z';

export const clockSchema = z
  .object({
    /** Any time before this is an RTC-less boot or a dead clock battery: firing is held. */
    floor: z.iso.datetime({ offset: true }).default(BUILD_FLOOR),
    /** A clock more than this far behind the highest time ever seen holds firing. */
    backwardToleranceSec: z.number().int().min(0).max(86_400).default(300),
    /** Test and chaos hook: shift the agent's wall clock by this many ms. */
    offsetMs: z.number().int().default(0),
  })
  .strict();

export const schedulerSchema = z
  .object({
    /** The longest the scheduler sleeps, so a wall-clock jump is noticed. Design bar: <= 60 s. */
    maxSleepSec: z.number().int().min(1).max(60).default(60),
    /** How often changes made by another process (CLI apply/replay) are looked for. 0 = never. */
    externalPollSec: z.number().int().min(0).max(300).default(5),
  })
  .strict();

export const runnerSchema = z
  .object({
    leaseSec: z.number().int().min(5).max(600).default(30),
    heartbeatSec: z.number().int().min(1).max(300).default(10),
    hangGraceSec: z.number().int().min(1).max(600).default(30),
  })
  .strict()
  .refine((r) => r.heartbeatSec < r.leaseSec, {
    message: 'heartbeatSec must be shorter than leaseSec',
    path: ['heartbeatSec'],
  });

export const logSchema = z
  .object({
    level: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
  })
  .strict();
