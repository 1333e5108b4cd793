/**
 * Housekeeping: keeps the store bounded for years (retention by age and count, agent/store/
 * retention.ts) and the WAL small (a checkpoint once the pruning is done), at a quiet hour.
 *
 * The schedule is a cron expression in the unit's local time (agent/schedule/cron.ts, the parser
 * bookings use; the design card's node-cron was replaced: its time zone handling loads ICU, ~8 MB
 * for the life of the process, issue 14). One timer is armed for the next match, so an idle unit
 * pays nothing between runs. There is also one run `firstRunAfterStartSec` after start, so
 * a unit that is switched off every night still prunes. A run never competes with a call: while the
 * runner is busy it waits and tries again a minute later. Each batch of deletes is its own short
 * transaction, with the event loop free between batches.
 */
import type { Clock } from './clock.js';
import type { Logger } from './log.js';
import type { Store } from './store/store.js';
import {
  emptyReport,
  RetentionQueries,
  type RetentionPolicy,
  type RetentionReport,
} from './store/retention.js';
import { nextCronMinute, parseHousekeepingCron, type CronSpec } from './schedule/cron.js';
import { MS_PER_MINUTE } from './schedule/civil.js';
import type { ZoneRules } from './schedule/zone.js';

export interface HousekeepingReport extends RetentionReport {
  /** WAL frames written back to the database file by the closing checkpoint (-1: not run). */
  checkpointedFrames: number;
  ms: number;
}

export interface HousekeepingDeps {
  store: Store;
  clock: Clock;
  logger: Logger;
  policy: RetentionPolicy;
  /** True while a call is in progress: housekeeping then waits. */
  busy?: () => boolean;
  /** Rows per delete transaction. */
  batch?: number;
}

const yieldToLoop = () => new Promise<void>((r) => setImmediate(r));

export class Housekeeping {
  private readonly q: RetentionQueries;
  private readonly batch: number;
  private running: Promise<HousekeepingReport> | null = null;

  constructor(private readonly d: HousekeepingDeps) {
    this.q = new RetentionQueries(d.store.db);
    this.batch = d.batch ?? 500;
  }

  /** Whether a run now would compete with a call. */
  busy(): boolean {
    return this.d.busy?.() ?? false;
  }

  /** Prune everything past its rule, then checkpoint the WAL. Concurrent callers share one run. */
  runOnce(): Promise<HousekeepingReport> {
    this.running ??= this.prune().finally(() => {
      this.running = null;
    });
    return this.running;
  }

  private async prune(): Promise<HousekeepingReport> {
    const { store, clock, policy } = this.d;
    const t0 = clock.monotonic();
    const total = emptyReport();
    const now = clock.now();
    const step = async (fn: () => number): Promise<void> => {
      for (;;) {
        const n = store.tx(fn);
        if (n < this.batch) return;
        await yieldToLoop();
      }
    };
    await step(() => {
      const n = this.q.outbox(policy.outbox, now, this.batch);
      total.outbox += n;
      return n;
    });
    await step(() => {
      const n = this.q.commands(policy.commands, now, this.batch);
      total.commands += n;
      return n;
    });
    await step(() => {
      const n = this.q.messages(policy.messages, now, this.batch);
      total.messages += n;
      return n;
    });
    for (const dead of [false, true]) {
      await step(() => {
        const r = this.q.runs(dead ? policy.deadRuns : policy.runs, now, this.batch, dead);
        total[dead ? 'deadRuns' : 'runs'] += r.runs;
        total.attempts += r.attempts;
        return r.runs;
      });
    }
    const checkpointedFrames = checkpoint(store);
    return { ...total, checkpointedFrames, ms: Math.round(clock.monotonic() - t0) };
  }
}

/**
 * Write the WAL back into the database and truncate it (journal_size_limit bounds it otherwise).
 * Returns the frames written back, or -1 when a reader held the checkpoint back (next run retries).
 */
export function checkpoint(store: Store): number {
  type Row = { busy: number; log: number; checkpointed: number };
  const run = (mode: string) => (store.db.pragma(`wal_checkpoint(${mode})`) as Row[])[0];
  // PASSIVE reports how much there was; TRUNCATE (which reports zeros once done) empties the file.
  // An empty WAL is left alone: resetting it is a write too, and an idle unit writes nothing.
  const copied = run('PASSIVE');
  if (copied && copied.busy === 0 && copied.log === 0) return 0;
  const truncated = run('TRUNCATE');
  return copied && truncated && truncated.busy === 0 ? copied.checkpointed : -1;
}

export interface HousekeepingScheduleOptions {
  housekeeping: Housekeeping;
  clock: Clock;
  logger: Logger;
  /** Cron expression (parseHousekeepingCron), in `zone`'s wall-clock time. */
  cron: string;
  /** The unit's local time zone (localZoneRules()). */
  zone: ZoneRules;
  firstRunAfterMs: number;
  /** How long to wait when a call is in progress. */
  retryBusyMs?: number;
}

/** Never sleep longer than this: a wall-clock step (NTP after a boot without RTC) is noticed. */
const MAX_SLEEP_MS = 3_600_000;
/** How far ahead a match is searched (a Feb 29 expression can be 8 years away). */
const SEARCH_MINUTES = 9 * 366 * 1440;

/** The first instant after `now` whose wall-clock minute in `zone` matches, or null if none. */
export function nextHousekeepingAt(spec: CronSpec, zone: ZoneRules, now: number): number | null {
  let from = Math.floor(zone.toLocalMs(now) / MS_PER_MINUTE) + 1;
  const limit = from + SEARCH_MINUTES;
  for (;;) {
    const m = nextCronMinute(spec, from, limit);
    if (m === null) return null;
    // A minute in a DST gap runs once the clocks have moved on; a repeated one at its first instant.
    const at = zone.fromLocalMs(m * MS_PER_MINUTE).epochMs;
    if (at > now) return at;
    from = m + 1;
  }
}

/** The timers around Housekeeping: the cron match, the run after start, the retry while busy. */
export class HousekeepingSchedule {
  private cronTimer: unknown = null;
  private timer: unknown = null;
  private stopped = true;
  private readonly log: Logger;
  private readonly spec: CronSpec;
  /** The instant the cron timer is for (null: no match ahead). */
  private dueAt: number | null = null;

  constructor(private readonly o: HousekeepingScheduleOptions) {
    this.log = o.logger.child({ component: 'housekeeping' });
    const parsed = parseHousekeepingCron(o.cron);
    if (!parsed.ok)
      throw new RangeError(`housekeeping schedule ${JSON.stringify(o.cron)}: ${parsed.error}`);
    this.spec = parsed.spec;
  }

  start(): void {
    this.stopped = false;
    this.armCron();
    this.later(this.o.firstRunAfterMs);
  }

  stop(): void {
    this.stopped = true;
    this.o.clock.clearTimeout(this.cronTimer);
    this.cronTimer = null;
    this.o.clock.clearTimeout(this.timer);
    this.timer = null;
  }

  /** When the next scheduled run is due (diagnostics, tests), or null. */
  nextRunAt(): number | null {
    return this.dueAt;
  }

  /** Sleep toward the next match (at most MAX_SLEEP_MS at a time, then look again). */
  private armCron(): void {
    if (this.stopped) return;
    const now = this.o.clock.now();
    this.dueAt = nextHousekeepingAt(this.spec, this.o.zone, now);
    if (this.dueAt === null) return;
    const wait = Math.min(this.dueAt - now, MAX_SLEEP_MS);
    this.cronTimer = this.o.clock.setTimeout(() => {
      this.cronTimer = null;
      if (this.stopped) return;
      const due = this.dueAt;
      if (due !== null && this.o.clock.now() >= due) void this.attempt();
      this.armCron();
    }, wait);
    // unref: housekeeping must never be what keeps the process alive.
    (this.cronTimer as { unref?: () => void } | null)?.unref?.();
  }

  private later(ms: number): void {
    this.o.clock.clearTimeout(this.timer);
    this.timer = this.o.clock.setTimeout(() => {
      this.timer = null;
      void this.attempt();
    }, ms);
    (this.timer as { unref?: () => void } | null)?.unref?.();
  }

  /** One run now, unless a call is in progress (then again a little later). Never throws. */
  async attempt(): Promise<HousekeepingReport | null> {
    if (this.stopped) return null;
    if (this.o.housekeeping.busy()) {
      this.later(this.o.retryBusyMs ?? 60_000);
      return null;
    }
    try {
      const r = await this.o.housekeeping.runOnce();
      const deleted = r.outbox + r.commands + r.messages + r.runs + r.deadRuns + r.attempts;
      if (deleted > 0) this.log.info(r, 'housekeeping: pruned old rows');
      else this.log.debug(r, 'housekeeping: nothing to prune');
      return r;
    } catch (err) {
      // A failed prune (disk full, busy database) loses nothing: the next run tries again.
      this.log.warn({ err }, 'housekeeping failed; trying again at the next run');
      return null;
    }
  }
}
