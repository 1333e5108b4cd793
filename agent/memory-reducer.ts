/**
 * Gives the memory of a burst back once the agent is quiet again (issue 14).
 *
 * A burst — the re-send of a backlog the cloud never receipted, a queue of commands after an
 * outage, a technician's page open for a while — grows V8's heap, and V8 keeps the pages: its own
 * memory reducer starts again only once the committed heap grew by 10 MB since its last run, so a
 * small heap that grew by 9 MB stays grown. Measured: a unit holding 20,000 unreceipted events
 * re-sends them two minutes after start, and its RSS went 69 → 78 MB and stayed there, idle, for as
 * long as it was watched: the heap physically 22–24 MB, while heap snapshots before and after the
 * re-send held the same 11.7–11.9 MB of live objects (no retention: free pages V8 kept).
 *
 * Every `checkEveryMs` this looks at the heap: when it grew by `growthBytes` over the lowest seen
 * and the event loop was nearly idle over the last period, a forced full collection runs (compacts,
 * releases free pages; ~20–40 ms on this heap). In the same probe RSS went 77.6 → 68.9 MB. Nothing
 * happens while the agent is busy or while it idles with a heap that did not grow; growth that
 * survives `maxTries` collections is live data and becomes the new baseline; the timer never keeps
 * the process alive.
 */
import { setFlagsFromString, getHeapStatistics } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { performance, type EventLoopUtilization } from 'node:perf_hooks';
import type { Clock } from './clock.js';
import type { Logger } from './log.js';

export interface MemoryReducerDeps {
  clock: Clock;
  /** The heap's physical size now, bytes. */
  heapBytes: () => number;
  /** The share of the last period the event loop was busy (0..1). */
  busyRatio: () => number;
  /** One memory-reducing collection; false when the runtime offers none. */
  collect: () => boolean;
  log?: Logger;
}

export interface MemoryReducerOptions {
  checkEveryMs?: number;
  /** Growth of the heap since the last collection that is worth giving back. */
  growthBytes?: number;
  /** The loop counts as quiet below this busy ratio. */
  quietBelow?: number;
  /**
   * Quiet checks in a row that may collect while the heap stays grown (a collection that ran while
   * the burst's last objects were still live gives back only part), before the growth counts as
   * live data.
   */
  maxTries?: number;
}

export class MemoryReducer {
  private timer: unknown = null;
  /** The lowest heap seen since the last accepted growth: what a burst is measured from. */
  private baseline = 0;
  /** Collections in a row that left the heap grown. */
  private tries = 0;
  private readonly maxTries: number;
  private readonly every: number;
  private readonly growth: number;
  private readonly quiet: number;
  /** Collections run so far (tests, logs). */
  collections = 0;

  constructor(
    private readonly d: MemoryReducerDeps,
    o: MemoryReducerOptions = {},
  ) {
    this.every = o.checkEveryMs ?? 10_000;
    this.growth = o.growthBytes ?? 4 * 1024 * 1024;
    this.quiet = o.quietBelow ?? 0.02;
    this.maxTries = o.maxTries ?? 3;
  }

  start(): void {
    this.baseline = this.d.heapBytes();
    this.d.busyRatio(); // the first period starts now
    this.schedule();
  }

  stop(): void {
    if (this.timer !== null) this.d.clock.clearTimeout(this.timer);
    this.timer = null;
  }

  /** One look: collect when the heap grew and the loop is quiet. */
  check(): void {
    const busy = this.d.busyRatio();
    const heap = this.d.heapBytes();
    // V8 gave memory back itself: measure growth from there.
    if (heap < this.baseline) {
      this.baseline = heap;
      this.tries = 0;
    }
    if (heap - this.baseline < this.growth || busy >= this.quiet) return;
    if (!this.d.collect()) {
      this.d.log?.warn('no memory-reducing collection on this runtime; memory reducer off');
      this.stop();
      return;
    }
    this.collections++;
    this.tries++;
    const after = this.d.heapBytes();
    this.d.log?.debug(
      { heapBeforeMb: mb(heap), heapAfterMb: mb(after), busy, try: this.tries },
      'heap grown by a burst given back',
    );
    if (after - this.baseline < this.growth) this.tries = 0;
    // Still grown after a few quiet tries: that is live data (more bookings), not a burst's
    // leftovers. It becomes the new baseline.
    else if (this.tries >= this.maxTries) {
      this.baseline = after;
      this.tries = 0;
    }
  }

  private schedule(): void {
    const timer = this.d.clock.setTimeout(() => {
      if (this.timer === null) return;
      this.check();
      if (this.timer !== null) this.schedule();
    }, this.every);
    // A housekeeping timer must never keep the process alive (a real timer is unref'd).
    (timer as { unref?: () => void }).unref?.();
    this.timer = timer;
  }
}

const mb = (b: number) => Math.round(b / 104_857.6) / 10;

/**
 * A forced full collection that gives the freed pages back to the system, which V8 offers only
 * through `--expose-gc`'s `gc()`; the flag is set at run time (Node leaves V8's flags writable) and
 * the function is taken from a fresh context, so `gc` never appears on the agent's own global
 * object. Null when the runtime refuses.
 *
 * Which call depends on the V8 (measured: 300,000 objects grown, let go, collected twice, RssAnon):
 * - V8 11 (Node 20): plain `gc()` — the pages go back (78 → 12.5 MB). The options form scans the
 *   stack conservatively there and measurably kept 66 MB of dead objects.
 * - V8 12 and 13 (Node 22, 24 — the package's runtime): plain `gc()` shrinks the heap (6 MB) but
 *   keeps its pages pooled, RssAnon 72 MB; only the memory-reducing "last resort" collection
 *   returns them (10 MB). Found when the package moved to Node 24: the linked idle unit held 97 MB
 *   instead of 70 (bench `rss_idle_10k_bookings_mqtt_mb`).
 * test/footprint/memory-reducer.test.ts checks the process's own RssAnon on the runtime it runs on.
 */
export function forcedCollector(v8Version = process.versions.v8): (() => boolean) | null {
  try {
    setFlagsFromString('--expose-gc');
    const gc = runInNewContext('gc') as unknown;
    if (typeof gc !== 'function') return null;
    if (Number(v8Version.split('.')[0]) < 12) {
      return () => {
        (gc as () => void)();
        return true;
      };
    }
    const options = { type: 'major', execution: 'sync', flavor: 'last-resort' } as const;
    return () => {
      (gc as (o: typeof options) => void)(options);
      return true;
    };
  } catch {
    return null;
  }
}

/** The reducer on this process's own heap and event loop. */
export function processMemoryReducer(clock: Clock, log: Logger): MemoryReducer | null {
  const collect = forcedCollector();
  if (!collect) {
    log.warn('no memory-reducing collection on this runtime; memory reducer off');
    return null;
  }
  let last: EventLoopUtilization = performance.eventLoopUtilization();
  return new MemoryReducer({
    clock,
    log,
    collect,
    heapBytes: () => getHeapStatistics().total_physical_size,
    busyRatio: () => {
      const now = performance.eventLoopUtilization();
      const u = performance.eventLoopUtilization(now, last).utilization;
      last = now;
      return u;
    },
  });
}
