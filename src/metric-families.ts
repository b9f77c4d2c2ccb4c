/**
 * Counters, gauges and histograms for the hot path, rendered in the
 * Prometheus text format (version 0.0.4). prom-client re-validates and
 * re-hashes the label set on every `inc` and `observe`, even through a child
 * from `labels()`: measured with callgrind, its request counter, latency
 * histograms and in-flight gauge cost about 60,000 instructions a request, a
 * sixth of a REST `GET /info`. Here a child is resolved once per label set
 * and recording is an addition. prom-client still renders Node's process
 * metrics beside these.
 *
 * Each family also reports itself in prom-client's JSON form (what
 * `Registry.getMetricsAsJSON()` returns), with the `aggregator` that says how
 * to combine it across processes: under WORKERS=N the primary sums the
 * workers' families with `AggregatorRegistry.aggregate` (src/cluster-metrics.ts).
 */

/** One label set's recorder. */
export interface CounterChild {
  inc(by?: number): void;
}
export interface GaugeChild {
  inc(): void;
  dec(): void;
}
export interface HistogramChild {
  observe(value: number): void;
}

/**
 * How a metric combines across worker processes: prom-client's aggregator names
 * (`sum` adds the series with equal labels, `max` keeps the largest, `first`
 * the first worker's, `omit` drops the metric).
 */
export type Aggregator = "sum" | "max" | "min" | "average" | "first" | "omit";

/** One sample in prom-client's JSON form: `metricName` for a histogram's `_bucket`, `_sum` and `_count`. */
export interface SampleJson {
  value: number;
  labels: Record<string, string>;
  metricName?: string;
}

/** A family in prom-client's JSON form (an element of `Registry.getMetricsAsJSON()`), for `AggregatorRegistry.aggregate`. */
export interface MetricJson {
  name: string;
  help: string;
  type: "counter" | "gauge" | "histogram";
  aggregator: Aggregator;
  values: SampleJson[];
}

/** A metric family: a name, a type, label names, and a series per label set. */
export interface MetricFamily {
  readonly name: string;
  render(out: string[]): void;
  /** The same samples as {@link render}, as data. */
  collect(): MetricJson;
}

/** A label value as the text format quotes it. */
const escapeLabel = (value: string) => value.replace(/\\/g, "\\\\").replace(/"/g, '\\"').replace(/\n/g, "\\n");

/** `{a="x",b="y"}` for these names and values, "" without labels; `extra` is appended (a histogram's `le`). */
function labelText(names: readonly string[], values: readonly string[], extra?: string): string {
  const parts = names.map((name, i) => `${name}="${escapeLabel(values[i]!)}"`);
  if (extra !== undefined) parts.push(extra);
  return parts.length === 0 ? "" : `{${parts.join(",")}}`;
}

/** `{a: "x", b: "y"}` for these names and values. */
function labelObject(names: readonly string[], values: readonly string[]): Record<string, string> {
  const labels: Record<string, string> = {};
  names.forEach((name, i) => {
    labels[name] = values[i]!;
  });
  return labels;
}

const formatNumber = (n: number) => String(n);

/** A family's `# HELP` and `# TYPE` lines. */
const headerLines = (name: string, help: string, type: string) => [
  `# HELP ${name} ${help.replace(/\\/g, "\\\\").replace(/\n/g, "\\n")}`,
  `# TYPE ${name} ${type}`,
];

/** Shared by the three families: series by joined label values, each made once. */
abstract class Family<Series> implements MetricFamily {
  protected readonly series = new Map<string, { values: string[]; data: Series }>();
  constructor(
    readonly name: string,
    private readonly help: string,
    private readonly type: "counter" | "gauge" | "histogram",
    protected readonly labelNames: readonly string[],
    private readonly aggregator: Aggregator,
  ) {}

  /** A family without labels has its one series from the start, at 0, as Prometheus expects. */
  protected init(): void {
    if (this.labelNames.length === 0) this.seriesFor([]);
  }

  protected seriesFor(values: readonly string[]): Series {
    if (values.length !== this.labelNames.length) throw new Error(`${this.name} takes labels ${this.labelNames.join(", ")}`);
    const key = values.join("\u0000");
    let entry = this.series.get(key);
    if (entry === undefined) {
      entry = { values: [...values], data: this.make() };
      this.series.set(key, entry);
    }
    return entry.data;
  }

  protected abstract make(): Series;
  protected abstract lines(values: string[], data: Series, out: string[]): void;
  protected abstract samples(labels: Record<string, string>, data: Series, out: SampleJson[]): void;

  render(out: string[]): void {
    out.push(...headerLines(this.name, this.help, this.type));
    for (const { values, data } of this.series.values()) this.lines(values, data, out);
  }

  collect(): MetricJson {
    const values: SampleJson[] = [];
    for (const series of this.series.values()) this.samples(labelObject(this.labelNames, series.values), series.data, values);
    return { name: this.name, help: this.help, type: this.type, aggregator: this.aggregator, values };
  }
}

/** A monotonic count per label set; across workers, counts add up. */
export class CounterFamily extends Family<{ value: number }> {
  constructor(name: string, help: string, labelNames: readonly string[] = []) {
    super(name, help, "counter", labelNames, "sum");
    this.init();
  }
  /** The recorder for these label values (in label-name order); keep it, it is the fast part. */
  labels(...values: string[]): CounterChild {
    const data = this.seriesFor(values);
    return {
      inc: (by = 1) => {
        data.value += by;
      },
    };
  }
  protected make() {
    return { value: 0 };
  }
  protected lines(values: string[], data: { value: number }, out: string[]) {
    out.push(`${this.name}${labelText(this.labelNames, values)} ${formatNumber(data.value)}`);
  }
  protected samples(labels: Record<string, string>, data: { value: number }, out: SampleJson[]) {
    out.push({ value: data.value, labels });
  }
}

/** A value that goes up and down per label set; `aggregator` says how workers' values combine. */
export class GaugeFamily extends Family<{ value: number }> {
  constructor(name: string, help: string, labelNames: readonly string[] = [], aggregator: Aggregator = "sum") {
    super(name, help, "gauge", labelNames, aggregator);
    this.init();
  }
  labels(...values: string[]): GaugeChild {
    const data = this.seriesFor(values);
    return {
      inc: () => {
        data.value++;
      },
      dec: () => {
        data.value--;
      },
    };
  }
  protected make() {
    return { value: 0 };
  }
  protected lines(values: string[], data: { value: number }, out: string[]) {
    out.push(`${this.name}${labelText(this.labelNames, values)} ${formatNumber(data.value)}`);
  }
  protected samples(labels: Record<string, string>, data: { value: number }, out: SampleJson[]) {
    out.push({ value: data.value, labels });
  }
}

/** A gauge without labels whose value is read when scraped (undefined: no sample, as when nothing is known yet). */
export class SampledGauge implements MetricFamily {
  constructor(
    readonly name: string,
    private readonly help: string,
    private readonly read: () => number | undefined,
    private readonly aggregator: Aggregator = "sum",
  ) {}
  render(out: string[]): void {
    out.push(...headerLines(this.name, this.help, "gauge"));
    const value = this.read();
    if (value !== undefined) out.push(`${this.name} ${formatNumber(value)}`);
  }
  collect(): MetricJson {
    const value = this.read();
    return {
      name: this.name,
      help: this.help,
      type: "gauge",
      aggregator: this.aggregator,
      values: value === undefined ? [] : [{ value, labels: {} }],
    };
  }
}

interface HistogramSeries {
  /** Observations per bucket (not cumulative; summed when rendered); the last is +Inf. */
  counts: Float64Array;
  sum: number;
}

/** Observations in buckets per label set, rendered cumulative with `le`, `_sum` and `_count`; across workers, buckets, sums and counts add up. */
export class HistogramFamily extends Family<HistogramSeries> {
  constructor(
    name: string,
    help: string,
    labelNames: readonly string[],
    private readonly buckets: readonly number[],
  ) {
    super(name, help, "histogram", labelNames, "sum");
  }
  labels(...values: string[]): HistogramChild {
    const data = this.seriesFor(values);
    const { buckets } = this;
    return {
      observe: (value) => {
        let i = 0;
        while (i < buckets.length && value > buckets[i]!) i++;
        data.counts[i]!++;
        data.sum += value;
      },
    };
  }
  protected make(): HistogramSeries {
    return { counts: new Float64Array(this.buckets.length + 1), sum: 0 };
  }
  protected lines(values: string[], data: HistogramSeries, out: string[]) {
    let cumulative = 0;
    for (let i = 0; i <= this.buckets.length; i++) {
      cumulative += data.counts[i]!;
      const le = i < this.buckets.length ? formatNumber(this.buckets[i]!) : "+Inf";
      out.push(`${this.name}_bucket${labelText(this.labelNames, values, `le="${le}"`)} ${cumulative}`);
    }
    out.push(`${this.name}_sum${labelText(this.labelNames, values)} ${formatNumber(data.sum)}`);
    out.push(`${this.name}_count${labelText(this.labelNames, values)} ${cumulative}`);
  }
  protected samples(labels: Record<string, string>, data: HistogramSeries, out: SampleJson[]) {
    let cumulative = 0;
    for (let i = 0; i <= this.buckets.length; i++) {
      cumulative += data.counts[i]!;
      const le = i < this.buckets.length ? formatNumber(this.buckets[i]!) : "+Inf";
      out.push({ metricName: `${this.name}_bucket`, labels: { ...labels, le }, value: cumulative });
    }
    out.push({ metricName: `${this.name}_sum`, labels, value: data.sum });
    out.push({ metricName: `${this.name}_count`, labels, value: cumulative });
  }
}
