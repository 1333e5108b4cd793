/**
 * GET /metrics's text format (agent/diagnostics/prometheus.ts), read back by an independent
 * implementation: the Python client's own parser (Debian's python3-prometheus-client), the way a
 * Prometheus server or an exporter test would read it. Escaping, bucket arithmetic, non-finite values
 * and absent gauges are what a hand-written exposition gets wrong; each is checked here.
 */
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { DiagnosticsMetrics, type MetricReadings } from '../../agent/diagnostics/metrics.js';
import { formatValue, Registry } from '../../agent/diagnostics/prometheus.js';

const PYTHON = process.env.COMPANION_TEST_PYTHON ?? '/usr/bin/python3';
const SCRIPT = fileURLToPath(new URL('./python/parse_metrics.py', import.meta.url));

interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number | string;
}
interface Family {
  name: string;
  type: string;
  help: string;
  samples: Sample[];
}

/** The exposition as Python's prometheus_client parses it. */
function pythonParse(text: string): Promise<Family[]> {
  return new Promise((resolve, reject) => {
    const child = spawn(PYTHON, ['-B', SCRIPT], { stdio: ['pipe', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => (out += d));
    child.stderr.setEncoding('utf8').on('data', (d: string) => (err += d));
    child.on('error', (e) => reject(new Error(`cannot run ${PYTHON}: ${e.message}`)));
    child.on('close', (code) =>
      code === 0
        ? resolve(JSON.parse(out) as Family[])
        : reject(new Error(`parse_metrics.py exited ${code}:\n${err}\n--- input:\n${text}`)),
    );
    child.stdin.end(text);
  });
}

const samples = (families: Family[]) => families.flatMap((f) => f.samples);

describe('Prometheus text format, read by the Python client', () => {
  it('counters, a histogram and gauges parse back to what was recorded', async () => {
    const r = new Registry();
    const calls = r.counter('t_calls_total', 'Calls by outcome', ['outcome', 'kind']);
    calls.inc({ outcome: 'completed', kind: 'booking' });
    calls.inc({ outcome: 'completed', kind: 'booking' }, 2);
    calls.inc({ outcome: 'busy', kind: 'test' });
    const h = r.histogram('t_lateness_seconds', 'Lateness', [0.01, 0.1, 1]);
    for (const v of [0.005, 0.01, 0.05, 0.5, 7]) h.observe(v);
    r.gauge('t_signal_dbm', 'Signal', () => -71);
    r.gauge('t_unknown', 'Not known now', () => null);
    r.gaugeByLabel('t_queue', 'Queue', 'state', () => ({ pending: 2, running: 0 }));
    const families = await pythonParse(r.text());
    expect(families.map((f) => [f.name, f.type])).toEqual([
      ['t_calls', 'counter'],
      ['t_lateness_seconds', 'histogram'],
      ['t_signal_dbm', 'gauge'],
      ['t_unknown', 'gauge'],
      ['t_queue', 'gauge'],
    ]);
    expect(samples(families)).toEqual([
      { name: 't_calls_total', labels: { outcome: 'completed', kind: 'booking' }, value: 3 },
      { name: 't_calls_total', labels: { outcome: 'busy', kind: 'test' }, value: 1 },
      // Cumulative: every bucket counts what is at or below its bound.
      { name: 't_lateness_seconds_bucket', labels: { le: '0.01' }, value: 2 },
      { name: 't_lateness_seconds_bucket', labels: { le: '0.1' }, value: 3 },
      { name: 't_lateness_seconds_bucket', labels: { le: '1' }, value: 4 },
      { name: 't_lateness_seconds_bucket', labels: { le: '+Inf' }, value: 5 },
      { name: 't_lateness_seconds_sum', labels: {}, value: 0.005 + 0.01 + 0.05 + 0.5 + 7 },
      { name: 't_lateness_seconds_count', labels: {}, value: 5 },
      { name: 't_signal_dbm', labels: {}, value: -71 },
      // t_unknown: no sample at all (absent, not 0)
      { name: 't_queue', labels: { state: 'pending' }, value: 2 },
      { name: 't_queue', labels: { state: 'running' }, value: 0 },
    ]);
  });

  it('any label value and help text survive escaping (property, through the Python parser)', async () => {
    // One Python run for many cases: each case is its own counter in one registry. The text is any
    // code point, with the characters the format escapes or splits on made common.
    const text = (maxLength: number) =>
      fc.string({
        unit: fc.oneof(
          fc.constantFrom('\\', '"', '\n', '\r', '\t', ' ', '{', '}', '=', ',', '#'),
          fc.string({ unit: 'binary', minLength: 1, maxLength: 1 }),
        ),
        maxLength,
      });
    const cases = fc.sample(
      fc.record({
        // A HELP line's text starts after one space and ends at the line's end, so a parser may
        // trim what surrounds it; what is between (backslashes, newlines, any code point) is kept.
        help: text(30).map((s) => `(${s})`),
        values: fc.uniqueArray(text(20), {
          minLength: 1,
          maxLength: 4,
        }),
        by: fc.integer({ min: 0, max: 1e9 }),
      }),
      { numRuns: 150, seed: 14 },
    );
    const r = new Registry();
    cases.forEach((c, i) => {
      const m = r.counter(`t_case_${i}_total`, c.help, ['v']);
      for (const v of c.values) m.inc({ v }, c.by);
    });
    const families = await pythonParse(r.text());
    expect(families).toHaveLength(cases.length);
    families.forEach((f, i) => {
      const c = cases[i]!;
      expect(f.help).toBe(c.help);
      expect(f.samples).toEqual(
        c.values.map((v) => ({ name: `t_case_${i}_total`, labels: { v }, value: c.by })),
      );
    });
  });

  it('non-finite and fractional values are spelled so the parser reads them back', async () => {
    const r = new Registry();
    const values = [Number.NaN, Infinity, -Infinity, 0.1 + 0.2, 1e-7, -0, 2 ** 53 + 2, 1.5e300];
    values.forEach((v, i) => r.gauge(`t_v${i}`, 'value', () => v));
    const got = samples(await pythonParse(r.text())).map((s) => s.value);
    // -0 is written as 0 (String(-0)); the rest come back as they went in.
    expect(got).toEqual(values.map((v) => (Number.isFinite(v) ? v + 0 : formatValue(v))));
  });

  it('refuses what the format cannot carry: bad names and labels, twice the same name, a counter going down', () => {
    const r = new Registry();
    expect(() => r.gauge('1bad', 'h', () => 1)).toThrow(/not valid/);
    expect(() => r.counter('t_ok_total', 'h', ['le'])).toThrow(/label "le"/);
    expect(() => r.counter('t_ok_total', 'h', ['__x'])).toThrow(/label "__x"/);
    expect(() => r.histogram('t_h', 'h', [1, 1])).toThrow(/increasing/);
    r.gauge('t_once', 'h', () => 1);
    expect(() => r.gauge('t_once', 'h', () => 2)).toThrow(/twice/);
    const c = r.counter('t_c_total', 'h', []);
    expect(() => c.inc({}, -1)).toThrow(/only goes up/);
    expect(() => c.inc({}, Number.NaN)).toThrow(/only goes up/);
  });
});

describe('the agent metrics', () => {
  const readings = (over: Partial<MetricReadings> = {}): MetricReadings => ({
    queue: { pending: 1, retry_wait: 0, running: 0 },
    outboxBacklog: 4,
    outboxOldestAgeSec: 2.5,
    deadLetters: 0,
    storeBytes: 98304,
    clockTrusted: true,
    modemUsable: true,
    modemSignalDbm: -71,
    audioOk: true,
    linkEnabled: true,
    linkConnected: false,
    uptimeSec: 12,
    ...over,
  });

  it('an unknown signal and a unit without call audio have no sample, not a 0 that reads as a value', async () => {
    const m = new DiagnosticsMetrics();
    m.attach(() => readings({ modemSignalDbm: null, audioOk: null }));
    const byName = new Map(samples(await pythonParse(m.text().body)).map((s) => [s.name, s]));
    expect(byName.has('companion_modem_signal_dbm')).toBe(false);
    expect(byName.has('companion_audio_ok')).toBe(false);
    expect(byName.get('companion_link_connected')?.value).toBe(0);
    expect(byName.get('companion_outbox_backlog')?.value).toBe(4);
  });

  it('before the agent is attached only what needs no readings has samples', async () => {
    const m = new DiagnosticsMetrics();
    const names = samples(await pythonParse(m.text().body)).map((s) => s.name);
    expect(names).not.toContain('companion_outbox_backlog');
    expect(names).toContain('companion_process_resident_memory_bytes');
    expect(m.text().contentType).toBe('text/plain; version=0.0.4; charset=utf-8');
  });

  it('a scrape takes the readings once, and all its gauges come from that one reading', async () => {
    // Each reading counts the outbox and the runs (~0.7 ms with 20,000 events owed): taken per
    // gauge, a scrape read them 13 times (12.8 ms) and its gauges could disagree.
    const m = new DiagnosticsMetrics();
    let taken = 0;
    m.attach(() => {
      taken++;
      return readings({ outboxBacklog: taken, deadLetters: taken, uptimeSec: taken });
    });
    for (const scrape of [1, 2]) {
      const byName = new Map(samples(await pythonParse(m.text().body)).map((s) => [s.name, s]));
      expect(taken).toBe(scrape);
      for (const name of [
        'companion_outbox_backlog',
        'companion_dead_letters',
        'companion_uptime_seconds',
      ]) {
        expect(byName.get(name)?.value, name).toBe(scrape);
      }
    }
  });

  it('the observers count calls by outcome and kind and time the lateness', async () => {
    const m = new DiagnosticsMetrics();
    const o = m.observers();
    const run = { kind: 'booking' } as Parameters<NonNullable<typeof o.onOutcome>>[0];
    o.onOutcome?.(run, 'completed');
    o.onOutcome?.(run, 'completed');
    o.onDial?.(run, 30);
    const s = samples(await pythonParse(m.text().body));
    expect(s).toContainEqual({
      name: 'companion_calls_total',
      labels: { outcome: 'completed', kind: 'booking' },
      value: 2,
    });
    expect(s).toContainEqual({
      name: 'companion_firing_lateness_seconds_bucket',
      labels: { le: '0.05' },
      value: 1,
    });
    expect(s).toContainEqual({
      name: 'companion_firing_lateness_seconds_bucket',
      labels: { le: '0.025' },
      value: 0,
    });
  });
});
