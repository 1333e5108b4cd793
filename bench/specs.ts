/**
 * The goals of issue 14 / DESIGN.md and the floor each figure is bound by. Shared by `npm run bench`
 * (bench/run.ts) and the README table generator (scripts/bench-table.mjs).
 */
import { round } from './stats.js';

export type Figures = Record<string, number>;

/**
 * Every reported figure: the floor it is bound by (a key measured in this run, or a function of
 * them), which way is better (the ratio is always figure / floor: for a "time" lower is better, for a
 * "rate" it is the share of the floor's speed reached), and the goal from the issue / DESIGN.md.
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
  retry_lateness_p50_ms: {
    floor: k('floor_timer_2commits_p50_ms'),
    kind: 'time',
    goal: '≤ 1.5× floor',
  },
  retry_lateness_p99_ms: {
    floor: k('floor_timer_2commits_p99_ms'),
    kind: 'time',
    goal: '≤ 1.5× floor (bar ≤ 100 ms)',
  },
  commits_per_call: { floor: () => 2, kind: 'time', goal: '≤ 2 FULL' },
  light_commits_per_call: { floor: () => 2, kind: 'time', goal: '— (NORMAL-sync progress marks)' },
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
  rss_anon_idle_10k_bookings_mqtt_mb: {
    floor: () => undefined,
    kind: 'time',
    goal: '— (its anonymous part: heaps, not the node binary)',
  },
  rss_idle_after_resend_mb: {
    floor: k('floor_node_deps_mqtt_rss_mb'),
    kind: 'time',
    goal: '≤ 60 MB (idle, after the first re-send of 20,000 unreceipted events)',
  },
  rss_under_traffic_mb: { floor: k('floor_node_deps_mqtt_rss_mb'), kind: 'time', goal: '≤ 75 MB' },
  rss_peak_backlog_drain_mb: {
    floor: k('floor_node_deps_mqtt_rss_mb'),
    kind: 'time',
    goal: '≤ 75 MB (the under-traffic goal)',
  },
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
    const ratio = v / floor;
    // A zero floor (idle costs) has no ratio: the figure itself is the overhead.
    if (Number.isFinite(ratio) && floor !== 0) out[`${name}_ratio`] = round(ratio, 2);
  }
  return out;
}
