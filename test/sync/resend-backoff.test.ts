/**
 * Re-sends of unreceipted critical events (sync/link/drainer.ts) against a real SQLite outbox, with
 * an injected clock. Regression (issue 14, found by the bench): a unit whose cloud was down — broker
 * up, nobody receipting — re-sent its whole unreceipted backlog every `resendAfterSec` and rewrote
 * every row's sent_at each time: 105 MB/h of flash writes and 100 ms/min of CPU with 10,000 rows.
 * Now a re-send writes nothing, the wait between re-send passes doubles up to an hour while the
 * cloud is silent, and drops back to the base interval as soon as the cloud is heard.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { Store } from '../../agent/store/store.js';
import { OutboxDrainer, RESEND_MAX_MS } from '../../sync/link/drainer.js';
import { silentLogger } from '../../sync/ports.js';

const BASE_MS = 120_000;
const SWEEP_MS = 5_000;

const cleanups: (() => void)[] = [];
afterEach(() => {
  for (const c of cleanups.splice(0)) c();
});

function setup(rows = 3) {
  const dir = mkdtempSync(join(tmpdir(), 'companion-resend-'));
  const store = Store.open(join(dir, 'companion.db'));
  cleanups.push(() => {
    store.close();
    rmSync(dir, { recursive: true, force: true });
  });
  let t = 0;
  const clock = {
    now: () => t,
    setTimeout: (fn: () => void, ms: number) => setTimeout(fn, ms),
    clearTimeout: (h: unknown) => clearTimeout(h as NodeJS.Timeout),
  };
  store.tx(() => {
    for (let i = 0; i < rows; i++) store.outbox.add('clock.trusted', { source: `row-${i}` }, t);
  });
  const drainer = new OutboxDrainer(
    store.outbox,
    { window: 2, maxRows: 10_000, resendAfterMs: BASE_MS, transaction: (fn) => store.tx(fn) },
    clock,
    silentLogger,
  );
  /** Every publish: the row's seq and the clock's time. */
  const published: { seq: number; at: number }[] = [];
  const settle = async () => {
    for (let i = 0; i < 20; i++) await new Promise((r) => setImmediate(r));
  };
  const changes = () => (store.db.prepare('SELECT total_changes() AS n').get() as { n: number }).n;
  return {
    store,
    drainer,
    now: () => t,
    published,
    settle,
    changes,
    /** A connection; `resendAll` as when the broker kept no session for the unit. */
    attach: async (resendAll = true) => {
      drainer.attach(async (row) => {
        published.push({ seq: row.seq, at: t });
      }, resendAll);
      await settle();
    },
    /** Advance the clock in sweep steps up to `until`, sweeping as the link's poll does. */
    runUntil: async (until: number, each?: (now: number) => void) => {
      while (t + SWEEP_MS <= until) {
        t += SWEEP_MS;
        each?.(t);
        drainer.sweep();
        await settle();
      }
    },
    resendTimes: () => [...new Set(published.filter((p) => p.at > 0).map((p) => p.at))],
  };
}

describe('re-sends of unreceipted events', () => {
  it('a cloud that stays silent: re-send passes back off to an hour apart and write nothing', async () => {
    const u = setup(3);
    await u.attach();
    expect(u.published.map((p) => p.seq)).toEqual([1, 2, 3]);
    const sentAt = u.store.db.prepare('SELECT sent_at AS s FROM outbox ORDER BY seq').all();
    expect(sentAt).toEqual([{ s: 0 }, { s: 0 }, { s: 0 }]);
    const before = u.changes();

    await u.runUntil(12 * 3_600_000);
    const times = u.resendTimes();
    const gaps = times.slice(1).map((t, i) => t - times[i]!);
    expect(times[0]).toBe(BASE_MS);
    expect(gaps.slice(0, 5)).toEqual([1, 2, 4, 8, 16].map((k) => k * BASE_MS));
    expect(Math.max(...gaps)).toBe(RESEND_MAX_MS);
    expect(gaps.slice(-3)).toEqual([RESEND_MAX_MS, RESEND_MAX_MS, RESEND_MAX_MS]);
    // Every pass re-sends every unreceipted row once, and none of it touches the database.
    for (const at of times) {
      expect(u.published.filter((p) => p.at === at).map((p) => p.seq)).toEqual([1, 2, 3]);
    }
    expect(u.changes()).toBe(before);
    expect(u.store.db.prepare('SELECT sent_at AS s FROM outbox ORDER BY seq').all()).toEqual(
      sentAt,
    );
    expect(u.drainer.stats.resent).toBe(3 * times.length);
  });

  it('a cloud that answers keeps the base interval for a row the broker lost', async () => {
    const u = setup(1);
    await u.attach();
    // Receipts for other rows keep arriving: the cloud is heard between every pass.
    await u.runUntil(10 * BASE_MS, () => u.drainer.cloudHeard());
    const times = u.resendTimes();
    expect(times.length).toBeGreaterThanOrEqual(8);
    for (let i = 1; i < times.length; i++) expect(times[i]! - times[i - 1]!).toBe(BASE_MS);
  });

  it('the cloud heard again after a long silence: the next re-send within one base interval', async () => {
    const u = setup(2);
    await u.attach();
    await u.runUntil(4 * 3_600_000);
    const lastBefore = u.resendTimes().at(-1)!;
    expect(u.drainer.stats.resendIntervalMs).toBe(RESEND_MAX_MS);
    // Heard well before the next pass (an hour after the last one) would be due.
    const heardAt = u.now() + 10 * SWEEP_MS;
    expect(heardAt + BASE_MS).toBeLessThan(lastBefore + RESEND_MAX_MS);
    await u.runUntil(heardAt);
    u.drainer.cloudHeard();
    expect(u.drainer.stats.resendIntervalMs).toBe(BASE_MS);
    await u.runUntil(heardAt + BASE_MS + SWEEP_MS);
    expect(u.resendTimes().at(-1)).toBe(heardAt + BASE_MS);
  });

  it('a receipted row is never sent again; a reconnect re-sends the rest at once, whatever the backoff', async () => {
    const u = setup(3);
    await u.attach();
    await u.runUntil(2 * 3_600_000);
    u.store.tx(() => u.store.outbox.receipt([[2, 2]], 2 * 3_600_000));
    const n = u.published.length;
    u.drainer.detach();
    await u.attach();
    expect(u.published.slice(n).map((p) => p.seq)).toEqual([1, 3]);
    await u.runUntil(12 * 3_600_000);
    expect(u.published.slice(n).some((p) => p.seq === 2)).toBe(false);
  });
});

describe('a reconnect on which the broker kept the session', () => {
  it('sends only never-sent rows; re-sends keep their schedule (a flapping link costs nothing)', async () => {
    const u = setup(3);
    await u.attach();
    await u.runUntil(30 * SWEEP_MS); // 150 s: the first re-send pass went at 120 s
    /** When rows 1–3 (sent at 0) were published again. */
    const resends = () => [
      ...new Set(u.published.filter((p) => p.seq <= 3 && p.at > 0).map((p) => p.at)),
    ];
    expect(resends()).toEqual([BASE_MS]);
    // The cellular link drops and comes back ten times in 50 s, the session kept each time.
    for (let i = 0; i < 10; i++) {
      u.drainer.detach();
      await u.attach(false);
      await u.runUntil(u.now() + SWEEP_MS);
    }
    expect(resends()).toEqual([BASE_MS]);
    // A row written meanwhile goes at once on the next connection.
    u.store.tx(() => u.store.outbox.add('clock.trusted', { source: 'new' }, u.now()));
    u.drainer.detach();
    await u.attach(false);
    expect(u.published.at(-1)).toEqual({ seq: 4, at: 200_000 });
    // The next pass comes at its time (120 s after the first; then the wait doubles), and the new
    // row, sent 40 s before it, is not yet due in it.
    await u.runUntil(2 * BASE_MS);
    expect(resends()).toEqual([BASE_MS, 2 * BASE_MS]);
    expect(u.published.filter((p) => p.at === 2 * BASE_MS).map((p) => p.seq)).toEqual([1, 2, 3]);
  });

  it('the first re-send pass after a start comes one interval later, not at the first sweep', async () => {
    const u = setup(2);
    u.store.db.prepare('UPDATE outbox SET sent_at = 0').run(); // sent before a restart
    await u.attach(false);
    expect(u.published).toEqual([]);
    await u.runUntil(BASE_MS - SWEEP_MS);
    expect(u.published).toEqual([]);
    await u.runUntil(BASE_MS);
    expect(u.published.map((p) => p.seq)).toEqual([1, 2]);
  });
});

describe('a receipt that overtakes the PUBACK', () => {
  it('regression: a row receipted before its send was marked is not owed for ever', async () => {
    // Found by the sync bench ("timed out waiting for outbox drained"): under a burst the cloud's
    // receipt was applied before the setImmediate that marks PUBACKed rows; the receipt's
    // `sent_at = coalesce(sent_at, receipted_at)` read the old (NULL) receipted_at, the later mark
    // found the row receipted, and the row stayed in the backlog with sent_at NULL.
    const u = setup(2);
    u.store.tx(() => u.store.outbox.receipt([[1, 2]], 7));
    expect(u.store.db.prepare('SELECT sent_at AS s FROM outbox ORDER BY seq').all()).toEqual([
      { s: 7 },
      { s: 7 },
    ]);
    expect(u.store.outbox.backlog().count).toBe(0);
    await u.attach();
    expect(u.published).toEqual([]);
    // A row left so by the old statement is not counted as owed either.
    u.store.tx(() => u.store.outbox.add('clock.trusted', { source: 'old' }, 0));
    u.store.db.prepare('UPDATE outbox SET receipted_at = 9 WHERE seq = 3').run();
    expect(u.store.outbox.backlog()).toEqual({ count: 0, oldestCreatedAt: null });
  });
});

describe('the drain sweep with a large unreceipted backlog', () => {
  it('reads and counts never-sent rows through their own index, not every unreceipted row', async () => {
    // Found by the bench: with 20,000 sent-but-unreceipted rows SQLite walked outbox_unreceipted
    // on every sweep (every 5 s) and every backlog count — 140 ms/min of idle CPU with the link on.
    const u = setup(2000);
    u.store.db.prepare('UPDATE outbox SET sent_at = 0').run(); // sent, never receipted
    u.store.tx(() => u.store.outbox.add('clock.trusted', { source: 'new' }, 1));
    // No re-send due: only the new row is owed, and the backlog counts it alone.
    const owed = u.store.outbox.owed(10, 0, Number.NEGATIVE_INFINITY);
    expect(owed.map((r) => r.seq)).toEqual([2001]);
    expect(u.store.outbox.backlog().count).toBe(1);
    for (const name of ['unsent', 'countStmt', 'oldestStmt', 'evictStmt']) {
      const stmt = Reflect.get(u.store.outbox, name) as { source: string };
      const plan = u.store.db
        .prepare(`EXPLAIN QUERY PLAN ${stmt.source}`)
        .all(...(name === 'unsent' ? [0, 10] : name === 'evictStmt' ? [10] : [])) as {
        detail: string;
      }[];
      expect(plan.map((p) => p.detail).join('; '), name).toContain('outbox_unsent');
    }
  });
});
