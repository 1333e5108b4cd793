/**
 * The Prometheus text exposition format (version 0.0.4) for the few metric kinds GET /metrics
 * serves: labelled counters, a plain histogram, and gauges read at scrape time.
 *
 * Why not prom-client (issue 14): loading it cost the idle agent ~1.4 MB of RSS and pulled in
 * node's `cluster`, `dgram`, `http` client, `https`, `zlib` and `perf_hooks` (its push gateway,
 * cluster aggregator and default metrics, none of which the agent uses). What the agent needs is
 * the text format, ~100 lines; test/diagnostics/prometheus.test.ts checks it with the Python
 * client's own parser (python3-prometheus-client), an independent reading of the format.
 *
 * A gauge whose reading is null has no sample at all: "unknown" is absent, never a made-up 0
 * (a signal of 0 dBm would read as perfect, an audio_ok of 0 as a failure).
 */

export const PROMETHEUS_CONTENT_TYPE = 'text/plain; version=0.0.4; charset=utf-8';

type LabelValues<L extends string> = Record<L, string | number>;

interface Metric {
  render(out: string[]): void;
}

const escapeHelp = (s: string) => s.replace(/\\/g, '\\\\').replace(/\n/g, '\\n');
const escapeLabel = (s: string) =>
  s.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n');

/** A sample value as the format spells it (Go's ParseFloat reads every one of these back). */
export function formatValue(v: number): string {
  if (Number.isNaN(v)) return 'NaN';
  if (v === Infinity) return '+Inf';
  if (v === -Infinity) return '-Inf';
  return String(v);
}

function labelText(names: readonly string[], values: readonly string[]): string {
  if (names.length === 0) return '';
  return `{${names.map((n, i) => `${n}="${escapeLabel(values[i]!)}"`).join(',')}}`;
}

const NAME = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/;
const LABEL = /^[a-zA-Z_][a-zA-Z0-9_]*$/;

function header(out: string[], name: string, help: string, type: string): void {
  out.push(`# HELP ${name} ${escapeHelp(help)}`, `# TYPE ${name} ${type}`);
}

/** A counter with labels; a label set appears once it has been counted. */
export class Counter<L extends string> implements Metric {
  private readonly values = new Map<string, { labels: string[]; value: number }>();

  constructor(
    readonly name: string,
    readonly help: string,
    readonly labelNames: readonly L[],
  ) {}

  inc(labels: LabelValues<L>, by = 1): void {
    if (!(by >= 0)) throw new RangeError(`${this.name}: a counter only goes up (got ${by})`);
    const values = this.labelNames.map((n) => String(labels[n]));
    const key = values.join('\u0000');
    const entry = this.values.get(key);
    if (entry) entry.value += by;
    else this.values.set(key, { labels: values, value: by });
  }

  render(out: string[]): void {
    header(out, this.name, this.help, 'counter');
    for (const { labels, value } of this.values.values())
      out.push(`${this.name}${labelText(this.labelNames, labels)} ${formatValue(value)}`);
  }
}

/** A histogram without labels: cumulative buckets, `+Inf`, `_sum` and `_count`. */
export class Histogram implements Metric {
  private readonly counts: number[];
  private sum = 0;
  private count = 0;

  constructor(
    readonly name: string,
    readonly help: string,
    readonly buckets: readonly number[],
  ) {
    if (buckets.some((b, i) => !Number.isFinite(b) || (i > 0 && b <= buckets[i - 1]!)))
      throw new RangeError(`${name}: buckets must be finite and increasing`);
    this.counts = buckets.map(() => 0);
  }

  observe(v: number): void {
    for (let i = 0; i < this.buckets.length; i++) if (v <= this.buckets[i]!) this.counts[i]!++;
    this.sum += v;
    this.count++;
  }

  render(out: string[]): void {
    header(out, this.name, this.help, 'histogram');
    this.buckets.forEach((b, i) =>
      out.push(`${this.name}_bucket{le="${formatValue(b)}"} ${this.counts[i]}`),
    );
    out.push(`${this.name}_bucket{le="+Inf"} ${this.count}`);
    out.push(`${this.name}_sum ${formatValue(this.sum)}`, `${this.name}_count ${this.count}`);
  }
}

/** A gauge read at scrape time: one value, or one per value of a single label. */
class Gauge implements Metric {
  constructor(
    readonly name: string,
    readonly help: string,
    private readonly read: () => number | null | Record<string, number>,
    private readonly label: string | null,
  ) {}

  render(out: string[]): void {
    header(out, this.name, this.help, 'gauge');
    const v = this.read();
    if (v === null) return;
    if (typeof v === 'number') out.push(`${this.name} ${formatValue(v)}`);
    else
      for (const [value, n] of Object.entries(v))
        out.push(`${this.name}${labelText([this.label!], [value])} ${formatValue(n)}`);
  }
}

/** The metrics of one owner, rendered in the order they were made. */
export class Registry {
  private readonly metrics: Metric[] = [];
  private readonly names = new Set<string>();

  private add<M extends Metric>(name: string, labels: readonly string[], m: M): M {
    if (!NAME.test(name)) throw new Error(`metric name ${JSON.stringify(name)} is not valid`);
    const bad = labels.find((l) => !LABEL.test(l) || l.startsWith('__') || l === 'le');
    if (bad !== undefined) throw new Error(`${name}: label ${JSON.stringify(bad)} is not valid`);
    if (this.names.has(name)) throw new Error(`metric ${name} is registered twice`);
    this.names.add(name);
    this.metrics.push(m);
    return m;
  }

  counter<L extends string>(name: string, help: string, labelNames: readonly L[]): Counter<L> {
    return this.add(name, labelNames, new Counter(name, help, labelNames));
  }

  histogram(name: string, help: string, buckets: readonly number[]): Histogram {
    return this.add(name, [], new Histogram(name, help, buckets));
  }

  /** `read` gives the value at scrape time; null leaves the gauge without a sample. */
  gauge(name: string, help: string, read: () => number | null): void {
    this.add(name, [], new Gauge(name, help, read, null));
  }

  /** One sample per key of what `read` gives, labelled `label="key"`. */
  gaugeByLabel(name: string, help: string, label: string, read: () => Record<string, number>) {
    this.add(name, [label], new Gauge(name, help, read, label));
  }

  /** The whole exposition, ending with a newline. */
  text(): string {
    const out: string[] = [];
    for (const m of this.metrics) m.render(out);
    return out.join('\n') + '\n';
  }
}
