/**
 * One chaos run: a real mosquitto, the chaos proxy in front of it, the agent as a child process and
 * the cloud client; a workload of one-off and recurring bookings; two fault lanes at seeded random
 * moments; then a heal phase and the invariant checker. Returns the report (also written as JSON).
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir, cpus } from 'node:os';
import { join } from 'node:path';
import { killAll, prng } from '../support/agent-process.js';
import { startBroker, type MosquittoBroker } from '../support/mosquitto.js';
import type { BookingInput } from '../../agent/bookings/schema.js';
import { ChaosCloud } from './cloud.js';
import { ChaosProxy } from './proxy.js';
import { ChaosUnit, FAULT_NUMBERS, UNIT_ID, type ModemFault } from './unit.js';
import { networkLane, processLane, type Lanes } from './faults.js';
import { checkInvariants, type CheckResult } from './invariants.js';

/**
 * A run is a number of faults, not a length of time: the same seed injects the same faults in the
 * same order however fast the machine is (a shared 2-core VM under load runs them slower, not fewer).
 */
export interface ChaosProfile {
  name: 'ci' | 'soak';
  /** Faults of the process lane (SIGKILL, clock jumps, full disk), corruptions included. */
  processFaults: number;
  /** Faults of the network lane (proxy cuts, half-open links, broker restarts). */
  networkFaults: number;
  seed: number;
  /** Corrupt files among the process faults, spread evenly. */
  corruptions: number;
}

export function profileFromEnv(env = process.env): ChaosProfile {
  const name = env.CHAOS_PROFILE === 'soak' ? 'soak' : 'ci';
  const scale = Number(env.CHAOS_SCALE ?? (name === 'soak' ? 10 : 1));
  return {
    name,
    processFaults: Math.round(62 * scale),
    networkFaults: Math.round(40 * scale),
    seed: Number(env.CHAOS_SEED ?? 20261123),
    corruptions: Math.round(3 * scale),
  };
}

export interface ChaosReport {
  profile: ChaosProfile;
  machine: string;
  wallSec: number;
  faults: Record<string, number>;
  totalFaults: number;
  callsFired: number;
  bookingsSent: number;
  bookingsAccepted: number;
  snapshotsSent: number;
  syncRequests: number;
  eventsDelivered: number;
  /** The degraded modes, as the cloud saw them (unique events). */
  degraded: { clockUntrusted: number; storageFull: number; recoveredFromCorruption: number };
  check: CheckResult;
  notes: string[];
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Every normal callee shares this prefix; each booking gets its own number (dials map to bookings). */
const NORMAL = '+4915166';
const RECURRING = '+4915177';

export async function runChaos(
  profile: ChaosProfile,
  log = (s: string) => console.log(s),
): Promise<ChaosReport> {
  const t0 = Date.now();
  const random = prng(profile.seed);
  const dir = mkdtempSync(join(tmpdir(), 'companion-chaos-'));
  const faults: Record<string, number> = {};
  const notes: string[] = [];
  let broker: MosquittoBroker | null = null;
  let proxy: ChaosProxy | null = null;
  let cloud: ChaosCloud | null = null;
  let unit: ChaosUnit | null = null;
  let keep = false;
  try {
    broker = await startBroker({ persistence: true });
    const b = broker;
    proxy = new ChaosProxy(() => b.port);
    await proxy.start();
    cloud = new ChaosCloud(broker.url, UNIT_ID);
    await cloud.start();
    unit = new ChaosUnit(dir, proxy.url);
    await unit.start({});
    const lanes: Lanes = {
      unit,
      proxy,
      broker,
      cloud,
      random,
      count: (k) => (faults[k] = (faults[k] ?? 0) + 1),
      note: (m) => {
        notes.push(m);
        log(`  note: ${m}`);
      },
      maxOffsetMs: 0,
    };
    log(
      `chaos ${profile.name}: ${profile.processFaults} + ${profile.networkFaults} faults, seed ${profile.seed}, dir ${dir}`,
    );
    // Each lane draws from its own stream of the seed, so one lane's pace never shifts the other's.
    const lanesDone = { value: false };
    const pause = { value: false };
    lanes.pauseWorkload = (on) => (pause.value = on);
    await Promise.all([
      workload(cloud, unit, prng(profile.seed + 1), lanesDone, pause),
      Promise.all([
        processLane(
          { ...lanes, random: prng(profile.seed + 2) },
          profile.processFaults,
          profile.corruptions,
        ),
        networkLane({ ...lanes, random: prng(profile.seed + 3) }, profile.networkFaults),
      ]).finally(() => (lanesDone.value = true)),
    ]);

    // Heal: the link works, the broker runs, one last incarnation with no cap and no backward jump.
    log('healing and settling...');
    proxy.refuse(false);
    proxy.heal();
    if (!broker.running) await broker.start();
    await unit.kill();
    await unit.start({ offsetMs: lanes.maxOffsetMs });
    const settled = await settle(unit, 90_000);
    if (!settled) notes.push('the unit did not settle within 90 s');
    await sleep(1500); // the last PUBACKed events reach the cloud's session
    await unit.terminate();

    for (const [kind, prefix] of Object.entries(FAULT_NUMBERS) as [ModemFault, string][]) {
      const n = unit.dials().filter((d) => d.number.startsWith(prefix)).length;
      if (n > 0) faults[`modem_${kind}`] = n;
    }
    const check = checkInvariants({
      dbPath: unit.dbPath,
      dials: unit.dials(),
      events: cloud.events,
      bookings: cloud.bookings,
      accepted: cloud.accepted,
      done: cloud.done,
      agentNow: Date.now() + unit.offsetMs,
      backwardToleranceMs: 5000,
    });
    keep = check.violations.length > 0;
    if (keep || process.env.CHAOS_KEEP === '1') {
      // The cloud's side of the story, next to the unit's database and dial log.
      writeFileSync(join(dir, 'cloud-events.json'), JSON.stringify(cloud.events));
    }
    const report: ChaosReport = {
      profile,
      machine: `${cpus().length} x ${cpus()[0]?.model ?? 'cpu'}, node ${process.version}`,
      wallSec: Math.round((Date.now() - t0) / 1000),
      faults,
      totalFaults: Object.values(faults).reduce((a, b) => a + b, 0) - (faults.start_failed ?? 0),
      callsFired: unit.dials().length,
      bookingsSent: cloud.bookings.size,
      bookingsAccepted: cloud.accepted.size,
      snapshotsSent: cloud.snapshotsSent,
      syncRequests: cloud.syncRequests.length,
      eventsDelivered: cloud.events.length,
      degraded: {
        clockUntrusted: uniqueOfType(cloud, 'clock.untrusted'),
        storageFull: cloud.storageFullTotal,
        recoveredFromCorruption: uniqueOfType(cloud, 'store.recovered_from_corruption'),
      },
      check,
      notes,
    };
    return report;
  } finally {
    await cloud?.stop();
    await unit?.kill().catch(() => undefined);
    await killAll();
    await proxy?.stop();
    await broker?.dispose();
    // Kept for analysis when something was violated (or on request).
    if (process.env.CHAOS_KEEP !== '1' && !keep) rmSync(dir, { recursive: true, force: true });
    else log(`  data kept in ${dir}`);
  }
}

/**
 * Book one-offs a few seconds ahead (in the unit's clock) all along, plus a few every-minute crons,
 * until the fault lanes are done; paused while a lane waits for a quiet moment.
 */
async function workload(
  cloud: ChaosCloud,
  unit: ChaosUnit,
  random: () => number,
  done: { value: boolean },
  pause: { value: boolean },
): Promise<void> {
  let n = 0;
  const base = (over: Partial<BookingInput>): BookingInput => ({
    id: `b${n}`,
    version: 1,
    callee: `${NORMAL}${String(n).padStart(6, '0')}`,
    agentId: 'chaos-agent',
    schedule: { kind: 'once', at: new Date().toISOString() },
    ringTimeoutSec: 10,
    maxDurationSec: 30,
    retry: { maxAttempts: 2, initialBackoffSec: 5, maxBackoffSec: 5, jitter: 0 },
    catchUpWindowSec: 120,
    misfire: n % 2 === 0 ? 'skip' : 'fire_once',
    ...over,
  });
  for (let i = 0; i < 3; i++, n++) {
    await cloud.book(
      base({
        id: `cron${i}`,
        callee: `${RECURRING}${String(i).padStart(6, '0')}`,
        schedule: { kind: 'cron', expr: '* * * * *', zone: 'UTC' },
      }),
    );
  }
  const hangs = 2;
  while (!done.value) {
    if (pause.value) {
      await sleep(100);
      continue;
    }
    n++;
    const at = new Date(Date.now() + (unit.offsetMs ?? 0) + 3000 + Math.floor(random() * 5000));
    const r = random();
    // Modem faults ride on the callee: its prefix rule in the simulator injects the fault.
    // The first bookings rotate through every callee fault twice, so each kind is booked early
    // whatever the random draw (a run must exercise every fault kind); then the draw decides.
    const rotation: ModemFault[] = ['busy', 'no_answer', 'silent', 'drop_port'];
    const fault: ModemFault | null =
      n <= 2 * rotation.length
        ? rotation[(n - 1) % rotation.length]!
        : n % 40 === 20 && n / 40 < hangs
          ? 'hang'
          : r < 0.1
            ? 'busy'
            : r < 0.14
              ? 'no_answer'
              : r < 0.22
                ? 'silent'
                : r < 0.3
                  ? 'drop_port'
                  : null;
    const prefix = fault ? FAULT_NUMBERS[fault] : NORMAL;
    // Not awaited: with the broker away, the PUBACK waits, and the workload must go on.
    void cloud
      .book(
        base({
          callee: `${prefix}${String(n).padStart(6, '0')}`,
          schedule: { kind: 'once', at: at.toISOString() },
        }),
      )
      .catch(() => undefined);
    await sleep(700 + Math.floor(random() * 1300));
  }
}

function uniqueOfType(cloud: ChaosCloud, type: string): number {
  return new Set(cloud.events.filter((e) => e.type === type).map((e) => e.eventId)).size;
}

/** Wait until nothing is owed now: no call running, nothing due, the outbox drained. */
async function settle(unit: ChaosUnit, timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    const now = Date.now() + unit.offsetMs;
    const owed = unit.read((db) => {
      const due = db
        .prepare(
          `SELECT count(*) AS n FROM runs WHERE status = 'running' OR (status IN ('pending', 'retry_wait') AND due_at <= ?)`,
        )
        .get(now) as { n: number };
      // Owed to the cloud: anything never sent, and critical events it has not receipted yet.
      const unsent = db
        .prepare(
          `SELECT count(*) AS n FROM outbox WHERE receipted_at IS NULL AND (sent_at IS NULL OR class = 'critical')`,
        )
        .get() as { n: number };
      return due.n + unsent.n;
    });
    if (owed === 0) return true;
    await sleep(250);
  }
  return false;
}

export function printReport(r: ChaosReport, log = (s: string) => console.log(s)): void {
  const rows = Object.entries(r.faults).sort((a, b) => b[1] - a[1]);
  log('');
  log(`| fault | injected |`);
  log(`| --- | ---: |`);
  for (const [k, v] of rows) log(`| ${k} | ${v} |`);
  log(`| **total faults** | **${r.totalFaults}** |`);
  log(`| calls fired (modem dials) | ${r.callsFired} |`);
  log(`| bookings sent / accepted | ${r.bookingsSent} / ${r.bookingsAccepted} |`);
  log(`| snapshots sent / sync requests | ${r.snapshotsSent} / ${r.syncRequests} |`);
  log(
    `| events delivered (dup deliveries) | ${r.eventsDelivered} (${r.check.stats.duplicateDeliveries}) |`,
  );
  log(
    `| held clock / storage_full answers / corrupt files replaced (cloud saw) | ${r.degraded.clockUntrusted} / ${r.degraded.storageFull} / ${r.degraded.recoveredFromCorruption} |`,
  );
  log(`| **invariant violations** | **${r.check.violations.length}** |`);
  log('');
  log(`profile ${r.profile.name}, seed ${r.profile.seed}, ${r.wallSec} s wall, ${r.machine}`);
  for (const v of r.check.violations.slice(0, 30)) log(`  VIOLATION ${v.invariant}: ${v.detail}`);
}

export function writeReport(
  r: ChaosReport,
  path = join(process.cwd(), 'bench', 'out', 'chaos-latest.json'),
): void {
  mkdirSync(join(path, '..'), { recursive: true });
  writeFileSync(path, JSON.stringify(r, null, 2) + '\n');
}
