/**
 * `db_size_after_year_mb`: a simulated year of one unit on the fake clock, through the real agent
 * (apply path, scheduler, runner, simulator modem, housekeeping) on a real SQLite file:
 *
 * - 20 calls a day (20 daily bookings, answered, a minute each);
 * - 1,000 booking changes a day in 10 batches: 900 edits of those 20 bookings (version bumps), 50
 *   new one-off bookings a month ahead and 50 cancellations of earlier ones (tombstones);
 * - 100 junk messages a day, recorded as rejected with a 1 KiB raw payload, as the link does;
 * - the link delivers the outbox after every batch (rows marked sent) and the cloud receipts them
 *   (retention deletes a critical event only once receipted: agent/store/retention.ts);
 * - housekeeping once a day at 03:30 with the default retention.
 *
 * The floor is the same rows without free pages (VACUUM INTO): what the retained data needs.
 * Commits are not fsynced here (synchronous=OFF): the file's size does not depend on it.
 */
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Agent } from '../agent/app.js';
import { FakeClock } from '../agent/clock.js';
import { parseConfig } from '../agent/config/config.js';
import { silentLogger } from '../agent/log.js';
import { DialPolicy } from '../agent/policy/dial-policy.js';
import { SimulatorAudio, SimulatorModem } from '../hal/simulator/index.js';
import { benchFatal, round } from './stats.js';

const DAY = 86_400_000;
const MB = 1024 * 1024;

export async function yearFigures(days = Number(process.env.BENCH_YEAR_DAYS ?? 365)) {
  const dir = mkdtempSync(join(tmpdir(), 'companion-bench-year-'));
  const start = Date.UTC(2027, 0, 4, 0, 0, 0);
  const clock = new FakeClock(start);
  const modem = new SimulatorModem({
    timers: clock,
    defaultRule: {
      outcome: 'answer',
      alertAfterMs: 2000,
      answerAfterMs: 5000,
      hangupAfterMs: 60_000,
    },
  });
  const policy = { maxCallsPerHour: 100, maxCallsPerDay: 100, quietHours: null };
  const agent = new Agent({
    config: parseConfig({
      dataDir: dir,
      dialPolicy: policy,
      // The schedule's timers run on this fake clock too (03:30 in the process's local zone); the
      // simulation also runs housekeeping itself after each night's batch, so the figure does not
      // depend on where the schedule lands (a second run the same day finds little to delete).
      retention: { firstRunAfterStartSec: 86_400 },
      // No CLI runs beside the simulation: no need to look for other processes' changes.
      scheduler: { externalPollSec: 0 },
    }),
    clock,
    logger: silentLogger(),
    onFatal: benchFatal,
    modem,
    audio: new SimulatorAudio({ timers: clock }),
    dialGuard: new DialPolicy(policy),
    random: () => 0.5,
  });
  await agent.start();
  // Sizes do not depend on fsync; a year of FULL commits would take a quarter of an hour here.
  agent.store.db.pragma('synchronous = OFF');
  const t0 = performance.now();
  let seq = 0;
  let version = 1;
  const daily = (i: number, v: number) => ({
    type: 'booking.upsert',
    commandId: `y-${++seq}`,
    booking: {
      id: `daily-${i}`,
      version: v,
      callee: `+4915123${String(i).padStart(6, '0')}`,
      agentId: 'year',
      schedule: {
        kind: 'daily',
        time: `${String(7 + Math.floor(i / 2)).padStart(2, '0')}:${i % 2 ? '30' : '05'}`,
        zone: 'Europe/Berlin',
      },
      ringTimeoutSec: 30 + (v % 30),
    },
  });
  agent.applier.apply(
    Array.from({ length: 20 }, (_, i) => daily(i, version)),
    { source: 'bench' },
  );
  let oneOff = 0;
  const junk = 'x'.repeat(1024);
  const deliver = () => {
    agent.store.db.prepare('UPDATE outbox SET sent_at = ? WHERE sent_at IS NULL').run(clock.now());
    agent.store.outbox.receipt([[0, Number.MAX_SAFE_INTEGER]], clock.now());
  };
  for (let d = 0; d < days; d++) {
    for (let b = 0; b < 10; b++) {
      await clock.advance(DAY / 10);
      version++;
      const cmds: unknown[] = Array.from({ length: 90 }, (_, k) =>
        daily(k % 20, version * 5 + Math.floor(k / 20)),
      );
      for (let k = 0; k < 5; k++) {
        const id = `once-${++oneOff}`;
        cmds.push({
          type: 'booking.upsert',
          commandId: `y-${++seq}`,
          booking: {
            id,
            version: 1,
            callee: '+4930123456',
            agentId: 'year',
            schedule: { kind: 'once', at: new Date(clock.now() + 30 * DAY).toISOString() },
          },
        });
        if (oneOff > 5) {
          cmds.push({
            type: 'booking.cancel',
            commandId: `y-${++seq}`,
            bookingId: `once-${oneOff - 5}`,
            version: 2,
          });
        }
      }
      agent.applier.apply(cmds, { source: 'bench' });
      agent.store.tx(() => {
        for (let k = 0; k < 10; k++) {
          agent.sync.rejected({
            msgId: null,
            channel: 'cmd',
            raw: junk,
            reasons: [{ path: '', code: 'invalid_json', message: 'not JSON' }],
            sentAt: null,
          });
        }
      });
      deliver();
      if (b === 1) await agent.housekeeping.runOnce(); // ~04:48 sim time, after the night
    }
  }
  const simSecs = (performance.now() - t0) / 1000;
  await agent.housekeeping.runOnce();
  const db = agent.store.db;
  const counts = Object.fromEntries(
    ['bookings', 'runs', 'attempts', 'outbox', 'commands'].map((t) => [
      t,
      (db.prepare(`SELECT count(*) AS n FROM ${t}`).get() as { n: number }).n,
    ]),
  );
  const fileBytes = (p: string) => {
    try {
      return statSync(p).size;
    } catch {
      return 0;
    }
  };
  const dbPath = join(dir, 'companion.db');
  const size = fileBytes(dbPath) + fileBytes(`${dbPath}-wal`);
  const compact = join(dir, 'compact.db');
  db.exec(`VACUUM INTO '${compact}'`);
  const floor = fileBytes(compact);
  const calls = modem.dials.length;
  await agent.stop();
  rmSync(dir, { recursive: true, force: true });
  return {
    db_size_after_year_mb: round(size / MB, 1),
    db_size_after_year_mb_floor: round(floor / MB, 1),
    year_days: days,
    year_calls: calls,
    year_rows_bookings: counts.bookings!,
    year_rows_runs: counts.runs!,
    year_rows_attempts: counts.attempts!,
    year_rows_outbox: counts.outbox!,
    year_rows_commands: counts.commands!,
    year_sim_s: round(simSecs, 1),
  };
}
