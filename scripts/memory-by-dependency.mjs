#!/usr/bin/env node
/**
 * What each runtime dependency costs in memory (issue 14), reproducibly: `npm run build` first, then
 * `node scripts/memory-by-dependency.mjs` (about two minutes). Every number is the median of 5 fresh
 * processes started with the launcher's node flags and environment, measured after three forced GCs.
 *
 * - alone: RSS and V8 heap of `node` + that one import, minus bare `node` (includes the one-time cost
 *   of the ESM loader and the Node internals the package pulls in, so these do not add up);
 * - marginal: the full set of the agent's dependencies minus the set without it (what removing or
 *   lazy-loading it would save in the running agent);
 * - the agent's own modules (dist/agent/main.js, everything `run` loads), and the same code as one
 *   esbuild bundle (what a bundled build would save: fewer module records and source strings).
 */
import { spawnSync } from 'node:child_process';
import console from 'node:console';
import process from 'node:process';
import { URL } from 'node:url';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';

const root = resolve(new URL('..', import.meta.url).pathname);
const shebang = readFileSync(join(root, 'agent/cli/main.ts'), 'utf8').split('\n', 1)[0];
const FLAGS = shebang.split(/\s+/).filter((a) => a.startsWith('--'));
// The launchers' environment (malloc's), the `NAME=value` words of the same line.
const ENV = Object.fromEntries(
  shebang
    .split(/\s+/)
    .filter((a) => /^[A-Z_][A-Z0-9_]*=/.test(a))
    .map((a) => [a.slice(0, a.indexOf('=')), a.slice(a.indexOf('=') + 1)]),
);
const DEPS = [
  ['zod', 'schemas (config, bookings, wire contract)'],
  ['libphonenumber-js/max', 'dial policy, masking (max metadata)'],
  ['temporal-polyfill', 'parsing `once.at` instants (zone rules: tzdata, agent/schedule/tzif.ts)'],
  ['pino', 'logs'],
  ['systeminformation', 'GET /v1/system static facts'],
  ['better-sqlite3', 'the store'],
  ['mqtt', 'the cloud link (loaded only with mqtt.enabled)'],
  ['serialport', 'AT modem driver (loaded only by hal.modem.driver=at)'],
];

function measure(imports, runs = 5) {
  const code = `${imports.map((m) => `await import(${JSON.stringify(m)});`).join('')}
for (let i = 0; i < 3; i++) { globalThis.gc(); await new Promise((r) => setTimeout(r, 30)); }
const s = (await import('node:fs')).readFileSync('/proc/self/status', 'utf8');
console.log(/VmRSS:\\s+(\\d+)/.exec(s)[1], process.memoryUsage().heapUsed);`;
  const rows = [];
  for (let i = 0; i < runs; i++) {
    const r = spawnSync(
      process.execPath,
      [...FLAGS, '--expose-gc', '--input-type=module', '-e', code],
      { cwd: root, encoding: 'utf8', env: { ...process.env, ...ENV } },
    );
    if (r.status !== 0) throw new Error(`import of ${imports.join(', ')} failed:\n${r.stderr}`);
    rows.push(r.stdout.trim().split(' ').map(Number));
  }
  const med = (k) => rows.map((x) => x[k]).sort((a, b) => a - b)[Math.floor(runs / 2)];
  return { rssMb: med(0) / 1024, heapMb: med(1) / 1048576 };
}

const f = (x) => (x >= 0 ? '+' : '') + x.toFixed(1);
const bare = measure([]);
const all = DEPS.map(([d]) => d);
const full = measure(all);
console.log(`node ${process.version}, flags: ${FLAGS.join(' ') || '(none)'}`);
console.log(`bare node: RSS ${bare.rssMb.toFixed(1)} MB, heap ${bare.heapMb.toFixed(1)} MB`);
console.log(
  `all dependencies below: RSS ${full.rssMb.toFixed(1)} MB, heap ${full.heapMb.toFixed(1)} MB\n`,
);
console.log('| dependency | used for | alone: RSS / heap (MB) | marginal: RSS / heap (MB) |');
console.log('| --- | --- | --- | --- |');
for (const [dep, what] of DEPS) {
  const alone = measure([dep]);
  const without = measure(all.filter((d) => d !== dep));
  console.log(
    `| ${dep} | ${what} | ${f(alone.rssMb - bare.rssMb)} / ${f(alone.heapMb - bare.heapMb)} | ${f(full.rssMb - without.rssMb)} / ${f(full.heapMb - without.heapMb)} |`,
  );
}

// The agent's own modules, as they are and as one bundle.
const mainJs = join(root, 'dist/agent/main.js');
const agent = measure([mainJs]);
const out = mkdtempSync(join(tmpdir(), 'companion-bundle-'));
try {
  const bundle = join(out, 'main.mjs');
  const esbuild = spawnSync(
    join(root, 'node_modules/.bin/esbuild'),
    [
      mainJs,
      '--bundle',
      '--minify',
      '--platform=node',
      '--format=esm',
      `--outfile=${bundle}`,
      '--external:better-sqlite3',
      '--external:serialport',
      '--external:@serialport/*',
      '--banner:js=import { createRequire as __cr } from "module"; const require = __cr(import.meta.url);',
      '--log-level=error',
    ],
    { encoding: 'utf8' },
  );
  if (esbuild.status !== 0) throw new Error(esbuild.stderr);
  // Resolve the bundle's external native modules from the project.
  spawnSync('ln', ['-s', join(root, 'node_modules'), join(out, 'node_modules')]);
  const bundled = measure([bundle]);
  console.log(
    `\nagent/main.js (everything \`run\` loads, link off): RSS ${f(agent.rssMb - bare.rssMb)} MB, heap ${f(agent.heapMb - bare.heapMb)} MB over bare node`,
  );
  console.log(
    `the same as one esbuild bundle: RSS ${f(bundled.rssMb - bare.rssMb)} MB, heap ${f(bundled.heapMb - bare.heapMb)} MB over bare node`,
  );
} finally {
  rmSync(out, { recursive: true, force: true });
}
