/**
 * Housekeeping: keeps the store bounded for years (retention by age and count, agent/store/
 * retention.ts) and the WAL small (a checkpoint once the pruning is done), at a quiet hour.
 *
 * The schedule is node-cron (the design card's package): one timer armed for the next match, so an
 * idle unit pays nothing between runs. There is also one run `firstRunAfterStartSec` after start, so
 * a unit that is switched off every night still prunes. A run never competes with a call: while the
 * runner is busy it waits and tries again a minute later. Each batch of deletes is its own short
 * transaction, with the event loop free between batches.
 */
import cron, { type ScheduledTask } from 'node-cron';
import type { Clock } from './clock.js';
import type { Logger } from './log.js';
import type { Store } from './store/store.js';
import {
  emptyReport,
  RetentionQueries,
  type RetentionPolicy,
  type RetentionReport,
} from './store/retention.js';

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
  /** node-cron expression, in the unit's local time. */
  cron: string;
  firstRunAfterMs: number;
  /** How long to wait when a call is in progress. */
  retryBusyMs?: number;
}

/** The timers around Housekeeping: the cron match, the run after start, the retry while busy. */
export class HousekeepingSchedule {
  private task: ScheduledTask | null = null;
  private timer: unknown = null;
  private stopped = true;
  private readonly log: Logger;

  constructor(private readonly o: HousekeepingScheduleOptions) {
    this.log = o.logger.child({ component: 'housekeeping' });
  }

  start(): void {
    this.stopped = false;
    // unref: housekeeping must never be what keeps the process alive.
    this.task = cron.schedule(this.o.cron, () => this.attempt(), {
      name: 'housekeeping',
      noOverlap: true,
      unref: true,
    });
    this.later(this.o.firstRunAfterMs);
  }

  stop(): void {
    this.stopped = true;
    void this.task?.destroy();
    this.task = null;
    this.o.clock.clearTimeout(this.timer);
    this.timer = null;
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
