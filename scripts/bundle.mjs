// Bundles the agent's command line into one file, in place: dist/agent/cli/main.js (tsc's output,
// which imports ~300 modules) becomes that program and everything it loads except native addons
// and what is only loaded on demand from node_modules. Why (issue 14): resolving, reading and
// compiling hundreds of ES modules was most of the cold start — 523 → 273 ms median here, measured
// with 7 starts each (bench: cold_start_ms). Every launch path (the bin, `npm start`, the Debian
// wrapper, systemd, the tests that spawn the agent) runs this file, so what is tested is what ships.
//
// Names are kept and whitespace is not stripped of meaning: a stack trace in the journal still names
// the function that threw. The rest of dist/ stays as tsc wrote it (the cloud CLI, the bench, the
// conformance kit import it module by module).
import { build } from 'esbuild';
import console from 'node:console';
import { readFileSync, rmSync } from 'node:fs';
import process from 'node:process';

const entry = 'dist/agent/cli/main.js';
const pkg = JSON.parse(readFileSync('package.json', 'utf8'));
if (readFileSync(entry, 'utf8').includes('__bundleRequire')) {
  console.error(`bundle: ${entry} is already a bundle; run the whole build (npm run build)`);
  process.exit(1);
}

/**
 * zod's namespace object carries all of its ~50 message locales (300 KB of the bundle, kept in
 * memory as source for the life of the process: issue 14); the agent only ever speaks English, the
 * locale zod registers by default. The locales index then names English alone.
 */
const englishOnlyZod = {
  name: 'english-only-zod',
  setup(b) {
    b.onLoad({ filter: /[\\/]zod[\\/]v4[\\/]locales[\\/]index\.js$/ }, () => ({
      contents: 'export { default as en } from "./en.js";\n',
      loader: 'js',
    }));
  },
};

await build({
  entryPoints: [entry],
  outfile: entry,
  allowOverwrite: true,
  bundle: true,
  platform: 'node',
  format: 'esm',
  target: `node${pkg.engines.node.replace(/^>=\s*/, '').split('.')[0]}`,
  minifyWhitespace: true,
  minifySyntax: true,
  keepNames: true,
  legalComments: 'none',
  logLevel: 'warning',
  // Native addons and what is only ever loaded on demand (systeminformation for the diagnostics
  // system page, dbus-native for the ModemManager driver) stay in node_modules.
  external: ['better-sqlite3', 'serialport', '@homebridge/dbus-native', 'systeminformation'],
  plugins: [englishOnlyZod],
  // CommonJS dependencies call require(); an ES module has none of its own.
  banner: {
    js: "import { createRequire as __bundleRequire } from 'node:module'; const require = __bundleRequire(import.meta.url);",
  },
});

// The SQL migrations and the diagnostics page stay where copy-assets put them, once: the bundled
// code looks in ../store/migrations and ../diagnostics/ (agent/store/db.ts, diagnostics/page.ts),
// so an upgrade that adds a migration file is seen. Remove copies an older build left here.
rmSync('dist/agent/cli/migrations', { recursive: true, force: true });
rmSync('dist/agent/cli/page.html', { force: true });
// tsc's source map described the file this one replaced.
rmSync(`${entry}.map`, { force: true });
