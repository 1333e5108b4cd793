/**
 * Prometheus metrics for GET /metrics, on a Registry this object owns (two agents in one test
 * process never share one). Counters and the lateness histogram are fed by the Agent's observers;
 * gauges are read from the store, modem and link at scrape time, so nothing here wakes the process
 * between scrapes. No default process metrics: their event-loop monitor would add a timer to an
 * idle unit. The text format is written by ./prometheus.ts (not prom-client: issue 14).
 */
import type { AgentDeps } from '../app.js';
import { PROMETHEUS_CONTENT_TYPE, Registry, type Counter, type Histogram } from './prometheus.js';

/** What a scrape reads, supplied by the server once the agent runs. */
export interface MetricReadings {
  queue: Record<string, number>;
  outboxBacklog: number;
  outboxOldestAgeSec: number | null;
  deadLetters: number;
  storeBytes: number;
  clockTrusted: boolean;
  modemUsable: boolean;
  modemSignalDbm: number | null;
  /** Null when the wiring has no call audio. */
  audioOk: boolean | null;
  linkEnabled: boolean;
  linkConnected: boolean;
  uptimeSec: number;
}

const QUEUE_STATES = ['pending', 'retry_wait', 'running'] as const;

export class DiagnosticsMetrics {
  readonly registry = new Registry();
  private readings: (() => MetricReadings) | null = null;
  /** This scrape's readings: taken once per scrape, shared by every gauge (see text()). */
  private scrape: MetricReadings | null = null;
  private readonly calls: Counter<'outcome' | 'kind'>;
  private readonly lateness: Histogram;
  private readonly planPass: Histogram;
  private readonly audioFailures: Counter<'phase' | 'step'>;

  constructor() {
    const r = this.registry;
    this.calls = r.counter(
      'companion_calls_total',
      'Call attempts by how they ended (completed, busy, no_answer, refused, modem_error...)',
      ['outcome', 'kind'],
    );
    this.lateness = r.histogram(
      'companion_firing_lateness_seconds',
      'Slot time to dial issued, first attempts of booked calls',
      [0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 15, 60, 300],
    );
    this.planPass = r.histogram(
      'companion_scheduler_pass_seconds',
      'Duration of one scheduler planning pass',
      [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.1, 0.5],
    );
    this.audioFailures = r.counter(
      'companion_audio_failures_total',
      'Audio steps around calls that failed (phase prepare|restore; the call still went out)',
      ['phase', 'step'],
    );
    // A gauge without readings (the agent not attached yet), or with an unknown value, has no
    // sample: absent, not 0.
    const gauge = (name: string, help: string, value: (m: MetricReadings) => number | null) =>
      r.gauge(name, help, () => (this.scrape ? value(this.scrape) : null));
    r.gaugeByLabel('companion_queue_depth', 'Runs owed and not finished, by state', 'state', () =>
      Object.fromEntries(QUEUE_STATES.map((s) => [s, this.scrape?.queue[s] ?? 0])),
    );
    gauge(
      'companion_outbox_backlog',
      'Events not yet acknowledged by the cloud',
      (m) => m.outboxBacklog,
    );
    gauge(
      'companion_outbox_oldest_unsent_age_seconds',
      'Age of the oldest unsent event',
      (m) => m.outboxOldestAgeSec ?? 0,
    );
    gauge('companion_dead_letters', 'Runs in the dead letter (replayable)', (m) => m.deadLetters);
    gauge('companion_store_size_bytes', 'Size of the SQLite store', (m) => m.storeBytes);
    gauge('companion_clock_trusted', '1 when the wall clock is trusted', (m) => +m.clockTrusted);
    gauge('companion_modem_usable', '1 when a call can be placed now', (m) => +m.modemUsable);
    gauge('companion_modem_signal_dbm', 'Modem signal strength (dBm)', (m) => m.modemSignalDbm);
    gauge('companion_audio_ok', '1 when the audio driver answers', (m) =>
      m.audioOk === null ? null : +m.audioOk,
    );
    gauge('companion_link_enabled', '1 when the MQTT link is configured', (m) => +m.linkEnabled);
    gauge('companion_link_connected', '1 when the MQTT link is connected', (m) => +m.linkConnected);
    gauge('companion_uptime_seconds', 'Seconds since the agent started', (m) => m.uptimeSec);
    r.gauge(
      'companion_process_resident_memory_bytes',
      'Resident set size of the agent process',
      () => process.memoryUsage.rss(),
    );
  }

  /** A call-audio step failed (agent/call-audio-report.ts). */
  audioFailure(phase: string, step: string): void {
    this.audioFailures.inc({ phase, step });
  }

  /** Give the agent these, so calls and lateness are counted as they happen. */
  observers(): NonNullable<AgentDeps['observe']> {
    return {
      onDial: (_run, latenessMs) => {
        if (latenessMs !== null) this.lateness.observe(Math.max(0, latenessMs) / 1000);
      },
      onOutcome: (run, outcome) => this.calls.inc({ outcome, kind: run.kind }),
      onPlanPass: (_r, ms) => this.planPass.observe(ms / 1000),
    };
  }

  attach(readings: () => MetricReadings): void {
    this.readings = readings;
  }

  detach(): void {
    this.readings = null;
  }

  /**
   * One scrape. The readings are taken once and every gauge reads from them: they count the
   * outbox's unreceipted events and the runs by state, ~0.7 ms with 20,000 events owed — taken per
   * gauge, 13 times, a scrape cost 12.8 ms of the agent's CPU (issue 14), and the gauges of one
   * scrape could disagree with each other.
   */
  text(): { contentType: string; body: string } {
    this.scrape = this.readings?.() ?? null;
    try {
      return { contentType: PROMETHEUS_CONTENT_TYPE, body: this.registry.text() };
    } finally {
      this.scrape = null;
    }
  }
}
