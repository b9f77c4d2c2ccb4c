import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { CounterFamily, GaugeFamily, HistogramFamily } from "../../src/metric-families.js";
import { entryKey } from "../../src/store/revocation-store.js";
import { parsePrometheus, sampleValue } from "../helpers/prometheus.js";

const render = (family: { render(out: string[]): void }) => {
  const out: string[] = [];
  family.render(out);
  return `${out.join("\n")}\n`;
};

describe("metric families, in the Prometheus text format", () => {
  it("counts per label set, and shows a label-less family at 0 before its first increment", () => {
    const counter = new CounterFamily("calls_total", "Calls.", ["rpc", "code"]);
    const ok = counter.labels("Info", "ok");
    ok.inc();
    ok.inc(2);
    counter.labels("Info", "unauthenticated").inc();
    const samples = parsePrometheus(render(counter));
    expect(sampleValue(samples, "calls_total", { rpc: "Info", code: "ok" })).toBe(3);
    expect(sampleValue(samples, "calls_total", { rpc: "Info", code: "unauthenticated" })).toBe(1);
    expect(render(new CounterFamily("plain_total", "Plain."))).toContain("\nplain_total 0\n");
    expect(render(counter)).toMatch(/^# HELP calls_total Calls\.\n# TYPE calls_total counter\n/);
  });

  it("goes up and down as a gauge", () => {
    const gauge = new GaugeFamily("in_flight", "Now.", ["rpc"]);
    const child = gauge.labels("Info");
    child.inc();
    child.inc();
    child.dec();
    expect(sampleValue(parsePrometheus(render(gauge)), "in_flight", { rpc: "Info" })).toBe(1);
  });

  it("renders histogram buckets cumulative, with +Inf, _sum and _count", () => {
    const histogram = new HistogramFamily("latency_seconds", "Latency.", ["op"], [0.1, 1]);
    const child = histogram.labels("check");
    for (const v of [0.05, 0.1, 0.5, 2]) child.observe(v);
    const samples = parsePrometheus(render(histogram));
    expect(sampleValue(samples, "latency_seconds_bucket", { op: "check", le: "0.1" })).toBe(2);
    expect(sampleValue(samples, "latency_seconds_bucket", { op: "check", le: "1" })).toBe(3);
    expect(sampleValue(samples, "latency_seconds_bucket", { op: "check", le: "+Inf" })).toBe(4);
    expect(sampleValue(samples, "latency_seconds_count", { op: "check" })).toBe(4);
    expect(sampleValue(samples, "latency_seconds_sum", { op: "check" })).toBeCloseTo(2.65);
  });

  it("escapes label values", () => {
    const counter = new CounterFamily("odd_total", "Odd.", ["v"]);
    counter.labels('a "quoted" \\ value\nwith a newline').inc();
    expect(render(counter)).toContain('odd_total{v="a \\"quoted\\" \\\\ value\\nwith a newline"} 1');
  });
});

describe("entry keys", () => {
  it("are the JSON pair of issuer and jti or subject, whatever the strings, with the issuer's prefix kept between calls", () => {
    fc.assert(
      fc.property(fc.string(), fc.string(), fc.string(), (issuer, jti, subject) => {
        expect(entryKey({ scope: "jti", issuer, jti })).toBe(`j:${JSON.stringify([issuer, jti])}`);
        expect(entryKey({ scope: "subject", issuer, subject })).toBe(`s:${JSON.stringify([issuer, subject])}`);
      }),
    );
  });
});
