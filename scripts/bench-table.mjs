#!/usr/bin/env node
/**
 * The README's Benchmarks table, generated from bench runs (issue 14): `node scripts/bench-table.mjs
 * run1.json run2.json run3.json` (copies of bench/out/latest.json, one per `npm run bench`) prints,
 * for every figure with a goal, the median over the runs of the figure, its floor and their ratio,
 * and the goal. `npm run build` first (it reads the goals from dist/bench/specs.js).
 */
import console from 'node:console';
import { readFileSync } from 'node:fs';
import process from 'node:process';
import { URL } from 'node:url';
import { resolve } from 'node:path';

const root = resolve(new URL('..', import.meta.url).pathname);
const { SPECS } = await import(resolve(root, 'dist/bench/specs.js'));
const runs = process.argv.slice(2).map((p) => JSON.parse(readFileSync(p, 'utf8')));
if (runs.length === 0) {
  console.error('usage: node scripts/bench-table.mjs RUN.json [RUN.json...]');
  process.exit(2);
}
const med = (key) => {
  const v = runs
    .map((r) => r[key])
    .filter((x) => typeof x === 'number')
    .sort((a, b) => a - b);
  if (v.length === 0) return undefined;
  const m = v.length % 2 ? v[(v.length - 1) / 2] : (v[v.length / 2 - 1] + v[v.length / 2]) / 2;
  return Math.round(m * 100) / 100;
};
const fmt = (x) =>
  x === undefined ? '—' : x.toLocaleString('en-US', { maximumFractionDigits: 2 });
const spread = (key) => {
  const v = runs.map((r) => r[key]).filter((x) => typeof x === 'number');
  return v.length > 1 ? ` (${fmt(Math.min(...v))}–${fmt(Math.max(...v))})` : '';
};
console.log('| figure | median (range) | floor | ratio | goal |');
console.log('| --- | --- | --- | --- | --- |');
for (const [name, spec] of Object.entries(SPECS)) {
  const v = med(name);
  if (v === undefined) continue;
  console.log(
    `| \`${name}\` | ${fmt(v)}${spread(name)} | ${fmt(med(`${name}_floor`))} | ${fmt(med(`${name}_ratio`))}${spec.kind === 'rate' ? ' of floor' : ''} | ${spec.goal} |`,
  );
}
const m = runs.at(-1);
console.log(
  `\n${runs.length} run(s); machine: ${m.machine}; launcher flags: ${m.launcher_flags ?? '?'}; launcher env: ${m.launcher_env ?? '—'}; load average at the end of each run: ${runs.map((r) => r.load_avg_1m_at_end).join(', ')}`,
);
