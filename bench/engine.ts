/**
 * Issue 2 benchmarks: firing lateness, cold start, idle memory with 10k bookings, planning pass
 * cost with 10k bookings, durable claim+complete cycles. Real SQLite files with synchronous=FULL,
 * the simulator modem, the real clock.
 */
import { mkdtempSync, writeFileSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { spawn } from 'node:child_process';
import { Agent } from '../agent/app.js';
import { SystemClock, FakeClock } from '../agent/clock.js';
import { parseConfig } from '../agent/config/config.js';
import { silentLogger } from '../agent/log.js';
import { DialPolicy } from '../agent/policy/dial-policy.js';
import { SimulatorModem, SimulatorAudio } from '../hal/simulator/index.js';
import { Store } from '../agent/store/store.js';
import { applierFor, RunLifecycle } from '../agent/lifecycle/index.js';
import { Planner } from '../agent/scheduler/planner.js';
import { median, percentile, round, sleep } from './stats.js';
import { startBroker } from '../test/support/mosquitto.js';
import { recurringBookings, upserts } from './workload.js';

const CLI = join(process.cwd(), 'dist', 'agent', 'cli', 'main.js');
const openPolicy = () =>
  new DialPolicy({ maxCallsPerHour: 1_000_000, maxCallsPerDay: 1_000_000, quietHours: null });

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
  const lateness: number[] = [];
  const agent = new Agent({
    config: parseConfig({
      dataDir: dir,
      dialPolicy: { maxCallsPerHour: 100000, maxCallsPerDay: 100000, quietHours: null },
    }),
    clock,
    logger: silentLogger(),
    modem,
    audio: new SimulatorAudio({ timers: clock }),
    dialGuard: openPolicy(),
  });
  await agent.start();
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
  await sleep(1000 + calls * spacingMs + 1000);
  for (let i = 0; i < modem.dials.length; i++)
    lateness.push(modem.dials[i]!.at - (start + i * spacingMs));
  await agent.stop();
  rmSync(dir, { recursive: true, force: true });
  return {
    fire_lateness_calls: lateness.length,
    fire_lateness_p50_ms: round(median(lateness)),
    fire_lateness_p99_ms: round(percentile(lateness, 99)),
    fire_lateness_max_ms: round(Math.max(...lateness)),
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

/** The node flags the production launchers use (the CLI's shebang line is their one source). */
export function launcherFlags(): string[] {
  const first = readFileSync(CLI, 'utf8').split('\n', 1)[0] ?? '';
  return first.startsWith('#!') ? first.split(/\s+/).filter((a) => a.startsWith('--')) : [];
}

function startChild(configPath: string) {
  const t0 = performance.now();
  const child = spawn(process.execPath, [...launcherFlags(), CLI, 'run', '--config', configPath], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const ready = new Promise<number>((resolve, reject) => {
    let out = '';
    child.stdout.on('data', (b: Buffer) => {
      out += b.toString();
      if (out.includes('"msg":"ready"')) resolve(performance.now() - t0);
    });
    child.once('exit', (c) => reject(new Error(`agent exited ${c}`)));
  });
  return { child, ready };
}

async function stopChild(child: ReturnType<typeof startChild>['child']) {
  const done = new Promise((r) => child.once('exit', r));
  child.kill('SIGTERM');
  await done;
}

function procStat(pid: number) {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const rssKb = Number(/VmRSS:\s+(\d+)/.exec(status)?.[1] ?? NaN);
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
  const ticks = Number(stat[11]) + Number(stat[12]); // utime + stime
  return { rssMb: rssKb / 1024, cpuTicks: ticks };
}

async function idleFigures(
  configPath: string,
): Promise<{ rssMb: number; cpuMsPerMin: number; coldMs: number }> {
  const c = startChild(configPath);
  const coldMs = await c.ready;
  await sleep(3000);
  const a = procStat(c.child.pid!);
  await sleep(20_000);
  const b = procStat(c.child.pid!);
  await stopChild(c.child);
  const hz = 100; // USER_HZ on Linux
  return { rssMb: b.rssMb, cpuMsPerMin: ((b.cpuTicks - a.cpuTicks) / hz) * 1000 * 3, coldMs };
}

/**
 * Cold start to ready (process spawn included, launcher flags as in production), and idle RSS/CPU
 * with 10k bookings: once with the default config (diagnostics on, MQTT off) and once with the
 * MQTT link connected to a local broker.
 */
export async function processFigures(bookings = 10_000): Promise<Record<string, number>> {
  const dir = tempDir('proc');
  const configPath = join(dir, 'config.json');
  const base = { dataDir: dir, log: { level: 'info' }, diagnostics: { port: 0 } };
  writeFileSync(configPath, JSON.stringify(base));
  const starts: number[] = [];
  for (let i = 0; i < 5; i++) {
    const c = startChild(configPath);
    starts.push(await c.ready);
    await stopChild(c.child);
  }
  // Load 10k bookings through the one apply path, then measure the idle agent.
  const store = Store.open(join(dir, 'companion.db'));
  applierFor(store, new SystemClock(), openPolicy()).applier.apply(
    upserts(recurringBookings(bookings)),
    { source: 'bench' },
  );
  // Steady state: the cloud already has the provisioning results (a unit that rebooted after
  // syncing). The backlog drain itself is measured by the sync bench (outbox_drain_events_per_s).
  store.db.prepare('UPDATE outbox SET sent_at = ? WHERE sent_at IS NULL').run(Date.now());
  store.close();
  const plain = await idleFigures(configPath);
  const broker = await startBroker();
  let linked: Awaited<ReturnType<typeof idleFigures>>;
  try {
    const mqttConfig = join(dir, 'config-mqtt.json');
    writeFileSync(
      mqttConfig,
      JSON.stringify({
        ...base,
        mqtt: { enabled: true, url: broker.url, signature: { required: false } },
      }),
    );
    linked = await idleFigures(mqttConfig);
  } finally {
    await broker.dispose();
  }
  rmSync(dir, { recursive: true, force: true });
  return {
    cold_start_ms: round(median(starts)),
    cold_start_10k_bookings_ms: round(plain.coldMs),
    rss_idle_10k_bookings_mb: round(plain.rssMb, 1),
    rss_idle_10k_bookings_mqtt_mb: round(linked.rssMb, 1),
    idle_cpu_ms_per_min: round(plain.cpuMsPerMin),
    idle_cpu_ms_per_min_mqtt: round(linked.cpuMsPerMin),
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
