/**
 * The diagnostics history against a real SQLite store, driven by a fake clock: one sample a minute
 * with the worst reading of the minute, written in one batch every flushMinutes, bounded to the
 * kept window (also after clock jumps), kept across a restart, summarised so "the signal drops at
 * 02:00" reads in words — and what it costs the flash, measured in WAL bytes.
 */
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { FakeClock } from '../../agent/clock.js';
import { Store } from '../../agent/store/store.js';
import { SimulatorModem } from '../../hal/simulator/index.js';
import { afterEach, describe, expect, it } from 'vitest';
import { createLogger } from '../../agent/log.js';
import { HistoryRepo } from '../../agent/diagnostics/history-repo.js';
import { HistoryRecorder, type LinkSample } from '../../agent/diagnostics/history.js';
import { booking, LogSink, startEngine, T0, upsert, type Engine } from '../support/engine.js';

const MIN = 60_000;
let e: Engine | null = null;
afterEach(async () => {
  await e?.stop(true);
  e = null;
});

function recorder(
  eng: Engine,
  o: {
    flushMinutes?: number;
    keepHours?: number;
    link?: () => LinkSample | null;
    trusted?: () => boolean;
  } = {},
) {
  return new HistoryRecorder({
    clock: eng.clock,
    modem: eng.modem,
    link: o.link ?? (() => null),
    repo: new HistoryRepo(eng.agent.store),
    ...(o.trusted ? { clockTrusted: o.trusted } : {}),
    flushMinutes: o.flushMinutes ?? 60,
    keepHours: o.keepHours ?? 24,
    logger: createLogger({ level: 'silent', destination: new LogSink() }),
  });
}

const rows = (eng: Engine) =>
  (eng.agent.store.db.prepare('SELECT count(*) AS n FROM diag_history').get() as { n: number }).n;

describe('history samples', () => {
  it('one sample a minute; the weakest signal and any unusable moment of the minute win', async () => {
    e = await startEngine();
    const link: LinkSample = { enabled: true, connected: true, connectedSince: T0 - 3600_000 };
    const h = recorder(e, { link: () => link });
    h.start();
    await e.advance(10_000);
    e.modem.setStatus({ signalDbm: -112 });
    await e.advance(5_000);
    e.modem.setStatus({ signalDbm: -80, registration: 'searching' });
    await e.advance(5_000);
    e.modem.setStatus({ registration: 'home' });
    await e.advance(MIN); // first minute closed
    // Second minute: the link drops and comes back inside it.
    link.connectedSince = e.clock.now();
    await e.advance(MIN);
    const v = h.read(1);
    expect(v.samples.slice(0, 2)).toEqual([
      {
        at: new Date(T0).toISOString(),
        signalDbm: -112,
        registration: 'home',
        modemUsable: false,
        link: true,
      },
      {
        at: new Date(T0 + MIN).toISOString(),
        signalDbm: -80,
        registration: 'home',
        modemUsable: true,
        link: false,
      },
    ]);
    h.stop();
  });

  it('batches: nothing written until flushMinutes samples, then all of them in one transaction', async () => {
    e = await startEngine();
    const h = recorder(e, { flushMinutes: 30 });
    h.start();
    await e.advance(29 * MIN + 1_000);
    expect(rows(e)).toBe(0);
    expect(h.read(1)).toMatchObject({ unflushed: 29 });
    expect(h.read(1).samples).toHaveLength(29);
    await e.advance(MIN);
    expect(rows(e)).toBe(30);
    expect(h.read(1).unflushed).toBe(0);
    h.stop();
  });

  it('stop() writes what is in memory; a restarted agent shows the history', async () => {
    e = await startEngine();
    const h = recorder(e);
    h.start();
    await e.advance(7 * MIN + 1_000);
    h.stop();
    expect(rows(e)).toBe(7);
    const dir = e.dir;
    await e.stop();
    e = await startEngine({ dir, start: T0 + 10 * MIN });
    const again = recorder(e);
    expect(again.read(1).samples.map((s) => s.at)).toContain(new Date(T0 + 6 * MIN).toISOString());
    // The minutes the agent was down are reported as "no data" only when longer than a few minutes.
    expect(again.read(1).summary.noData[0]).toMatchObject({
      from: new Date(T0 - 50 * MIN).toISOString(),
    });
  });

  it('is bounded: 32 hours at one sample a minute keep at most 24 h + 6 h of slack + one batch', async () => {
    e = await startEngine();
    const h = recorder(e, { flushMinutes: 60, keepHours: 24 });
    h.start();
    await e.advance(32 * 60 * MIN);
    expect(rows(e)).toBeLessThanOrEqual((24 + 6) * 60 + 60);
    expect(rows(e)).toBeGreaterThanOrEqual(24 * 60);
    expect(h.read(24).samples.length).toBeLessThanOrEqual(24 * 60 + 1);
    h.stop();
  });

  it('an untrusted clock (1970) records nothing and prunes nothing: the real history stays', async () => {
    e = await startEngine();
    let trusted = true;
    const h = recorder(e, { flushMinutes: 10, trusted: () => trusted });
    h.start();
    await e.advance(20 * MIN + 1_000);
    expect(rows(e)).toBe(20);
    trusted = false;
    e.clock.setWallTime(Date.UTC(1970, 0, 1));
    await e.advance(30 * MIN);
    h.stop();
    const span = e.agent.store.db
      .prepare('SELECT count(*) AS n, min(minute) AS lo FROM diag_history')
      .get() as { n: number; lo: number };
    expect(span).toEqual({ n: 20, lo: T0 / MIN });
    h.stop();
  });
});

describe('history summary', () => {
  it('names the night-time signal drop, the offline spell and the calls in plain periods', async () => {
    // 00:00 UTC: the recorder runs for three hours; the signal drops 02:00-02:40.
    const midnight = Date.UTC(2026, 11, 2, 0, 0, 0);
    e = await startEngine({ start: midnight });
    const link: LinkSample = { enabled: true, connected: true, connectedSince: midnight - MIN };
    const h = recorder(e, { link: () => link });
    h.start();
    e.apply([
      upsert(
        booking({
          id: 'night-check',
          schedule: { kind: 'once', at: new Date(midnight + 90 * MIN).toISOString() },
        }),
      ),
    ]);
    await e.advance(120 * MIN);
    e.modem.setStatus({ signalDbm: -109 });
    await e.advance(40 * MIN);
    e.modem.setStatus({ signalDbm: -75 });
    link.connected = false;
    await e.advance(10 * MIN);
    link.connected = true;
    link.connectedSince = e.clock.now();
    await e.advance(10 * MIN + 1_000);
    const v = h.read(24);
    expect(v.summary.weakSignal).toEqual([
      {
        from: '2026-12-02T02:00:00.000Z',
        to: '2026-12-02T02:40:00.000Z',
        minutes: 40,
        minDbm: -109,
      },
    ]);
    expect(v.summary.signal).toMatchObject({ minDbm: -109, minAt: '2026-12-02T02:00:00.000Z' });
    expect(v.summary.linkOffline).toEqual([
      // Back at 02:50:00 sharp: the 02:50 minute was connected throughout.
      { from: '2026-12-02T02:40:00.000Z', to: '2026-12-02T02:50:00.000Z', minutes: 10 },
    ]);
    expect(v.calls).toEqual([
      expect.objectContaining({ outcome: 'completed', kind: 'booking', bookingId: 'night-check' }),
    ]);
    expect(v.summary.calls).toEqual({ completed: 1 });
    // Before the recorder started there is no data, and the view says so.
    expect(v.summary.noData[0]).toMatchObject({ to: '2026-12-02T00:00:00.000Z' });
    h.stop();
  });
});

describe('history on the flash (bytes written)', () => {
  it('one flush an hour costs a few WAL pages: measured and bounded', async () => {
    // The history alone on its own store (the idle agent's other writes are measured elsewhere).
    const dir = mkdtempSync(join(tmpdir(), 'companion-history-bytes-'));
    const clock = new FakeClock(T0);
    const modem = new SimulatorModem({ timers: clock });
    await modem.start();
    const store = Store.open(join(dir, 'companion.db'));
    try {
      const db = store.db;
      // Count every WAL frame the history writes: no checkpoint resets the WAL meanwhile.
      db.pragma('wal_autocheckpoint = 0');
      const h = new HistoryRecorder({
        clock,
        modem,
        link: () => ({ enabled: true, connected: true, connectedSince: T0 }),
        repo: new HistoryRepo(store),
        flushMinutes: 60,
        keepHours: 24,
        logger: createLogger({ level: 'silent', destination: new LogSink() }),
      });
      h.start();
      // Fill a day first, so the steady state (insert an hour, prune an hour) is what is measured.
      await clock.advance(25 * 60 * MIN);
      db.pragma('wal_checkpoint(TRUNCATE)');
      const hours = 12;
      await clock.advance(hours * 60 * MIN);
      const perHour = statSync(join(dir, 'companion.db-wal')).size / hours;
      const pageSize = db.pragma('page_size', { simple: true }) as number;
      // WAL bytes, and at most the same again when those pages are checkpointed into the database.
      process.stdout.write(
        `history: ${Math.round(perHour)} WAL bytes/hour ` +
          `(${(perHour / (pageSize + 24)).toFixed(1)} pages of ${pageSize} B per hourly flush); ` +
          `<= ${((2 * perHour) / 1024).toFixed(1)} KiB/h with the checkpoint\n`,
      );
      expect(perHour).toBeGreaterThan(0);
      // A flush every minute would be >= 60 commits an hour (>= 240 KiB/h); the batch keeps it small.
      expect(perHour).toBeLessThanOrEqual(6 * (pageSize + 24));
      h.stop();
      await modem.stop();
    } finally {
      store.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
