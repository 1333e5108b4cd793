/**
 * The ONE config schema: types, defaults and validation for the whole agent. Room-specific sections
 * (hal, mqtt, dial policy, diagnostics) are defined next to the code that uses them and composed
 * here. `version` lets old files be migrated (see migrate.ts).
 */
import { z } from 'zod';
import { parseHousekeepingCron } from '../schedule/cron.js';

export const CONFIG_VERSION = 1;

/** The newest instant this build can trust as a floor for the clock (rule 9). */
export const BUILD_FLOOR = '2026-11-01T00:00:00Z';

export const clockSchema = () =>
  z
    .object({
      /** Any time before this is an RTC-less boot or a dead clock battery: firing is held. */
      floor: z.iso.datetime({ offset: true }).default(BUILD_FLOOR),
      /** A clock more than this far behind the highest time ever seen holds firing. */
      backwardToleranceSec: z.number().int().min(0).max(86_400).default(300),
      /**
       * How often the highest time seen is written while nothing else changes (a commit is a flash
       * write). A crash forgets at most this much of it; a graceful stop writes it at once.
       */
      persistEverySec: z.number().int().min(1).max(86_400).default(3_600),
      /** Test and chaos hook: shift the agent's wall clock by this many ms. */
      offsetMs: z.number().int().default(0),
    })
    .strict();

export const schedulerSchema = () =>
  z
    .object({
      /** The longest the scheduler sleeps, so a wall-clock jump is noticed. Design bar: <= 60 s. */
      maxSleepSec: z.number().int().min(1).max(60).default(60),
      /** How often changes made by another process (CLI apply/replay) are looked for. 0 = never. */
      externalPollSec: z.number().int().min(0).max(300).default(5),
      /**
       * How long before its slot a booking's call is written as a run waiting for the slot, so only
       * the claim commits between the slot and the dial. Below a minute: a booking's slots are at
       * least a minute apart. 0 = at the slot.
       */
      planAheadMs: z.number().int().min(0).max(30_000).default(1_000),
    })
    .strict();

export const runnerSchema = () =>
  z
    .object({
      /** Extra time past ring timeout + max duration before a call that never ends is abandoned. */
      hangGraceSec: z.number().int().min(1).max(600).default(30),
    })
    .strict();

/** How the agent meets a busy or failing store (docs/lifecycle.md "Failures"). */
export const storageSchema = () =>
  z
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

export const logSchema = () =>
  z
    .object({
      level: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
      /** `auto`: human-readable on a terminal (pino-pretty), JSON otherwise (journald, pipes). */
      format: z.enum(['auto', 'json', 'pretty']).default('auto'),
    })
    .strict();

/** Keep rows by age and by count; whichever limit is reached first deletes (agent/store/retention.ts). */
const keepRule = (maxAgeDays: number, maxRows: number) =>
  z
    .object({
      maxAgeDays: z.number().int().min(1).max(36_500).default(maxAgeDays),
      maxRows: z.number().int().min(100).max(10_000_000).default(maxRows),
    })
    .strict();

/**
 * What the store keeps, so the disk stays bounded for years (agent/housekeeping.ts runs it). Nothing
 * owed is ever deleted: open runs and their attempts, outbox rows not yet delivered.
 */
export const retentionSchema = () =>
  z
    .object({
      /** Outbox events already delivered to the cloud. */
      outbox: keepRule(7, 10_000).prefault({}),
      /** The command audit; also what answers a redelivered command with its first result. */
      commands: keepRule(30, 50_000)
        .extend({
          /** Rejected commands keep their raw payload (up to 8 KiB): a junk flood is capped apart. */
          rejectedMaxRows: z.number().int().min(100).max(1_000_000).default(2_000),
        })
        .prefault({}),
      /** Completed, skipped, cancelled and refused runs, with their attempts. */
      runs: keepRule(90, 10_000).prefault({}),
      /** Dead-lettered runs stay replayable much longer. */
      deadRuns: keepRule(365, 5_000).prefault({}),
      /**
       * Inbound messages by msgId (de-duplication, audit of refused ones): longer than the freshness
       * window (mqtt.freshness.maxAgeSec, 8 days), so a replay is refused as stale, never re-applied.
       */
      messages: keepRule(14, 100_000)
        .extend({ rejectedMaxRows: z.number().int().min(100).max(1_000_000).default(2_000) })
        .prefault({}),
      /**
       * When housekeeping runs: a 5-field cron expression in the unit's local time (node-cron's
       * 6-field form with one number for the seconds is accepted too); also once after start.
       */
      schedule: z
        .string()
        .superRefine((s, ctx) => {
          const r = parseHousekeepingCron(s);
          if (!r.ok)
            ctx.addIssue({
              code: 'custom',
              message: `must be a cron expression, e.g. "30 3 * * *": ${r.error}`,
            });
        })
        .default('30 3 * * *'),
      /** The first housekeeping run after start, so a unit that is off every night still prunes. */
      firstRunAfterStartSec: z.number().int().min(0).max(86_400).default(600),
    })
    .strict();
