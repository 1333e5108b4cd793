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
import { spawnSync } from 'node:child_process';
import { launcherEnv, launcherFlags, processFigures } from './process.js';
import { round } from './stats.js';
import { SPECS, withFloors } from './specs.js';
import { yearFigures } from './year.js';

type Figures = Record<string, number>;

const GROUPS = ['floors', 'engine', 'process', 'sync', 'year'] as const;

async function main() {
  // Every figure is measured under the node flags and environment the launchers give the agent
  // (V8's heap sizing and malloc's, both read at process start): the in-process benches (engine,
  // sync) run in this process, so it starts again under them when it was not. The launchers'
  // flags go first: a flag given on this command line (an A/B run) still wins.
  const env = launcherEnv();
  const flags = launcherFlags();
  const missingFlags = flags.filter((f) => !process.execArgv.includes(f));
  if (missingFlags.length > 0 || Object.entries(env).some(([k, v]) => process.env[k] !== v)) {
    const r = spawnSync(
      process.execPath,
      [...missingFlags, ...process.execArgv, ...process.argv.slice(1)],
      { stdio: 'inherit', env: { ...process.env, ...env } },
    );
    process.exit(r.status ?? 1);
  }
  const only = new Set((process.env.BENCH_ONLY ?? GROUPS.join(',')).split(','));
  const results: Figures = {};
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
    console.log('process: cold start, idle RSS/CPU/disk with 10k bookings, traffic (~5 min)…');
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
  // Floors and ratios only from THIS run: a figure is never divided by a floor from another run.
  const measured = withFloors(results);
  for (const name of Object.keys(results)) {
    delete previous[`${name}_floor`];
    delete previous[`${name}_ratio`];
  }
  if (!only.has('floors')) console.warn('(floors not measured in this run: no ratios)');
  const merged = {
    ...previous,
    ...measured,
    machine: `${cpus().length}x ${cpus()[0]?.model ?? 'cpu'}, ${Math.round(totalmem() / 2 ** 30)} GiB, node ${process.version}`,
    load_avg_1m_at_end: round(loadavg()[0] ?? 0, 2),
    launcher_flags: flags.join(' '),
    launcher_env: Object.entries(env)
      .map(([k, v]) => `${k}=${v}`)
      .join(' '),
    measured_at: new Date().toISOString(),
  };
  writeFileSync(file, JSON.stringify(merged, null, 2) + '\n');
  console.log(
    `\n${'figure'.padEnd(36)}${'value'.padStart(11)}${'floor'.padStart(11)}${'ratio'.padStart(8)}  goal`,
  );
  for (const [name, v] of Object.entries(measured)) {
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
