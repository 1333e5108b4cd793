/**
 * Prometheus metrics for GET /metrics, on a Registry this object owns (never prom-client's global
 * one, so two agents in one test process do not collide). Counters and the lateness histogram are
 * fed by the Agent's observers; gauges are read from the store, modem and link at scrape time, so
 * nothing here wakes the process between scrapes. No default process metrics: their event-loop
 * monitor would add a timer to an idle unit.
 */
import { Counter, Gauge, Histogram, Registry } from 'prom-client';
import type { AgentDeps } from '../app.js';

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
  private readonly calls: Counter<'outcome' | 'kind'>;
  private readonly lateness: Histogram;
  private readonly planPass: Histogram;
  private readonly audioFailures: Counter<'phase' | 'step'>;

  constructor() {
    const registers = [this.registry];
    this.calls = new Counter({
      name: 'companion_calls_total',
      help: 'Call attempts by how they ended (completed, busy, no_answer, refused, modem_error...)',
      labelNames: ['outcome', 'kind'],
      registers,
    });
    this.lateness = new Histogram({
      name: 'companion_firing_lateness_seconds',
      help: 'Slot time to dial issued, first attempts of booked calls',
      buckets: [0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 15, 60, 300],
      registers,
    });
    this.planPass = new Histogram({
      name: 'companion_scheduler_pass_seconds',
      help: 'Duration of one scheduler planning pass',
      buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.1, 0.5],
      registers,
    });
    this.audioFailures = new Counter({
      name: 'companion_audio_failures_total',
      help: 'Audio steps around calls that failed (phase prepare|restore; the call still went out)',
      labelNames: ['phase', 'step'],
      registers,
    });
    const read = () => this.readings?.() ?? null;
    const gauge = (
      name: string,
      help: string,
      value: (r: MetricReadings) => number | null,
    ): void => {
      new Gauge({
        name,
        help,
        registers,
        collect() {
          const r = read();
          const v = r ? value(r) : null;
          if (v === null) this.reset();
          else this.set(v);
        },
      });
    };
    new Gauge({
      name: 'companion_queue_depth',
      help: 'Runs owed and not finished, by state',
      labelNames: ['state'],
      registers,
      collect() {
        const r = read();
        for (const s of QUEUE_STATES) this.set({ state: s }, r?.queue[s] ?? 0);
      },
    });
    gauge(
      'companion_outbox_backlog',
      'Events not yet acknowledged by the cloud',
      (r) => r.outboxBacklog,
    );
    gauge(
      'companion_outbox_oldest_unsent_age_seconds',
      'Age of the oldest unsent event',
      (r) => r.outboxOldestAgeSec ?? 0,
    );
    gauge('companion_dead_letters', 'Runs in the dead letter (replayable)', (r) => r.deadLetters);
    gauge('companion_store_size_bytes', 'Size of the SQLite store', (r) => r.storeBytes);
    gauge('companion_clock_trusted', '1 when the wall clock is trusted', (r) => +r.clockTrusted);
    gauge('companion_modem_usable', '1 when a call can be placed now', (r) => +r.modemUsable);
    gauge('companion_modem_signal_dbm', 'Modem signal strength (dBm)', (r) => r.modemSignalDbm);
    gauge('companion_audio_ok', '1 when the audio driver answers', (r) =>
      r.audioOk === null ? null : +r.audioOk,
    );
    gauge('companion_link_enabled', '1 when the MQTT link is configured', (r) => +r.linkEnabled);
    gauge('companion_link_connected', '1 when the MQTT link is connected', (r) => +r.linkConnected);
    gauge('companion_uptime_seconds', 'Seconds since the agent started', (r) => r.uptimeSec);
    gauge('companion_process_resident_memory_bytes', 'Resident set size of the agent process', () =>
      process.memoryUsage.rss(),
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

  async text(): Promise<{ contentType: string; body: string }> {
    return { contentType: this.registry.contentType, body: await this.registry.metrics() };
  }
}
