/**
 * The memory reducer (agent/memory-reducer.ts): after a burst grew the heap, one memory-reducing
 * collection once the agent is quiet — never while busy, never without growth. Time is the
 * injected clock; heap and loop readings are the test's own.
 */
import { readFileSync } from 'node:fs';
import { getHeapStatistics } from 'node:v8';
import { describe, expect, it } from 'vitest';
import { FakeClock } from '../../agent/clock.js';
import { forcedCollector, MemoryReducer } from '../../agent/memory-reducer.js';

const MiB = 1024 * 1024;

/** This process's anonymous resident memory (heaps), bytes: what the unit's RSS figures count. */
const rssAnon = () =>
  Number(/RssAnon:\s+(\d+) kB/.exec(readFileSync('/proc/self/status', 'utf8'))?.[1] ?? NaN) * 1024;

function rig(o: { collectWorks?: boolean; frees?: number[] } = {}) {
  const clock = new FakeClock();
  const s = { heap: 20 * MiB, busy: 0, collects: 0 };
  // What each collection leaves the heap at (default: back to 14 MiB).
  const leaves = [...(o.frees ?? [])];
  const reducer = new MemoryReducer(
    {
      clock,
      heapBytes: () => s.heap,
      busyRatio: () => s.busy,
      collect: () => {
        if (o.collectWorks === false) return false;
        s.collects++;
        s.heap = leaves.shift() ?? 14 * MiB;
        return true;
      },
    },
    { checkEveryMs: 10_000, growthBytes: 4 * MiB, quietBelow: 0.02 },
  );
  return { clock, s, reducer };
}

describe('memory reducer', () => {
  it('collects once after the heap grew and the loop went quiet, then not again', async () => {
    const { clock, s, reducer } = rig();
    reducer.start();
    try {
      await clock.advance(30_000);
      expect(s.collects).toBe(0); // idle, no growth: nothing to give back
      s.heap = 30 * MiB; // a burst
      s.busy = 0.4;
      await clock.advance(30_000);
      expect(s.collects).toBe(0); // still busy
      s.busy = 0.005;
      await clock.advance(10_000);
      expect(s.collects).toBe(1);
      expect(reducer.collections).toBe(1);
      await clock.advance(600_000);
      expect(s.collects).toBe(1); // heap back at its baseline: quiet stays free
    } finally {
      reducer.stop();
    }
  });

  it('a collection that gave back only part is tried again on the next quiet check', async () => {
    const { clock, s, reducer } = rig({ frees: [27 * MiB, 19 * MiB] });
    reducer.start();
    try {
      s.heap = 30 * MiB;
      await clock.advance(10_000);
      expect(s.collects).toBe(1); // 30 → 27: the burst's last objects were still live
      await clock.advance(10_000);
      expect(s.collects).toBe(2); // 27 → 19, within the threshold of the 20 MiB baseline
      await clock.advance(300_000);
      expect(s.collects).toBe(2);
    } finally {
      reducer.stop();
    }
  });

  it('growth that stays after maxTries collections is live data: the new baseline', async () => {
    const { clock, s, reducer } = rig({ frees: [30 * MiB, 30 * MiB, 30 * MiB, 30 * MiB] });
    reducer.start();
    try {
      s.heap = 30 * MiB; // e.g. thousands more bookings
      await clock.advance(300_000);
      expect(s.collects).toBe(3);
      s.heap = 33 * MiB; // grows by less than the threshold over the new baseline
      await clock.advance(300_000);
      expect(s.collects).toBe(3);
      s.heap = 34 * MiB;
      await clock.advance(10_000);
      expect(s.collects).toBe(4);
    } finally {
      reducer.stop();
    }
  });

  it('growth below the threshold is left to V8', async () => {
    const { clock, s, reducer } = rig();
    reducer.start();
    try {
      s.heap = 20 * MiB + 4 * MiB - 1;
      await clock.advance(60_000);
      expect(s.collects).toBe(0);
      s.heap += 1;
      await clock.advance(10_000);
      expect(s.collects).toBe(1);
    } finally {
      reducer.stop();
    }
  });

  it('growth is measured from the lowest heap seen, so V8 shrinking it itself counts', async () => {
    const { clock, s, reducer } = rig();
    reducer.start();
    try {
      s.heap = 12 * MiB; // V8's own reducer ran
      await clock.advance(10_000);
      s.heap = 17 * MiB; // +5 MiB from 12, only -3 from the start
      await clock.advance(10_000);
      expect(s.collects).toBe(1);
    } finally {
      reducer.stop();
    }
  });

  it('turns itself off when the runtime offers no such collection', async () => {
    const { clock, s, reducer } = rig({ collectWorks: false });
    reducer.start();
    s.heap = 40 * MiB;
    await clock.advance(10_000);
    expect(reducer.collections).toBe(0);
    expect(clock.pendingTimers()).toBe(0);
  });

  it('stop leaves no timer behind', async () => {
    const { clock, reducer } = rig();
    reducer.start();
    expect(clock.pendingTimers()).toBe(1);
    await clock.advance(25_000);
    expect(clock.pendingTimers()).toBe(1);
    reducer.stop();
    expect(clock.pendingTimers()).toBe(0);
  });

  it('the collector works on this runtime and gives the grown memory back to the system, without a global gc', async () => {
    const collect = forcedCollector();
    expect(collect).not.toBeNull();
    expect((globalThis as { gc?: unknown }).gc).toBeUndefined();
    // Grow the heap by ~40 MB of short-lived objects, then let them go.
    const before = rssAnon();
    let junk: unknown[] | null = [];
    for (let i = 0; i < 400_000; i++) junk.push({ i, s: `row-${i}`, a: [i, i + 1] });
    const grown = getHeapStatistics().total_physical_size;
    const grownAnon = rssAnon();
    junk = null;
    expect(collect!()).toBe(true);
    expect(getHeapStatistics().total_physical_size).toBeLessThan(grown - 10 * MiB);
    // What the unit's RSS shows: the pages are returned, not kept pooled by V8 (Node 22 and 24 kept
    // them after a plain gc()). Node 20's V8 unmaps them on a background thread: look a few times.
    // At least half of what the objects took must leave RssAnon: a plain gc() on Node 24 gave
    // back ~10 of ~70 MB (the young generation), the memory-reducing collection ~68.
    const backBelow = grownAnon - (grownAnon - before) / 2;
    let anon = rssAnon();
    for (let i = 0; i < 40 && anon > backBelow; i++) {
      await new Promise((r) => setTimeout(r, 50));
      anon = rssAnon();
    }
    const mib = (b: number) => (b / MiB).toFixed(1);
    expect(anon, `RssAnon ${mib(before)} → ${mib(grownAnon)} → ${mib(anon)} MiB`).toBeLessThan(
      backBelow,
    );
  });
});
