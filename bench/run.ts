/**
 * `npm run bench`: measures the quality bars of DESIGN.md and writes them, flat, to
 * bench/out/latest.json (merged with figures other benches wrote there). Prints a table with the
 * bar next to each figure. Set BENCH_ONLY=engine|sync to run one group.
 */
import { mkdirSync, readFileSync, writeFileSync, existsSync } from 'node:fs';
import { cpus, totalmem } from 'node:os';
import { claimCycles, fireLateness, planPass, processFigures, retryLateness } from './engine.js';

const BARS: Record<string, string> = {
  fire_lateness_p99_ms: '<= 100',
  cold_start_ms: '<= 1000',
  rss_idle_10k_bookings_mb: '<= 90',
  plan_pass_10k_ms: '<= 5',
  sync_roundtrip_p99_ms: '<= 25',
  sync_burst_updates_per_s: '>= 5000',
};

type Group = () => Promise<Record<string, number>>;

async function optionalGroup(path: string): Promise<Group | null> {
  try {
    const mod = (await import(path)) as { run?: Group };
    return mod.run ?? null;
  } catch (err) {
    console.warn(`(skipping ${path}: ${(err as Error).message})`);
    return null;
  }
}

async function main() {
  const only = process.env.BENCH_ONLY;
  const results: Record<string, number | string> = {};
  if (!only || only === 'engine') {
    console.log('engine: firing lateness…');
    Object.assign(results, await fireLateness());
    Object.assign(results, await retryLateness());
    console.log('engine: planning pass over 10k bookings…');
    Object.assign(results, planPass());
    console.log('engine: durable claim cycles…');
    Object.assign(results, await claimCycles());
    console.log('engine: cold start, idle memory and CPU with 10k bookings (~40 s)…');
    Object.assign(results, await processFigures());
  }
  if (!only || only === 'sync') {
    const sync = await optionalGroup('./sync.js');
    if (sync) {
      console.log('sync: round trip, burst, outbox drain…');
      Object.assign(results, await sync());
    }
  }
  const outDir = new URL('../../bench/out/', import.meta.url);
  mkdirSync(outDir, { recursive: true });
  const file = new URL('latest.json', outDir);
  const previous = existsSync(file)
    ? (JSON.parse(readFileSync(file, 'utf8')) as Record<string, unknown>)
    : {};
  const merged = {
    ...previous,
    ...results,
    machine: `${cpus().length}x ${cpus()[0]?.model ?? 'cpu'}, ${Math.round(totalmem() / 2 ** 30)} GiB, node ${process.version}`,
    measured_at: new Date().toISOString(),
  };
  writeFileSync(file, JSON.stringify(merged, null, 2) + '\n');
  console.log('\nfigure                              value        bar');
  for (const [k, v] of Object.entries(results)) {
    console.log(`${k.padEnd(36)}${String(v).padEnd(13)}${BARS[k] ?? ''}`);
  }
  console.log(`\nwritten to ${file.pathname}`);
}

main().catch((err: unknown) => {
  console.error(err);
  process.exitCode = 1;
});
