/**
 * Counters, gauges and histograms for the hot path, rendered in the
 * Prometheus text format (version 0.0.4). prom-client re-validates and
 * re-hashes the label set on every `inc` and `observe`, even through a child
 * from `labels()`: measured with callgrind, its request counter, latency
 * histograms and in-flight gauge cost about 60,000 instructions a request, a
 * sixth of a REST `GET /info`. Here a child is resolved once per label set
 * and recording is an addition. prom-client still renders Node's process
 * metrics beside these.
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

/** A metric family: a name, a type, label names, and a series per label set. */
export interface MetricFamily {
  readonly name: string;
  render(out: string[]): void;
}

/** A label value as the text format quotes it. */
const escapeLabel = (value: string) => value.replace(/\\/g, "\\\\").replace(/"/g, '\\"').replace(/\n/g, "\\n");

/** `{a="x",b="y"}` for these names and values, "" without labels; `extra` is appended (a histogram's `le`). */
function labelText(names: readonly string[], values: readonly string[], extra?: string): string {
  const parts = names.map((name, i) => `${name}="${escapeLabel(values[i]!)}"`);
  if (extra !== undefined) parts.push(extra);
  return parts.length === 0 ? "" : `{${parts.join(",")}}`;
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

  render(out: string[]): void {
    out.push(...headerLines(this.name, this.help, this.type));
    for (const { values, data } of this.series.values()) this.lines(values, data, out);
  }
}

/** A monotonic count per label set. */
export class CounterFamily extends Family<{ value: number }> {
  constructor(name: string, help: string, labelNames: readonly string[] = []) {
    super(name, help, "counter", labelNames);
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
}

/** A value that goes up and down per label set. */
export class GaugeFamily extends Family<{ value: number }> {
  constructor(name: string, help: string, labelNames: readonly string[] = []) {
    super(name, help, "gauge", labelNames);
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
}

/** A gauge without labels whose value is read when scraped (undefined: no sample, as when nothing is known yet). */
export class SampledGauge implements MetricFamily {
  constructor(
    readonly name: string,
    private readonly help: string,
    private readonly read: () => number | undefined,
  ) {}
  render(out: string[]): void {
    out.push(...headerLines(this.name, this.help, "gauge"));
    const value = this.read();
    if (value !== undefined) out.push(`${this.name} ${formatNumber(value)}`);
  }
}

interface HistogramSeries {
  /** Observations per bucket (not cumulative; summed when rendered); the last is +Inf. */
  counts: Float64Array;
  sum: number;
}

/** Observations in buckets per label set, rendered cumulative with `le`, `_sum` and `_count`. */
export class HistogramFamily extends Family<HistogramSeries> {
  constructor(
    name: string,
    help: string,
    labelNames: readonly string[],
    private readonly buckets: readonly number[],
  ) {
    super(name, help, "histogram", labelNames);
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
}
