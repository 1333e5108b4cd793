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
    /** Extra time past ring timeout + max duration before a call that never ends is abandoned. */
    hangGraceSec: z.number().int().min(1).max(600).default(30),
  })
  .strict();

/** How the agent meets a busy or failing store (docs/lifecycle.md "Failures"). */
export const storageSchema = z
  .object({
    /** Chaos/test hook: cap the store at this many pages to act out a full disk (0 = no cap). */
    maxPageCount: z.number().int().min(0).default(0),
    /**
     * How long SQLite waits for another process's write lock before the write is retried
     * asynchronously. The driver is synchronous: this wait blocks the event loop, so keep it short.
     */
    busyTimeoutMs: z.number().int().min(0).max(250).default(100),
    /** A transient storage error (busy, full, I/O) lasting longer than this exits the agent. */
    writeGiveUpSec: z.number().int().min(1).max(3600).default(60),
  })
  .strict();

export const logSchema = z
  .object({
    level: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
  })
  .strict();
