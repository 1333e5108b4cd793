/**
 * WAL checkpoints in the pause after commits, not inside one (agent/store/wal-checkpointer.ts): the
 * commit that takes the WAL past SQLite's 1000 pages returns without copying them back — a call's
 * claim dials first — the copy runs once 64 commits have paused for 100 ms (or after 256 that never
 * pause), and SQLite's own auto-checkpoint still bounds a run of commits that never yields.
 * Real SQLite files, a fake clock.
 *
 * How many WAL pages wait is read from the wal-index header (sqlite.org/walformat.html §2.1) by a
 * child process: opening and closing the -shm file in this process would drop the POSIX locks the
 * test's own connection holds on it (sqlite.org/howtocorrupt.html §2.2) — the very bug the agent
 * once had.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { FakeClock } from '../../agent/clock.js';
import { openDb } from '../../agent/store/db.js';
import { Store } from '../../agent/store/store.js';
import {
  WAL_BACKSTOP_PAGES,
  WAL_CHECKPOINT_COMMITS,
  WAL_CHECKPOINT_QUIET_MS,
  WalCheckpointer,
} from '../../agent/store/wal-checkpointer.js';
import { booking, startEngine, T0, upsert, type Engine } from '../support/engine.js';

const dirs: string[] = [];
const stores: Store[] = [];
const clock = new FakeClock(T0);

function openStore(): Store {
  const dir = mkdtempSync(join(tmpdir(), 'companion-wal-'));
  dirs.push(dir);
  const store = Store.open(join(dir, 'companion.db'), { walCheckpoint: { timers: clock } });
  stores.push(store);
  return store;
}

afterEach(() => {
  for (const s of stores.splice(0)) s.close();
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

/** WAL pages not yet copied back, as the wal-index says (mxFrame − nBackfill), read by a child. */
function walPending(store: Store): number {
  const script = `
    const b = require('node:fs').readFileSync(process.argv[1]).subarray(0, 104);
    const le = require('node:os').endianness() === 'LE';
    const u32 = (at) => (le ? b.readUInt32LE(at) : b.readUInt32BE(at));
    if (u32(0) !== 3007000 || b[12] !== 1) throw new Error('not a wal-index header');
    console.log(u32(16) - u32(96));`;
  return Number(execFileSync(process.execPath, ['-e', script, `${store.db.name}-shm`]).toString());
}

/** `n` transactions of about `pages` pages each (a ~4 KiB row a page). */
function commit(store: Store, n: number, pages = 1): void {
  store.db.exec('CREATE TABLE IF NOT EXISTS filler (id INTEGER PRIMARY KEY, v TEXT NOT NULL)');
  const ins = store.db.prepare('INSERT INTO filler (v) VALUES (?)');
  for (let k = 0; k < n; k++)
    store.tx(() => {
      for (let i = 0; i < pages; i++) ins.run('x'.repeat(3900));
    });
}

describe('WAL checkpoints in the pause after commits', () => {
  it('hands SQLite only a backstop: its own auto-checkpoint waits for 4000 pages', () => {
    const store = openStore();
    expect(store.db.pragma('wal_autocheckpoint', { simple: true })).toBe(WAL_BACKSTOP_PAGES);
  });

  it('the commit that crosses 1000 pages returns without a checkpoint; the pause after 64 commits copies it back', async () => {
    const store = openStore();
    commit(store, WAL_CHECKPOINT_COMMITS - 1, 20);
    // ~1260 pages: SQLite's default (1000) would have copied them back inside one of the commits.
    expect(walPending(store)).toBeGreaterThan(1000);
    await clock.advance(10 * WAL_CHECKPOINT_QUIET_MS);
    expect(store.checkpointer!.runs).toBe(0); // fewer than 64 commits: not yet
    commit(store, 1);
    await clock.advance(WAL_CHECKPOINT_QUIET_MS - 1);
    expect(store.checkpointer!.runs).toBe(0);
    await clock.advance(1);
    expect(store.checkpointer!.runs).toBe(1);
    expect(walPending(store)).toBe(0);
  });

  it('commits that keep coming put it off until they pause, or until 256 of them', async () => {
    const store = openStore();
    commit(store, WAL_CHECKPOINT_COMMITS);
    let commits = WAL_CHECKPOINT_COMMITS;
    while (store.checkpointer!.runs === 0 && commits < 1000) {
      await clock.advance(WAL_CHECKPOINT_QUIET_MS / 2);
      commit(store, 8);
      commits += 8;
    }
    expect(commits).toBeGreaterThanOrEqual(4 * WAL_CHECKPOINT_COMMITS);
    expect(commits).toBeLessThan(4 * WAL_CHECKPOINT_COMMITS + 32);
    // Then it counts afresh, and a pause after 64 more does it again.
    const runs = store.checkpointer!.runs;
    commit(store, WAL_CHECKPOINT_COMMITS);
    await clock.advance(WAL_CHECKPOINT_QUIET_MS);
    expect(store.checkpointer!.runs).toBe(runs + 1);
  });

  it('a run of commits that never yields is still held by SQLite at the backstop', () => {
    const store = openStore();
    const seen: number[] = [];
    commit(store, 35, 100);
    for (let i = 0; i < 10; i++) {
      commit(store, 1, 100);
      seen.push(walPending(store));
    }
    expect(store.checkpointer!.runs).toBe(0);
    // Growing past 1000 and 2000 (no pause, no turn of the event loop) …
    const most = Math.max(...seen);
    expect(most).toBeGreaterThan(WAL_BACKSTOP_PAGES - 200);
    expect(most).toBeLessThan(WAL_BACKSTOP_PAGES);
    // … until the commit that crossed 4000 copied it back itself.
    expect(seen[seen.indexOf(most) + 1]!).toBe(0);
  });

  it('a reader holding an old snapshot does not make the checkpoint wait or fail', async () => {
    const store = openStore();
    commit(store, 1);
    const reader = openDb(store.db.name, { readonly: true });
    try {
      reader.exec('BEGIN');
      reader.prepare('SELECT count(*) FROM filler').get();
      commit(store, WAL_CHECKPOINT_COMMITS, 2);
      await clock.advance(WAL_CHECKPOINT_QUIET_MS);
      expect(store.checkpointer!.runs).toBe(1); // ran (PASSIVE), copying back what it could
      expect(walPending(store)).toBeGreaterThan(0); // the reader's snapshot holds the rest
      reader.exec('COMMIT');
      commit(store, WAL_CHECKPOINT_COMMITS);
      await clock.advance(WAL_CHECKPOINT_QUIET_MS);
      expect(store.checkpointer!.runs).toBe(2);
      expect(walPending(store)).toBe(0);
    } finally {
      reader.close();
    }
  });

  it('a store closed before the pause came does nothing', async () => {
    const store = openStore();
    commit(store, WAL_CHECKPOINT_COMMITS);
    store.close();
    await clock.advance(WAL_CHECKPOINT_QUIET_MS);
    expect(store.checkpointer!.runs).toBe(0);
  });

  it('in-memory and read-only databases keep SQLite’s own auto-checkpoint', () => {
    const mem = Store.open(':memory:');
    stores.push(mem);
    expect(mem.checkpointer).toBeNull();
    const store = openStore();
    const ro = openDb(store.db.name, { readonly: true });
    try {
      expect(WalCheckpointer.attach(ro)).toBeNull();
      expect(ro.pragma('wal_autocheckpoint', { simple: true })).toBe(1000);
    } finally {
      ro.close();
    }
    expect(store.checkpointer).not.toBeNull();
  });
});

describe('a call and the checkpoint', () => {
  let e: Engine | null = null;
  afterEach(async () => {
    await e?.stop(true);
    e = null;
  });

  it('a claim that takes the WAL past 1000 pages dials first: no copy inside the claim', async () => {
    e = await startEngine();
    const store = e.agent.store;
    const due = T0 + 60_000;
    e.apply([
      upsert(booking({ id: 'wal-b', schedule: { kind: 'once', at: new Date(due).toISOString() } })),
    ]);
    // Planned (its own commits, its own pause) a second before it is due.
    await e.advance(due - 1000 - e.clock.now());
    expect(store.runs.upcoming().map((r) => r.bookingId)).toEqual(['wal-b']);
    // A checkpoint now (64 commits, a pause): the count starts afresh, the WAL over.
    commit(store, WAL_CHECKPOINT_COMMITS);
    await e.advance(WAL_CHECKPOINT_QUIET_MS);
    expect(store.checkpointer!.runs).toBe(1);
    // Then the WAL a few pages short of SQLite's 1000 in fewer than 64 commits: the claim crosses.
    commit(store, 18, 40); // ~750 pages
    while (walPending(store) < 900) commit(store, 1, 20);
    while (walPending(store) < 995) commit(store, 1);
    expect(walPending(store)).toBeLessThan(1000);
    const runsBefore = store.checkpointer!.runs;
    const atDial: { pending: number; runs: number }[] = [];
    const dial = e.modem.dial.bind(e.modem);
    e.modem.dial = (...args) => {
      atDial.push({ pending: walPending(store), runs: store.checkpointer!.runs });
      return dial(...args);
    };
    await e.advance(due - e.clock.now());
    expect(atDial).toHaveLength(1);
    expect(atDial[0]!.pending).toBeGreaterThanOrEqual(1000);
    expect(atDial[0]!.runs).toBe(runsBefore);
    // The call plays out (ringing, answer, hang-up: commits) with the WAL past 1000 pages.
    await e.advance(10 * 60_000);
    expect(
      store.runs
        .recent(10)
        .filter((r) => r.bookingId === 'wal-b')
        .map((r) => r.status),
    ).toEqual(['completed']);
    expect(e.fatal).toEqual([]);
  });
});
