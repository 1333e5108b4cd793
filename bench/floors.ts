/**
 * The floors each figure is bound by, measured in the same run on the same machine (issue 14): a
 * figure means nothing without them on a shared, noisy 2-core machine. Every floor is the cheapest
 * possible version of the same work — a FULL-sync commit on the data dir's disk, a bare MQTT QoS 1
 * round trip through the same Mosquitto, a timer, a bare Node process — so a figure's ratio to its
 * floor tells the agent's overhead apart from the machine's speed.
 */
import Database from 'better-sqlite3';
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import mqtt from 'mqtt';
import { brokerTarget } from '../sync/link/mqtt-options.js';
import { startCloudPeer } from './peer.js';
import { median, percentile, round, sleep } from './stats.js';

export type Figures = Record<string, number>;

function tempDir(tag: string): string {
  return mkdtempSync(join(tmpdir(), `companion-bench-${tag}-`));
}

/** A WAL + synchronous=FULL database, as the store opens it. */
function fullDb(dir: string): Database.Database {
  const db = new Database(join(dir, 'floor.db'));
  db.pragma('journal_mode = WAL');
  db.pragma('synchronous = FULL');
  db.exec('CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT)');
  return db;
}

/** Bytes this process has sent to the storage layer (/proc/self/io write_bytes). */
export function writeBytes(pid: number | 'self' = 'self'): number {
  const io = readFileSync(`/proc/${pid}/io`, 'utf8');
  return Number(/write_bytes:\s+(\d+)/.exec(io)?.[1] ?? NaN);
}

/**
 * One FULL commit of one small row: latency p50/p99, commits per second, and the bytes one commit
 * writes to the storage layer (what an idle commit costs in flash wear). Also a bulk floor: 10,000
 * booking-sized rows in commits of 500 (what a burst of changes cannot beat).
 */
export function commitFloor(n = 2000): Figures {
  const dir = tempDir('floor-commit');
  const db = fullDb(dir);
  const ins = db.prepare('INSERT INTO t (v) VALUES (?)');
  const upd = db.prepare('UPDATE t SET v = ? WHERE id = 1');
  ins.run('seed');
  const lat: number[] = [];
  const w0 = writeBytes();
  const t0 = performance.now();
  for (let i = 0; i < n; i++) {
    const s = performance.now();
    upd.run(`v${i}`);
    lat.push(performance.now() - s);
  }
  const secs = (performance.now() - t0) / 1000;
  const bytesPerCommit = (writeBytes() - w0) / n;
  const row = 'x'.repeat(600);
  const bulk = db.transaction((k: number) => {
    for (let i = 0; i < 500; i++) ins.run(`${row}${k}-${i}`);
  });
  const b0 = performance.now();
  for (let k = 0; k < 20; k++) bulk.immediate(k);
  const bulkSecs = (performance.now() - b0) / 1000;
  db.close();
  rmSync(dir, { recursive: true, force: true });
  return {
    floor_commit_p50_ms: round(median(lat), 3),
    floor_commit_p99_ms: round(percentile(lat, 99), 3),
    floor_commits_per_s: Math.round(n / secs),
    floor_commit_write_kb: round(bytesPerCommit / 1024, 1),
    floor_bulk_rows_per_s: Math.round(10_000 / bulkSecs),
  };
}

/**
 * Timer lateness (a setTimeout's actual - planned fire time) and the same timer followed by two
 * FULL commits (what a first attempt needs before the dial: claim + dialing).
 */
export async function timerFloor(n = 200, spacingMs = 15): Promise<Figures> {
  const dir = tempDir('floor-timer');
  const db = fullDb(dir);
  const upd = db.prepare('UPDATE t SET v = ? WHERE id = 1');
  db.prepare('INSERT INTO t (v) VALUES (?)').run('seed');
  const bare: number[] = [];
  const withCommits: number[] = [];
  for (const commits of [0, 2]) {
    for (let i = 0; i < n; i++) {
      // performance.now(): sub-millisecond, like the dial stamps of bench/engine.ts fireLateness.
      const planned = performance.now() + spacingMs;
      await new Promise<void>((resolve) =>
        setTimeout(() => {
          for (let c = 0; c < commits; c++) upd.run(`v${i}-${c}`);
          (commits ? withCommits : bare).push(performance.now() - planned);
          resolve();
        }, spacingMs),
      );
    }
  }
  db.close();
  rmSync(dir, { recursive: true, force: true });
  return {
    floor_timer_p50_ms: round(median(bare)),
    floor_timer_p99_ms: round(percentile(bare, 99)),
    floor_timer_2commits_p50_ms: round(median(withCommits)),
    floor_timer_2commits_p99_ms: round(percentile(withCommits, 99)),
  };
}

function connect(url: string): Promise<mqtt.MqttClient> {
  return new Promise((resolve, reject) => {
    const c = mqtt.connect({ ...brokerTarget(url), protocolVersion: 5, reconnectPeriod: 0 });
    c.once('connect', () => {
      (c.stream as { setNoDelay?: (on: boolean) => void }).setNoDelay?.(true);
      resolve(c);
    });
    c.once('error', reject);
  });
}

const publish = (c: mqtt.MqttClient, topic: string, payload: string) =>
  new Promise<void>((resolve, reject) =>
    c.publish(topic, payload, { qos: 1 }, (err) => (err ? reject(err) : resolve())),
  );

/**
 * A bare MQTT QoS 1 round trip through the broker the sync bench uses: the "cloud" publishes, the
 * "unit" (this process) answers on another topic; once as is, once with one FULL commit before the
 * answer (the sync round trip's floor). The cloud end runs in its own process, as in the sync bench.
 * Also the pipelined QoS 1 publish rate with the drainer's window (64).
 */
export async function mqttFloor(url: string, n = 500): Promise<Figures> {
  const dir = tempDir('floor-mqtt');
  const db = fullDb(dir);
  const upd = db.prepare('UPDATE t SET v = ? WHERE id = 1');
  db.prepare('INSERT INTO t (v) VALUES (?)').run('seed');
  const cloud = await startCloudPeer();
  const unit = await connect(url);
  let commit = false;
  try {
    await unit.subscribeAsync('floor/cmd', { qos: 1 });
    unit.on('message', (_t, payload) => {
      if (commit) upd.run(payload.toString());
      void publish(unit, 'floor/res', payload.toString());
    });
    const roundTrips = (label: string) =>
      cloud.call<number[]>('floorRoundTrips', { url, n, label });
    const bare = await roundTrips('bare');
    commit = true;
    const withCommit = await roundTrips('commit');
    // Pipelined publishes, at most 64 unacknowledged (the outbox drainer's window).
    const total = 10_000;
    let inFlight = 0;
    let done = 0;
    const t0 = performance.now();
    await new Promise<void>((resolve, reject) => {
      let sent = 0;
      const pump = () => {
        while (inFlight < 64 && sent < total) {
          inFlight++;
          sent++;
          publish(unit, 'floor/drain', 'x'.repeat(200)).then(() => {
            inFlight--;
            if (++done === total) resolve();
            else pump();
          }, reject);
        }
      };
      pump();
    });
    const drainSecs = (performance.now() - t0) / 1000;
    return {
      floor_mqtt_rtt_p50_ms: round(median(bare)),
      floor_mqtt_rtt_p99_ms: round(percentile(bare, 99)),
      floor_mqtt_rtt_commit_p50_ms: round(median(withCommit)),
      floor_mqtt_rtt_commit_p99_ms: round(percentile(withCommit, 99)),
      floor_mqtt_publish_per_s: Math.round(total / drainSecs),
    };
  } finally {
    await Promise.all([cloud.dispose(), unit.endAsync()]);
    db.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

/** The agent's runtime dependencies, as `run` loads them (mqtt only with the link on). */
export const AGENT_DEPS = [
  'better-sqlite3',
  'pino',
  'zod',
  'libphonenumber-js/max',
  'temporal-polyfill',
];

/**
 * What a time-zone computation through ICU costs a process once: its zone and locale data, embedded
 * in the node binary, paged in by the first Intl.DateTimeFormat with a timeZone. The agent no longer
 * pays it (zone rules from tzdata, agent/schedule/tzif.ts; housekeeping without node-cron), so only
 * `floor_node_tz_rss_mb` includes it: the reference for what that change saved.
 */
const TIME_ZONE_USE =
  "new Intl.DateTimeFormat('en-US', { timeZone: 'Europe/Berlin', hour: 'numeric' }).format(0);";

/**
 * RSS (MB) of a node process that imported `imports` (and, with `timeZones`, formatted one date in
 * a time zone) and then sat idle, with the given flags.
 */
export async function idleNodeRss(
  flags: string[],
  imports: string[],
  settleMs = 3000,
  timeZones = false,
): Promise<number> {
  const code = `${imports.map((m) => `await import(${JSON.stringify(m)});`).join('')}
${timeZones ? TIME_ZONE_USE : ''} process.stdout.write('up\\n'); setTimeout(() => {}, 600000);`;
  const child = spawn(process.execPath, [...flags, '--input-type=module', '-e', code], {
    cwd: process.cwd(),
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  try {
    await new Promise<void>((resolve, reject) => {
      child.stdout.once('data', () => resolve());
      child.once('exit', (c) => reject(new Error(`floor process exited ${c}`)));
    });
    await sleep(settleMs);
    const status = readFileSync(`/proc/${child.pid}/status`, 'utf8');
    return Number(/VmRSS:\s+(\d+)/.exec(status)?.[1] ?? NaN) / 1024;
  } finally {
    child.kill('SIGKILL');
  }
}

/** Spawn → first line on stdout for a bare Node process (the cold start floor), median of n. */
export async function nodeStartFloor(flags: string[], n = 7): Promise<number> {
  const times: number[] = [];
  for (let i = 0; i < n; i++) {
    const t0 = performance.now();
    const child = spawn(process.execPath, [...flags, '-e', 'process.stdout.write("up\\n")'], {
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    await new Promise<void>((resolve) => child.stdout.once('data', () => resolve()));
    times.push(performance.now() - t0);
    await new Promise((r) => child.once('exit', r));
  }
  return round(median(times));
}

/**
 * Bare Node's RSS and start time with the launcher's flags; Node that used one ICU time zone (for
 * reference); and Node with the agent's dependencies loaded (without and with mqtt.js): the memory
 * floors.
 */
export async function nodeFloors(flags: string[]): Promise<Figures> {
  const med = async (imports: string[], timeZones = true) => {
    const v: number[] = [];
    for (let i = 0; i < 5; i++) v.push(await idleNodeRss(flags, imports, 3000, timeZones));
    return round(median(v), 1);
  };
  return {
    floor_node_start_ms: await nodeStartFloor(flags),
    floor_node_rss_mb: await med([], false),
    floor_node_tz_rss_mb: await med([]),
    floor_node_deps_rss_mb: await med(AGENT_DEPS, false),
    floor_node_deps_mqtt_rss_mb: await med([...AGENT_DEPS, 'mqtt'], false),
  };
}
