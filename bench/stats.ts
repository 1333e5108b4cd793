/** Percentiles and small helpers for the benchmarks. Figures are medians/percentiles, never means. */
export function percentile(values: number[], p: number): number {
  if (values.length === 0) return NaN;
  const s = [...values].sort((a, b) => a - b);
  const idx = Math.min(s.length - 1, Math.max(0, Math.ceil((p / 100) * s.length) - 1));
  return s[idx]!;
}

export const median = (v: number[]) => percentile(v, 50);

export function round(v: number, digits = 2): number {
  const f = 10 ** digits;
  return Math.round(v * f) / f;
}

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * Wall-clock epoch ms at performance.now()'s resolution: latency figures of a few milliseconds
 * read in whole Date.now() milliseconds are mostly rounding (a p99 of 3 or 4 against a floor of 2).
 * Aligned with Date.now() at one of its ticks (a spin of at most 1 ms).
 */
export function preciseWallClock(): () => number {
  const t0 = Date.now();
  let t = t0;
  while (t === t0) t = Date.now();
  const offset = t - performance.now();
  return () => offset + performance.now();
}

/**
 * For the agents the benches build (silent loggers): an unexpected error in the agent is printed
 * before the process exits, as the agent's own handler would log it (agent/app.ts exitFatal).
 */
export function benchFatal(err: unknown, where: string): never {
  console.error(`bench: the agent failed in ${where}:`, err);
  process.exit(70);
}
