/**
 * The V8 flags the agent's memory budget relies on (issue 14: RSS ≤ 60 MB idle, ≤ 75 MB under
 * traffic). V8 reads them when the heap is created, so they cannot be set from inside the program
 * (v8.setFlagsFromString is too late for heap sizing); every documented launch path carries them
 * (and NODE_ENV below): the CLI's shebang line, `npm start`, the Debian wrapper
 * (packaging/debian/companion-agent.sh), and NODE_OPTIONS accepts the flags too.
 * test/footprint/node-flags.test.ts keeps those paths in step, and `run` warns when it was started
 * without them.
 *
 * --max-semi-space-size=2: a young generation of at most 2 MiB per semi-space (V8's default grows to
 * 16 MiB under allocation, and keeps it): about 15 MB less RSS than the default. Not 1 MiB: with
 * 1 MiB, rows waiting for their PUBACK outlived the young generation while a backlog drained, V8
 * promoted (and then pretenured) them, and draining 20,000 events after a reconnect peaked at
 * 97–111 MB RSS against 78 MB with 2 MiB; idle and under the bench's traffic the two are within
 * 1–2 MB of each other (issue 14, bench `rss_peak_backlog_drain_mb`).
 *
 * --no-concurrent-recompilation: TurboFan compiles on the main thread instead of V8's worker
 * threads. Each worker thread allocates its compile zones in its own glibc malloc arena, and what
 * it frees there stays resident (only the top of an arena is trimmed): after the linked unit's
 * start-up burst (20,000 events re-sent) five worker arenas held ~10 MB on Node 24 for good —
 * `malloc_trim(0)` called into the idle agent with gdb gave back 11 MB (94.2 → 83.0 MB RSS), and
 * with this flag the agent idles at 82.4 MB with nothing left for malloc_trim to return (82.2).
 * Neither V8's GC threads (--single-threaded-gc: 92.2 MB) nor fewer arenas (MALLOC_ARENA_MAX=1:
 * 91.2, =2: 90.8) moved it (issue 14; the bench's A/B in the README).
 */
export const NODE_FLAGS = ['--max-semi-space-size=2', '--no-concurrent-recompilation'] as const;

/**
 * The environment the budget relies on, read by glibc's malloc when the process starts (so it
 * cannot be set from inside either), carried by the same launch paths as NODE_FLAGS.
 *
 * MALLOC_TRIM_THRESHOLD_=131072: glibc's default value, pinned. Pinning it switches off malloc's
 * dynamic thresholds, which raise the trim threshold after a large block is freed and then keep
 * what V8's background threads (compilers, GC helpers) freed in their arenas: 4.5 MB less idle RSS
 * measured here (issue 14); sync figures within noise in side runs (burst 15,901 → 15,080 /s, round
 * trip p50 1.82 → 1.77 ms).
 */
export const NODE_ENV: Readonly<Record<string, string>> = { MALLOC_TRIM_THRESHOLD_: '131072' };

/** NODE_ENV as `NAME=value` words, for a shell or `env -S` line. */
export const NODE_ENV_WORDS = Object.entries(NODE_ENV).map(([k, v]) => `${k}=${v}`);

/** The budget flags (command line or NODE_OPTIONS) and environment this process started without. */
export function missingNodeFlags(
  execArgv: readonly string[] = process.execArgv,
  env: NodeJS.ProcessEnv = process.env,
): string[] {
  const given = new Set([...execArgv, ...(env.NODE_OPTIONS ?? '').split(/\s+/)]);
  return [
    ...NODE_FLAGS.filter((f) => !given.has(f)),
    ...NODE_ENV_WORDS.filter(
      (w) => env[w.slice(0, w.indexOf('='))] !== w.slice(w.indexOf('=') + 1),
    ),
  ];
}
