/**
 * The idle-write budget's mechanism (issue 14: ≤ 100 KB/h of flash writes while idle): an agent with
 * nothing due commits nothing — not on every scheduler pass, not for the clock-trust bookkeeping —
 * until `clock.persistEverySec` has passed, and a graceful stop writes the highest time seen at once.
 * Commits are observed from a second connection (PRAGMA data_version moves only when ANOTHER
 * connection commits); time is the fake clock, nothing is timed.
 */
import Database from 'better-sqlite3';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { META } from '../../agent/store/meta.js';
import { booking, startEngine, T0, upsert, type Engine } from '../support/engine.js';

const MIN = 60_000;
let engine: Engine | null = null;

afterEach(async () => {
  await engine?.stop(true);
  engine = null;
});

/** A reader on the same file that sees every commit the agent makes. */
function commitWatcher(dir: string) {
  const db = new Database(join(dir, 'companion.db'), { readonly: true });
  const version = () => db.pragma('data_version', { simple: true }) as number;
  let last = version();
  return {
    /** True when the agent committed since the last call. */
    committed(): boolean {
      const v = version();
      const changed = v !== last;
      last = v;
      return changed;
    },
    maxSeen: () =>
      Number(
        (
          db.prepare('SELECT value FROM meta WHERE key = ?').get(META.maxSeenTime) as {
            value: string;
          }
        ).value,
      ),
    close: () => db.close(),
  };
}

describe('idle costs no commits', () => {
  it('with bookings far ahead, an hour of scheduler passes commits nothing until the highest time seen is due', async () => {
    engine = await startEngine({
      // Housekeeping's own writes are the next test's subject.
      config: { clock: { persistEverySec: 3600 }, retention: { firstRunAfterStartSec: 86_400 } },
    });
    // 200 recurring bookings, none due for the next two hours.
    const at = new Date(T0 + 2 * 3_600_000).toISOString();
    engine.apply(
      Array.from({ length: 200 }, (_, i) =>
        upsert(
          booking({
            id: `far-${i}`,
            schedule: { kind: 'daily', time: '20:00', zone: 'UTC' },
            startsAt: at,
          }),
        ),
      ),
    );
    await engine.advance(1000);
    const watch = commitWatcher(engine.dir);
    const passesBefore = engine.agent.scheduler.wakeAt();
    for (let m = 0; m < 55; m++) {
      await engine.advance(MIN);
      expect(watch.committed(), `commit in idle minute ${m + 1}`).toBe(false);
    }
    // The scheduler did wake (at most maxSleepSec apart): idle passes ran, they just wrote nothing.
    expect(engine.agent.scheduler.wakeAt()).toBeGreaterThan(passesBefore ?? 0);
    // Past persistEverySec the highest time seen is written: one commit, then quiet again.
    await engine.advance(6 * MIN);
    expect(watch.committed()).toBe(true);
    expect(watch.maxSeen()).toBeGreaterThanOrEqual(T0 + 60 * MIN);
    await engine.advance(10 * MIN);
    expect(watch.committed()).toBe(false);
    watch.close();
  });

  it('a graceful stop writes the highest time seen, so a restart forgets none of it', async () => {
    engine = await startEngine({ config: { clock: { persistEverySec: 3600 } } });
    await engine.advance(20 * MIN);
    const now = engine.clock.now();
    const watch = commitWatcher(engine.dir);
    await engine.stop();
    expect(watch.maxSeen()).toBeGreaterThanOrEqual(now - MIN);
    watch.close();
  });

  it('housekeeping on an idle store writes nothing once the WAL has been checkpointed', async () => {
    engine = await startEngine({ config: { retention: { firstRunAfterStartSec: 120 } } });
    await engine.advance(1000);
    const watch = commitWatcher(engine.dir);
    // The run after start moves the start-up writes from the WAL into the database (once).
    await engine.advance(3 * MIN);
    const first = await engine.agent.housekeeping.runOnce();
    expect(first).toMatchObject({ outbox: 0, commands: 0, runs: 0, attempts: 0 });
    watch.committed();
    for (let i = 0; i < 3; i++) {
      const r = await engine.agent.housekeeping.runOnce();
      expect(r.checkpointedFrames).toBe(0);
      expect(watch.committed()).toBe(false);
    }
    watch.close();
  });
});
