import { AggregatorRegistry } from "prom-client";
import { describe, expect, it } from "vitest";
import { type PrimaryChannel, workerMetrics } from "../../src/cluster-metrics.js";
import { createMetrics } from "../../src/metrics.js";
import { MetricsUnavailable } from "../../src/server/operational-routes.js";
import { eventually } from "../helpers/eventually.js";
import { parsePrometheus, sampleValue } from "../helpers/prometheus.js";

/** Two workers' metrics, summed as the primary sums them. */
async function sumOf(...collected: Awaited<ReturnType<ReturnType<typeof createMetrics>["collect"]>>[]) {
  return parsePrometheus(await AggregatorRegistry.aggregate(collected).metrics());
}

describe("WORKERS=N aggregation of the service's metrics", () => {
  it("sums counters, histograms and in-flight calls; takes the largest mirror lag and size; sums feed watchers", async () => {
    const workers = [createMetrics(), createMetrics()] as const;
    const [a, b] = workers;
    a.requests.labels("Info", "rest", "ok").inc(3);
    b.requests.labels("Info", "rest", "ok").inc(4);
    b.requests.labels("Info", "grpc", "unauthenticated").inc();
    a.requestSeconds.labels("Info", "rest").observe(0.0002);
    b.requestSeconds.labels("Info", "rest").observe(0.2);
    a.inFlight.labels("Info").inc();
    b.inFlight.labels("Info").inc();
    a.sampled("token_blacklist_feed_lag_seconds", "Lag.", "max", () => 0.5);
    b.sampled("token_blacklist_feed_lag_seconds", "Lag.", "max", () => 2);
    a.sampled("token_blacklist_feed_entries", "Entries.", "max", () => 7);
    b.sampled("token_blacklist_feed_entries", "Entries.", "max", () => 7);
    a.sampled("token_blacklist_feed_watchers", "Watchers.", "sum", () => 1);
    b.sampled("token_blacklist_feed_watchers", "Watchers.", "sum", () => 2);

    const sum = await sumOf(await a.collect(), await b.collect());
    expect(sampleValue(sum, "token_blacklist_requests_total", { rpc: "Info", protocol: "rest", code: "ok" })).toBe(7);
    expect(sampleValue(sum, "token_blacklist_requests_total", { rpc: "Info", protocol: "grpc", code: "unauthenticated" })).toBe(1);
    const latency = "token_blacklist_request_duration_seconds";
    expect(sampleValue(sum, `${latency}_count`, { rpc: "Info", protocol: "rest" })).toBe(2);
    expect(sampleValue(sum, `${latency}_bucket`, { rpc: "Info", protocol: "rest", le: "0.00025" })).toBe(1);
    expect(sampleValue(sum, `${latency}_bucket`, { rpc: "Info", protocol: "rest", le: "+Inf" })).toBe(2);
    expect(sampleValue(sum, `${latency}_sum`, { rpc: "Info", protocol: "rest" })).toBeCloseTo(0.2002);
    expect(sampleValue(sum, "token_blacklist_requests_in_flight", { rpc: "Info" })).toBe(2);
    expect(sampleValue(sum, "token_blacklist_feed_lag_seconds")).toBe(2);
    expect(sampleValue(sum, "token_blacklist_feed_entries")).toBe(7);
    expect(sampleValue(sum, "token_blacklist_feed_watchers")).toBe(3);
    // Node's process metrics, by prom-client's aggregators: memory summed, the start time left out.
    expect(sampleValue(sum, "process_resident_memory_bytes")).toBeGreaterThan(0);
    expect(sum.some((sample) => sample.name === "process_start_time_seconds")).toBe(false);
  });

  it("reports, as data, the very samples it renders as text", async () => {
    const metrics = createMetrics();
    metrics.requests.labels("Info", "rest", 'odd "code"\n').inc(2);
    metrics.requestSeconds.labels("Info", "rest").observe(0.003);
    metrics.storeSeconds.labels("check", "ok").observe(0.00001);
    metrics.failOpen.labels().inc();
    metrics.sampled("token_blacklist_feed_lag_seconds", "Lag.", "max", () => undefined);
    const ours = (text: string) => parsePrometheus(text).filter((sample) => sample.name.startsWith("token_blacklist_"));
    const rendered = ours(await metrics.render());
    expect(rendered.length).toBeGreaterThan(20);
    expect(ours(await AggregatorRegistry.aggregate([await metrics.collect()]).metrics())).toEqual(rendered);
  });
});

describe("a worker's /metrics under WORKERS=N", () => {
  const local = createMetrics();

  it("fails with MetricsUnavailable (503) when the primary does not answer in time", async () => {
    const sent: unknown[] = [];
    const silent: PrimaryChannel = { send: (message) => sent.push(message), on: () => {} };
    const started = Date.now();
    const error = await workerMetrics(local, silent, 50)
      .render()
      .catch((err: unknown) => err);
    expect(error).toBeInstanceOf(MetricsUnavailable);
    expect((error as Error).message).toBe("the primary process did not answer within 50 ms");
    expect(Date.now() - started).toBeGreaterThanOrEqual(45);
    expect(sent).toHaveLength(2); // "ready", then the scrape request
  });

  it("fails with MetricsUnavailable when the channel to the primary is closed", async () => {
    const closed: PrimaryChannel = { send: (_message, callback) => callback(new Error("channel closed")), on: () => {} };
    const error = await workerMetrics(local, closed, 5000)
      .render()
      .catch((err: unknown) => err);
    expect(error).toBeInstanceOf(MetricsUnavailable);
    expect((error as Error).message).toBe("cannot reach the primary process: channel closed");
  });

  it("serves the primary's answer, and sends the primary its metrics with NaN and infinities as strings", async () => {
    let deliver: (message: unknown) => void = () => {};
    const sent: Array<{ type: string; id?: number; metrics?: Array<{ name: string; values: Array<{ value: unknown }> }> }> = [];
    const channel: PrimaryChannel = {
      send: (message, callback) => {
        sent.push(message as (typeof sent)[number]);
        callback(null);
      },
      on: (_event, listener) => (deliver = listener),
    };
    const metrics = createMetrics();
    metrics.sampled("token_blacklist_feed_lag_seconds", "Lag.", "max", () => Number.NaN);
    const worker = workerMetrics(metrics, channel, 1000);
    const scrape = worker.render();
    const request = sent.find((message) => message.id !== undefined)!;
    deliver({ type: "token-blacklist/metrics-scraped", id: request.id, text: "summed\n" });
    expect(await scrape).toBe("summed\n");

    deliver({ type: "token-blacklist/metrics-collect", id: 7 });
    expect(await eventually(async () => sent.some((message) => message.id === 7))).toBe(true);
    const ok = sent.find((message) => message.id === 7);
    expect(ok?.type).toBe("token-blacklist/metrics-collected");
    const lag = ok?.metrics?.find((metric) => metric.name === "token_blacklist_feed_lag_seconds");
    expect(lag?.values).toEqual([{ value: "NaN", labels: {} }]);
    expect(JSON.parse(JSON.stringify(ok))).toEqual(ok); // survives the JSON channel unchanged
  });
});
