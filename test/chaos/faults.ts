/**
 * The fault injectors of a chaos run, in two lanes that run side by side: the process lane (the
 * agent's life: SIGKILL, clock jumps, full disk, corrupt file) and the network lane (the proxy and
 * the broker). Modem faults come from the workload itself (numbers whose rule injects a fault).
 */
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import type { MosquittoBroker } from '../support/mosquitto.js';
import type { ChaosCloud } from './cloud.js';
import type { ChaosProxy } from './proxy.js';
import type { ChaosUnit } from './unit.js';

export type FaultKind =
  | 'sigkill'
  | 'clock_forward'
  | 'clock_backward'
  | 'disk_full'
  | 'corrupt_db'
  | 'proxy_cut'
  | 'proxy_blackhole'
  | 'broker_restart_persist'
  | 'broker_restart_lost';

export interface Lanes {
  unit: ChaosUnit;
  proxy: ChaosProxy;
  broker: MosquittoBroker;
  cloud: ChaosCloud;
  random: () => number;
  count: (kind: FaultKind | string) => void;
  note: (msg: string) => void;
  /** The highest clock offset used so far (the final incarnation resumes from it). */
  maxOffsetMs: number;
  /** Hold the workload's new bookings (while waiting for a quiet moment). */
  pauseWorkload?: (on: boolean) => void;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const between = (random: () => number, lo: number, hi: number) =>
  lo + Math.floor(random() * (hi - lo));

function pick<T extends string>(random: () => number, weights: Record<T, number>): T {
  const entries = Object.entries(weights) as [T, number][];
  let x = random() * entries.reduce((n, [, w]) => n + w, 0);
  for (const [k, w] of entries) if ((x -= w) < 0) return k;
  return entries[0]![0];
}

/**
 * The process lane: `count` faults; every incarnation lives a random while, then dies one of several
 * ways. The corruptions sit at fixed places in the sequence, so a seed always injects them all.
 */
export async function processLane(l: Lanes, count: number, corruptions: number): Promise<void> {
  const corruptAt = new Set(
    Array.from({ length: corruptions }, (_, j) =>
      Math.floor(((j + 1) * count) / (corruptions + 1)),
    ),
  );
  for (let i = 0; i < count; i++) {
    await sleep(between(l.random, 300, 2000));
    const drawn = pick(l.random, {
      sigkill: 50,
      clock_forward: 10,
      clock_backward: 10,
      disk_full: 12,
    });
    const kind: FaultKind = corruptAt.has(i) ? 'corrupt_db' : drawn;
    if (kind === 'corrupt_db') {
      // Only at a quiet moment, so the cloud holds the whole history the file takes with it: new
      // bookings are held back until the unit has delivered and been receipted everything.
      l.pauseWorkload?.(true);
      // A full disk cannot record receipts (by design: nothing is written without room), so the
      // quiet moment comes only once space returns: an incarnation under the cap makes room first.
      if (l.unit.maxPageCount > 0) {
        await l.unit.kill();
        await startUnit(l, {});
      }
      // Quiet is judged on the stopped unit: a slot still falls due at any time (only new bookings
      // are held), so a running unit seen quiet may claim a call before the kill — a second look
      // once found just that and threw "did not go quiet" for a unit quiet a moment before. Not
      // quiet once stopped: start it again and wait for the next quiet moment.
      const deadline = Date.now() + 180_000;
      let quiet = false;
      while (!quiet && Date.now() < deadline) {
        if (l.unit.quiet()) {
          await l.unit.kill();
          quiet = l.unit.quiet();
          if (quiet) break;
          await startUnit(l, {});
        }
        await sleep(100);
      }
      l.pauseWorkload?.(false);
      if (!quiet)
        throw new Error(`chaos: the unit did not go quiet within 180 s: ${l.unit.owedSummary()}`);
    }
    const pages = kind === 'disk_full' ? l.unit.pageCount() : 0;
    await l.unit.kill();
    l.count(kind);
    const offset = l.unit.offsetMs;
    switch (kind) {
      case 'sigkill':
        await startUnit(l, {});
        break;
      case 'clock_forward':
        await startUnit(l, { offsetMs: offset + between(l.random, 20_000, 200_000) });
        break;
      case 'clock_backward':
        // Past the 5 s tolerance: firing is held (and reported) until real time catches up.
        await startUnit(l, { offsetMs: offset - between(l.random, 8_000, 25_000) });
        break;
      case 'disk_full':
        // A couple of pages of headroom: start-up fits, a burst of commands does not.
        await startUnit(l, { maxPageCount: pages + 2 });
        break;
      case 'corrupt_db':
        l.unit.corrupt(l.random() < 0.5, l.random);
        await startUnit(l, {});
        break;
    }
  }
}

async function startUnit(
  l: Lanes,
  over: { offsetMs?: number; maxPageCount?: number },
): Promise<void> {
  try {
    await l.unit.start(over);
  } catch (err) {
    // A start that fails is itself a finding worth seeing; start plainly so the run goes on.
    l.note(`start failed (${JSON.stringify(over)}): ${(err as Error).message.slice(0, 300)}`);
    l.count('start_failed');
    await l.unit.start({});
  }
  l.maxOffsetMs = Math.max(l.maxOffsetMs, l.unit.offsetMs);
}

/** The network lane: `count` faults of the proxy and the broker. */
export async function networkLane(l: Lanes, count: number): Promise<void> {
  for (let i = 0; i < count; i++) {
    await sleep(between(l.random, 800, 3000));
    const kind = pick(l.random, {
      proxy_cut: 35,
      proxy_blackhole: 15,
      broker_restart_persist: 20,
      broker_restart_lost: 10,
    });
    l.count(kind);
    switch (kind) {
      case 'proxy_cut':
        l.proxy.cut();
        break;
      case 'proxy_blackhole':
        // Longer than 1.5 keepalives (5 s): only the keepalive can notice a half-open link.
        l.proxy.blackhole();
        await sleep(between(l.random, 8000, 11_000));
        l.proxy.heal();
        break;
      case 'broker_restart_persist':
        await l.broker.restart(true);
        break;
      case 'broker_restart_lost': {
        // The broker forgets every session and queued message. The unit is kept away until the
        // cloud has subscribed again: a consumer that is not subscribed misses messages by design
        // of MQTT, which is not the unit's fault to detect.
        // Same for what the broker still holds for the cloud: wait until the cloud has drained its
        // queue (its own marker, published after the unit was cut off, came back) before forgetting.
        l.proxy.refuse(true);
        if (!(await l.cloud.probe(15_000)))
          l.note('cloud did not drain before the broker lost state');
        await l.broker.stop(false);
        rmSync(join(l.broker.dir, 'mosquitto.db'), { force: true });
        await l.broker.start();
        if (!(await l.cloud.probe(15_000))) l.note('cloud did not resubscribe in 15 s');
        l.proxy.refuse(false);
        break;
      }
    }
  }
}
