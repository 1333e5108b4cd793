/**
 * `npm run bench`: measures the quality bars of DESIGN.md AND the floors each one is bound by, in
 * the same run on the same machine (bench/floors.ts), and writes every figure with its floor and
 * ratio (`<figure>_floor`, `<figure>_ratio`) to bench/out/latest.json, merged with figures other
 * benches wrote there. Prints a table: figure, floor, ratio, goal. On a shared, noisy machine the
 * ratio is the number to compare between runs and machines, not the absolute figure.
 *
 * BENCH_ONLY=floors,engine,process,sync,year runs a subset (comma-separated).
 */
import { mkdirSync, readFileSync, writeFileSync, existsSync } from 'node:fs';
import { cpus, loadavg, totalmem } from 'node:os';
import { parseConfig } from '../agent/config/config.js';
import { startBroker } from '../test/support/mosquitto.js';
import { claimCycles, fireLateness, planPass, retryLateness } from './engine.js';
import { commitFloor, mqttFloor, nodeFloors, timerFloor } from './floors.js';
import { launcherFlags, processFigures } from './process.js';
import { round } from './stats.js';
import { yearFigures } from './year.js';

type Figures = Record<string, number>;

/**
 * Every reported figure: the floor it is bound by (a key measured in this run, or a function of
 * them), whether the ratio is figure/floor ("time": lower is better) or floor/figure ("rate": the
 * share of the floor's speed reached), and the goal from the issue / DESIGN.md.
 */
interface Spec {
  floor: (f: Figures) => number | undefined;
  kind: 'time' | 'rate';
  goal: string;
}

const k = (key: string) => (f: Figures) => f[key];

export const SPECS: Record<string, Spec> = {
  fire_lateness_p50_ms: {
    floor: k('floor_timer_2commits_p50_ms'),
    kind: 'time',
    goal: '≤ 1.5× floor',
  },
  fire_lateness_p99_ms: {
    floor: k('floor_timer_2commits_p99_ms'),
    kind: 'time',
    goal: '≤ 1.5× floor (bar ≤ 100 ms)',
  },
  commits_per_call: { floor: () => 2, kind: 'time', goal: '≤ 2' },
  sync_roundtrip_p50_ms: {
    floor: k('floor_mqtt_rtt_commit_p50_ms'),
    kind: 'time',
    goal: '≤ 1.5× floor',
  },
  sync_roundtrip_p99_ms: {
    floor: k('floor_mqtt_rtt_commit_p99_ms'),
    kind: 'time',
    goal: '≤ 1.5× floor (bar ≤ 25 ms)',
  },
  sync_burst_updates_per_s: {
    floor: k('floor_bulk_rows_per_s'),
    kind: 'rate',
    goal: '≥ 20,000 /s (bar ≥ 5,000)',
  },
  sync_single_msgs_per_s: { floor: k('floor_commits_per_s'), kind: 'rate', goal: '—' },
  outbox_drain_events_per_s: { floor: k('floor_mqtt_publish_per_s'), kind: 'rate', goal: '—' },
  claims_per_s_durable: {
    floor: (f) =>
      f.floor_commits_per_s && f.commits_per_call
        ? Math.round(f.floor_commits_per_s / f.commits_per_call)
        : undefined,
    kind: 'rate',
    goal: '≥ 0.5 of floor (commit rate / commits per call)',
  },
  plan_pass_10k_ms: { floor: k('floor_commit_p50_ms'), kind: 'time', goal: '≤ 5 ms' },
  plan_pass_10k_with_due_ms: { floor: k('floor_commit_p50_ms'), kind: 'time', goal: '≤ 5 ms' },
  cold_start_ms: { floor: k('floor_node_start_ms'), kind: 'time', goal: '≤ 400 ms (bar ≤ 1 s)' },
  cold_start_10k_bookings_ms: { floor: k('floor_node_start_ms'), kind: 'time', goal: '≤ 500 ms' },
  rss_idle_10k_bookings_mb: { floor: k('floor_node_deps_rss_mb'), kind: 'time', goal: '≤ 60 MB' },
  rss_idle_10k_bookings_mqtt_mb: {
    floor: k('floor_node_deps_mqtt_rss_mb'),
    kind: 'time',
    goal: '≤ 60 MB (bar ≤ 90)',
  },
  rss_under_traffic_mb: { floor: k('floor_node_deps_mqtt_rss_mb'), kind: 'time', goal: '≤ 75 MB' },
  idle_cpu_ms_per_min: { floor: () => 0, kind: 'time', goal: '≤ 60 ms/min' },
  idle_cpu_ms_per_min_mqtt: { floor: () => 0, kind: 'time', goal: '≤ 60 ms/min' },
  idle_disk_write_kb_per_h: { floor: () => 0, kind: 'time', goal: '≤ 100 KB/h' },
  idle_disk_write_kb_per_h_mqtt: { floor: () => 0, kind: 'time', goal: '≤ 100 KB/h' },
  db_size_after_year_mb: { floor: k('db_size_after_year_mb_floor'), kind: 'time', goal: '≤ 50 MB' },
};

/** Add `<figure>_floor` and `<figure>_ratio` for every figure that has a spec and was measured. */
export function withFloors(f: Figures): Figures {
  const out: Figures = { ...f };
  // Idle disk writes: the window's writes, plus the clock-trust commits an hour holds (the window
  // is shorter than clock.persistEverySec, so it would not see them), each at the commit floor.
  for (const suffix of ['', '_mqtt']) {
    const w = f[`idle_disk_write_window_kb_per_h${suffix}`];
    if (w !== undefined && f.floor_commit_write_kb !== undefined)
      out[`idle_disk_write_kb_per_h${suffix}`] = round(
        w + (f.idle_persist_commits_per_h ?? 0) * f.floor_commit_write_kb,
        1,
      );
  }
  for (const [name, spec] of Object.entries(SPECS)) {
    const v = out[name];
    if (v === undefined) continue;
    const floor = spec.floor(out);
    if (floor === undefined) continue;
    out[`${name}_floor`] = floor;
    const ratio = spec.kind === 'time' ? v / floor : floor / v;
    // A zero floor (idle costs) has no ratio: the figure itself is the overhead.
    if (Number.isFinite(ratio) && floor !== 0) out[`${name}_ratio`] = round(ratio, 2);
  }
  return out;
}

const GROUPS = ['floors', 'engine', 'process', 'sync', 'year'] as const;

async function main() {
  const only = new Set((process.env.BENCH_ONLY ?? GROUPS.join(',')).split(','));
  const results: Figures = {};
  const flags = launcherFlags();
  if (only.has('floors')) {
    console.log('floors: FULL commit, timer, bare node (start, RSS, RSS with the dependencies)…');
    Object.assign(results, commitFloor(), await timerFloor(), await nodeFloors(flags));
    const broker = await startBroker();
    try {
      console.log('floors: bare MQTT QoS 1 round trip (with and without one FULL commit)…');
      Object.assign(results, await mqttFloor(broker.url));
    } finally {
      await broker.dispose();
    }
  }
  if (only.has('engine')) {
    console.log('engine: firing lateness…');
    Object.assign(results, await fireLateness());
    Object.assign(results, await retryLateness());
    console.log('engine: planning pass over 10k bookings…');
    Object.assign(results, planPass());
    console.log('engine: durable claim cycles…');
    Object.assign(results, await claimCycles());
  }
  if (only.has('process')) {
    console.log('process: cold start, idle RSS/CPU/disk with 10k bookings, traffic (~4 min)…');
    const persist = parseConfig({}).clock.persistEverySec;
    Object.assign(results, await processFigures(10_000, persist));
  }
  if (only.has('sync')) {
    console.log('sync: round trip, burst, outbox drain…');
    const { run } = await import('./sync.js');
    Object.assign(results, await run());
  }
  if (only.has('year')) {
    console.log('year: a simulated year of one unit on the fake clock (~2 min)…');
    Object.assign(results, await yearFigures());
  }
  const outDir = new URL('../../bench/out/', import.meta.url);
  mkdirSync(outDir, { recursive: true });
  const file = new URL('latest.json', outDir);
  const previous = existsSync(file) ? (JSON.parse(readFileSync(file, 'utf8')) as Figures) : {};
  const measured = withFloors({ ...previous, ...results });
  const merged = {
    ...measured,
    machine: `${cpus().length}x ${cpus()[0]?.model ?? 'cpu'}, ${Math.round(totalmem() / 2 ** 30)} GiB, node ${process.version}`,
    load_avg_1m_at_end: round(loadavg()[0] ?? 0, 2),
    launcher_flags: flags.join(' '),
    measured_at: new Date().toISOString(),
  };
  writeFileSync(file, JSON.stringify(merged, null, 2) + '\n');
  console.log(
    `\n${'figure'.padEnd(36)}${'value'.padStart(11)}${'floor'.padStart(11)}${'ratio'.padStart(8)}  goal`,
  );
  for (const [name, v] of Object.entries(measured)) {
    if (!(name in results) && !(name in SPECS)) continue;
    if (name.endsWith('_floor') || name.endsWith('_ratio')) continue;
    const floor = measured[`${name}_floor`];
    const ratio = measured[`${name}_ratio`];
    console.log(
      `${name.padEnd(36)}${String(v).padStart(11)}${String(floor ?? '').padStart(11)}${String(ratio ?? '').padStart(8)}  ${SPECS[name]?.goal ?? ''}`,
    );
  }
  console.log(
    `\nmachine: ${merged.machine}; load average at the end: ${merged.load_avg_1m_at_end}`,
  );
  console.log(`written to ${file.pathname}`);
}

main().then(
  () => process.exit(process.exitCode ?? 0),
  (err: unknown) => {
    console.error(err);
    process.exit(1);
  },
);
