/**
 * Engine benchmarks: firing lateness (and the commits each placed call costs), planning pass cost
 * with 10k bookings, durable claim+complete cycles. Real SQLite files with synchronous=FULL, the
 * simulator modem, the real clock. Process figures (cold start, idle, memory) are in process.ts.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Agent } from '../agent/app.js';
import { SystemClock, FakeClock } from '../agent/clock.js';
import { parseConfig } from '../agent/config/config.js';
import { silentLogger } from '../agent/log.js';
import { DialPolicy } from '../agent/policy/dial-policy.js';
import { SimulatorModem, SimulatorAudio } from '../hal/simulator/index.js';
import { Store } from '../agent/store/store.js';
import { applierFor, RunLifecycle } from '../agent/lifecycle/index.js';
import { Planner } from '../agent/scheduler/planner.js';
import { benchFatal, median, percentile, preciseWallClock, round, sleep } from './stats.js';
import { recurringBookings, upserts } from './workload.js';

const openPolicy = () =>
  new DialPolicy({ maxCallsPerHour: 1_000_000, maxCallsPerDay: 1_000_000, quietHours: null });

/**
 * Counts the store's durable commits: outermost transactions that changed rows, plus autocommit
 * writes outside any transaction (each is its own FULL commit). Bench only: it wraps the store.
 */
function commitCounter(store: Store): (() => number) & { light: () => number } {
  let commits = 0;
  let light = 0;
  let inLight = false;
  let depth = 0;
  // Prepared once: it runs twice around every transaction, inside the timed path of fire lateness.
  const totalChanges = store.db.prepare<[], { n: number }>('SELECT total_changes() AS n');
  const changes = () => totalChanges.get()!.n;
  const tx = store.tx.bind(store);
  store.tx = <T>(fn: () => T): T => {
    const before = depth === 0 ? changes() : 0;
    depth++;
    try {
      return tx(fn);
    } finally {
      depth--;
      if (depth === 0 && changes() > before) {
        if (inLight) light++;
        else commits++;
      }
    }
  };
  // A progress mark commits with synchronous=NORMAL (txLight): not a FULL commit, counted apart.
  const txLight = store.txLight.bind(store);
  store.txLight = <T>(fn: () => T): T => {
    const outer = inLight;
    inLight = true;
    try {
      return txLight(fn);
    } finally {
      inLight = outer;
    }
  };
  type Stmt = { run: (...a: unknown[]) => { changes: number }; reader: boolean };
  const proto = Object.getPrototypeOf(store.db.prepare('SELECT 1')) as Stmt;
  const run = proto.run;
  const db = store.db;
  proto.run = function (this: Stmt, ...args: unknown[]) {
    const r = run.apply(this, args);
    if (!db.inTransaction && !this.reader && r.changes > 0) commits++;
    return r;
  };
  return Object.assign(() => commits, { light: () => light });
}

function tempDir(tag: string): string {
  return mkdtempSync(join(tmpdir(), `companion-bench-${tag}-`));
}

/** Slot time -> dial issued, on an otherwise idle unit (one call at a time, spaced out). */
export async function fireLateness(calls = 150, spacingMs = 120): Promise<Record<string, number>> {
  const dir = tempDir('lateness');
  const clock = new SystemClock();
  const modem = new SimulatorModem({
    timers: clock,
    defaultRule: { outcome: 'answer', alertAfterMs: 1, answerAfterMs: 2, hangupAfterMs: 5 },
  });
  // The agent runs on the system clock, as in production (its stores take whole milliseconds);
  // each dial is stamped here at sub-millisecond resolution, as the floor's timer is
  // (bench/floors.ts timerFloor).
  const preciseNow = preciseWallClock();
  const dialedAt: number[] = [];
  const dial = modem.dial.bind(modem);
  modem.dial = (...args) => {
    dialedAt.push(preciseNow());
    return dial(...args);
  };
  const lateness: number[] = [];
  const agent = new Agent({
    config: parseConfig({
      dataDir: dir,
      dialPolicy: { maxCallsPerHour: 100000, maxCallsPerDay: 100000, quietHours: null },
    }),
    clock,
    logger: silentLogger(),
    onFatal: benchFatal,
    modem,
    audio: new SimulatorAudio({ timers: clock }),
    dialGuard: openPolicy(),
    observe: { onPlanPass: (r) => void (r.runsCreated > 0 && planCommits++) },
  });
  let planCommits = 0;
  await agent.start();
  const commits = commitCounter(agent.store);
  const start = Date.now() + 1000;
  const cmds = Array.from({ length: calls }, (_, i) => ({
    type: 'booking.upsert',
    commandId: `lat-${i}`,
    booking: {
      id: `lat-${i}`,
      version: 1,
      callee: `+4915123${String(i).padStart(6, '0')}`,
      agentId: 'bench',
      schedule: { kind: 'once', at: new Date(start + i * spacingMs).toISOString() },
    },
  }));
  agent.applier.apply(cmds, { source: 'bench' });
  const afterApply = commits();
  const lightAfterApply = commits.light();
  planCommits = 0;
  await sleep(1000 + calls * spacingMs + 1000);
  const callCommits = commits() - afterApply - planCommits;
  const lightCommits = commits.light() - lightAfterApply;
  for (let i = 0; i < dialedAt.length; i++) lateness.push(dialedAt[i]! - (start + i * spacingMs));
  await agent.stop();
  rmSync(dir, { recursive: true, force: true });
  return {
    fire_lateness_calls: lateness.length,
    fire_lateness_p50_ms: round(median(lateness)),
    fire_lateness_p99_ms: round(percentile(lateness, 99)),
    fire_lateness_max_ms: round(Math.max(...lateness)),
    // The runner's FULL (durable) commits per placed call (planning passes not counted)...
    commits_per_call: round(callCommits / Math.max(1, modem.dials.length), 2),
    // ...and its synchronous=NORMAL progress marks (alerting, answered), which are not flushed.
    light_commits_per_call: round(lightCommits / Math.max(1, modem.dials.length), 2),
  };
}

/**
 * Retry due time -> retry dial issued, on an otherwise idle unit: every callee is busy (the line is
 * held 100 ms), and each run's retry falls due 5 s after its busy first attempt — 200 ms into a
 * 400 ms gap between first attempts, so a retry never waits for the line.
 */
export async function retryLateness(calls = 60, spacingMs = 400): Promise<Record<string, number>> {
  const dir = tempDir('retry');
  const clock = new SystemClock();
  const modem = new SimulatorModem({
    timers: clock,
    defaultRule: { outcome: 'busy', afterMs: 100 },
  });
  const agent = new Agent({
    config: parseConfig({ dataDir: dir, dialPolicy: { quietHours: null } }),
    clock,
    logger: silentLogger(),
    onFatal: benchFatal,
    modem,
    audio: new SimulatorAudio({ timers: clock }),
    dialGuard: openPolicy(),
  });
  await agent.start();
  const start = Date.now() + 1000;
  agent.applier.apply(
    Array.from({ length: calls }, (_, i) => ({
      type: 'booking.upsert',
      commandId: `retry-${i}`,
      booking: {
        id: `retry-${i}`,
        version: 1,
        callee: `+4915123${String(i).padStart(6, '0')}`,
        agentId: 'bench',
        retry: { maxAttempts: 2, initialBackoffSec: 5, maxBackoffSec: 5, jitter: 0 },
        schedule: { kind: 'once', at: new Date(start + i * spacingMs).toISOString() },
      },
    })),
    { source: 'bench' },
  );
  await sleep(1000 + calls * spacingMs + 6000);
  const retryAt = new Map<string, number>();
  for (const e of agent.store.outbox.pending(100_000)) {
    if (e.type === 'run.state' && e.payload.status === 'retry_wait')
      retryAt.set(String(e.payload.runId), Date.parse(String(e.payload.retryAt)));
  }
  const lateness: number[] = [];
  for (const [runId, due] of retryAt) {
    const second = agent.store.runs.attemptsOf(runId).find((a) => a.attemptNo === 2);
    if (second?.dialAt != null) lateness.push(second.dialAt - due);
  }
  await agent.stop();
  rmSync(dir, { recursive: true, force: true });
  return {
    retry_lateness_calls: lateness.length,
    retry_lateness_p50_ms: round(median(lateness)),
    retry_lateness_p99_ms: round(percentile(lateness, 99)),
    retry_lateness_max_ms: round(Math.max(...lateness)),
  };
}

/** One planning pass over 10k active bookings, minute by minute through a day (a few due per minute). */
export function planPass(bookings = 10_000): Record<string, number> {
  const dir = tempDir('plan');
  const store = Store.open(join(dir, 'companion.db'));
  const clock = new FakeClock(Date.UTC(2026, 11, 7, 0, 0, 0));
  const { applier, lifecycle } = applierFor(store, clock, openPolicy());
  applier.apply(upserts(recurringBookings(bookings)), { source: 'bench' });
  const planner = new Planner(store, lifecycle);
  const times: number[] = [];
  const busy: number[] = [];
  let planned = 0;
  const t = clock.now();
  for (let m = 1; m <= 24 * 60; m++) {
    const t0 = performance.now();
    const r = planner.planDue(t + m * 60_000);
    store.bookings.nextSlotAt();
    const ms = performance.now() - t0;
    times.push(ms);
    if (r.runsCreated > 0) busy.push(ms);
    planned += r.runsCreated;
  }
  store.close();
  rmSync(dir, { recursive: true, force: true });
  return {
    plan_pass_10k_ms: round(median(times), 3),
    plan_pass_10k_p99_ms: round(percentile(times, 99), 3),
    plan_pass_10k_with_due_ms: round(median(busy), 3),
    plan_pass_runs_per_day: planned,
  };
}

/**
 * Claim (+ dialing, one commit) and outcome (one commit) cycles through the run lifecycle: the two
 * FULL-sync commits the runner makes per placed call (docs/lifecycle.md).
 */
export async function claimCycles(n = 1000): Promise<Record<string, number>> {
  const dir = tempDir('claims');
  const store = Store.open(join(dir, 'companion.db'));
  const clock = new SystemClock();
  const lifecycle = new RunLifecycle(store, openPolicy());
  for (let i = 0; i < n; i++) {
    lifecycle.requestTestCall(
      { callee: '+4915123456789', requestedBy: 'bench' },
      clock.now() - 1000,
    );
  }
  const t0 = performance.now();
  let done = 0;
  for (;;) {
    const claim = lifecycle.claimNext(1, clock.now());
    if (!claim) break;
    const now = clock.now();
    lifecycle.recordOutcome(
      claim,
      {
        result: 'completed',
        answered: true,
        answeredAt: now,
        endedAt: now,
        endedBy: 'remote',
        detail: null,
      },
      now,
    );
    done++;
  }
  const secs = (performance.now() - t0) / 1000;
  store.close();
  rmSync(dir, { recursive: true, force: true });
  return { claims_per_s_durable: round(done / secs, 0) };
}
