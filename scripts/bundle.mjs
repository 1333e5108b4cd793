// Bundles the agent's command line into one file: dist/agent/cli/main.js (tsc's output, which
// imports ~300 modules) and everything it loads, except native addons and what is only loaded on
// demand from node_modules, become dist/agent/cli/main.cjs; main.js becomes a three-line launcher
// that keeps its shebang (the launch flags) and loads it. Why (issue 14): resolving, reading and
// compiling hundreds of ES modules was most of the cold start — 523 → 273 ms median here, measured
// with 7 starts each (bench: cold_start_ms). Every launch path (the bin, `npm start`, the Debian
// wrapper, systemd, the tests that spawn the agent) runs this file, so what is tested is what ships.
//
// CommonJS, not an ES module (issue 14): an ES module's record keeps its top-level code alive for
// the life of the process — for a bundle that is every module's initialisation, 0.7 MB of bytecode
// and literals in the idle agent's heap — and an ES module importing a CommonJS addon makes Node
// load its CommonJS export lexer. A CommonJS wrapper runs once and is garbage after. The bundle is
// strict mode throughout ('use strict' first), as the ES module was.
//
// Names are kept and whitespace is not stripped of meaning: a stack trace in the journal still names
// the function that threw (identifiers are not minified: V8 names a method's receiver by its
// class's source name). The rest of dist/ stays as tsc wrote it (the cloud CLI, the bench, the
// conformance kit import it module by module).
import { build } from 'esbuild';
import console from 'node:console';
import { existsSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import process from 'node:process';

const entry = 'dist/agent/cli/main.js';
const bundle = 'dist/agent/cli/main.cjs';
const LAUNCHER = "import { createRequire } from 'node:module';";
const pkg = JSON.parse(readFileSync('package.json', 'utf8'));
const entrySource = readFileSync(entry, 'utf8');
if (entrySource.includes(LAUNCHER)) {
  console.error(`bundle: ${entry} is already the launcher; run the whole build (npm run build)`);
  process.exit(1);
}
const shebang = entrySource.startsWith('#!') ? entrySource.split('\n', 1)[0] : null;
if (!shebang) {
  console.error(
    `bundle: ${entry} has no shebang line (agent/cli/main.ts carries the launch flags)`,
  );
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

/**
 * Code the agent bundles but never runs, replaced (issue 14: each module kept its source for the life
 * of the process, and some loaded node internals — `tls`, `https`, `zlib`, `querystring`, `dns`,
 * `worker_threads` — that cost RSS even unused). Each replacement names what it stands for and
 * throws a plain error if it is ever reached; a replacement that matches no file fails the build, so
 * a dependency upgrade that moves a file is noticed here, not in the field.
 */
const unused = (what) =>
  `const unused = () => { throw new Error(${JSON.stringify(`${what} is not built into companion-agent (scripts/bundle.mjs)`)}); };`;
const LEAN = [
  {
    // mqtt.js transports other than mqtt:// and mqtts:// (WebSocket via ws, the WeChat and Alipay
    // mini-program sockets) and SOCKS proxies (socks, ip-address, smart-buffer, dns).
    why: 'mqtt.js WebSocket/mini-program transports and SOCKS proxies',
    filter: /[\\/]mqtt[\\/]build[\\/]lib[\\/]connect[\\/](ws|wx|ali|socks)\.js$/,
    contents: `${unused('MQTT over WebSocket, mini-program sockets and SOCKS proxies')}
exports.default = unused; exports.streamBuilder = unused; exports.browserStreamBuilder = unused;`,
  },
  {
    // mqtt.js's timers for browsers that throttle background tabs (lib/get-timer.js uses Node's
    // own timers outside a browser).
    why: 'worker-timers (browser timers)',
    filter: /[\\/]node_modules[\\/]worker-timers[\\/]build[\\/]es[0-9]+[\\/](bundle|module)\.js$/,
    contents: `${unused('worker-timers')}
exports.setInterval = unused; exports.clearInterval = unused;
exports.setTimeout = unused; exports.clearTimeout = unused;`,
  },
  {
    // readable-stream's own switch to Node's streams (its lib/ours/index.js, READABLE_STREAM=disable):
    // mqtt.js and bl get the stream module Node has loaded anyway instead of a second copy.
    why: "readable-stream (Node's own streams instead)",
    filter: /[\\/]readable-stream[\\/]lib[\\/]ours[\\/]index\.js$/,
    contents: `const Stream = require('node:stream');
for (const k of ['_uint8ArrayToBuffer', '_isUint8Array', 'isDisturbed', 'isErrored', 'isReadable',
  'Readable', 'Writable', 'Duplex', 'Transform', 'PassThrough', 'addAbortSignal', 'finished',
  'destroy', 'pipeline', 'compose', 'Stream', 'promises']) exports[k] = Stream[k];
exports.default = exports;`,
  },
  {
    // pino transports run in worker threads (thread-stream); the agent writes to stdout or a
    // stream it passes in.
    why: 'pino transports (thread-stream)',
    filter: /[\\/]pino[\\/]lib[\\/]transport\.js$/,
    contents: `${unused('pino transports')}\nmodule.exports = unused;`,
  },
];

const leanDeps = {
  name: 'lean-deps',
  setup(b) {
    for (const stub of LEAN) {
      b.onLoad({ filter: stub.filter }, () => {
        stub.used = true;
        return { contents: stub.contents, loader: 'js' };
      });
    }
  },
};

/**
 * pino's tools.js loads `worker_threads` only to ask whether it runs on the main thread (to flush
 * its stream at exit). The agent's logger always does; the answer is given in place (a patch that
 * finds nothing to patch fails the build).
 */
const pinoMainThread = {
  name: 'pino-main-thread',
  setup(b) {
    b.onLoad({ filter: /[\\/]pino[\\/]lib[\\/]tools\.js$/ }, (args) => {
      const src = readFileSync(args.path, 'utf8');
      const from = "const { isMainThread } = require('worker_threads')";
      if (!src.includes(from)) throw new Error(`bundle: ${args.path} no longer has: ${from}`);
      pinoMainThread.used = true;
      return { contents: src.replace(from, 'const isMainThread = true'), loader: 'js' };
    });
  },
};

await build({
  entryPoints: [entry],
  outfile: bundle,
  bundle: true,
  platform: 'node',
  format: 'cjs',
  target: `node${pkg.engines.node.replace(/^>=\s*/, '').split('.')[0]}`,
  minifyWhitespace: true,
  minifySyntax: true,
  keepNames: true,
  legalComments: 'none',
  logLevel: 'warning',
  // Native addons and what is only ever loaded on demand (systeminformation for the diagnostics
  // system page, dbus-native for the ModemManager driver) stay in node_modules.
  external: ['better-sqlite3', 'serialport', '@homebridge/dbus-native', 'systeminformation'],
  plugins: [englishOnlyZod, leanDeps, pinoMainThread],
  // The agent's own code finds files beside it through import.meta.url (migrations, the page).
  define: { 'import.meta.url': '__bundleUrl' },
  banner: {
    js: "'use strict'; const __bundleUrl = require('node:url').pathToFileURL(__filename).href;",
  },
});
writeFileSync(entry, `${shebang}\n${LAUNCHER}\ncreateRequire(import.meta.url)('./main.cjs');\n`, {
  mode: 0o755,
});
if (!existsSync(bundle)) throw new Error(`bundle: ${bundle} was not written`);

const unmatched = [
  ...LEAN.filter((s) => !s.used).map((s) => s.why),
  ...(pinoMainThread.used ? [] : ['pino tools.js']),
];
if (unmatched.length > 0) {
  console.error(`bundle: replacements that matched no file (a dependency moved?): ${unmatched}`);
  process.exit(1);
}

// The SQL migrations and the diagnostics page stay where copy-assets put them, once: the bundled
// code looks in ../store/migrations and ../diagnostics/ (agent/store/db.ts, diagnostics/page.ts),
// so an upgrade that adds a migration file is seen. Remove copies an older build left here.
rmSync('dist/agent/cli/migrations', { recursive: true, force: true });
rmSync('dist/agent/cli/page.html', { force: true });
// tsc's source map described the file the launcher replaced.
rmSync(`${entry}.map`, { force: true });
