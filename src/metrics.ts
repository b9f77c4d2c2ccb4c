import { Registry, collectDefaultMetrics } from "prom-client";
import {
  type Aggregator,
  CounterFamily,
  GaugeFamily,
  HistogramFamily,
  type MetricFamily,
  type MetricJson,
  SampledGauge,
} from "./metric-families.js";

/** Every metric of one process in prom-client's JSON form: the service's families, then Node's process metrics. */
export type CollectedMetrics = Array<MetricJson | Awaited<ReturnType<Registry["getMetricsAsJSON"]>>[number]>;

/** The service's Prometheus metrics (served at GET /metrics). */
export interface Metrics {
  /** Finished TokenService calls by RPC, protocol (grpc, grpc-web, connect, rest) and code ("ok" or a gRPC code name). */
  requests: CounterFamily;
  /** Handler latency, from the call reaching the handler to its answer, by RPC and protocol. */
  requestSeconds: HistogramFamily;
  /** Calls being handled now, by RPC: what a stalled store or a slow client piles up. */
  inFlight: GaugeFamily;
  /** One store round trip, by operation and outcome. */
  storeSeconds: HistogramFamily;
  /** Revocations added and lifted, by change and scope (token, jti, subject). */
  revocations: CounterFamily;
  /** Store calls that failed, by operation (check, revoke, restore...). */
  storeErrors: CounterFamily;
  /** Info answers given without a revocation check because FAIL_OPEN=true and the store was down. */
  failOpen: CounterFamily;
  /** Connections the server closed because of a limit, by reason (idle_timeout, headers_timeout, reset_flood...). */
  connectionsClosed: CounterFamily;
  /**
   * Adds a gauge read at each scrape (the revocation feed's lag, entries and watchers);
   * `aggregator` says how WORKERS=N combines the workers' values.
   */
  sampled(name: string, help: string, aggregator: Aggregator, read: () => number | undefined): void;
  /** The Prometheus text of everything: these families and Node's process metrics. */
  render(): Promise<string>;
  /** The same as data, each metric with its aggregator: what a worker sends the primary (src/cluster-metrics.ts). */
  collect(): Promise<CollectedMetrics>;
  /** The text format's content type. */
  readonly contentType: string;
}

/** Latency buckets from 50 µs to 1 s: a check should take well under a millisecond. */
const LATENCY_BUCKETS = [0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1];

/** Node process metrics whose prom-client aggregator (a sum, by default) misreads under WORKERS=N. */
const PROCESS_AGGREGATORS: Readonly<Record<string, Aggregator>> = { process_max_fds: "max" };

/** Creates the service's metric families, and a prom-client registry for Node's process metrics. */
export function createMetrics(): Metrics {
  const process = new Registry();
  collectDefaultMetrics({ register: process });
  const families = {
    requests: new CounterFamily("token_blacklist_requests_total", "TokenService calls by RPC, protocol and result code.", [
      "rpc",
      "protocol",
      "code",
    ]),
    requestSeconds: new HistogramFamily(
      "token_blacklist_request_duration_seconds",
      "TokenService handler latency.",
      ["rpc", "protocol"],
      LATENCY_BUCKETS,
    ),
    // Calls in progress in each worker add up to the calls in progress in the service.
    inFlight: new GaugeFamily("token_blacklist_requests_in_flight", "TokenService calls being handled now, by RPC.", ["rpc"], "sum"),
    storeSeconds: new HistogramFamily(
      "token_blacklist_store_duration_seconds",
      "Revocation store round trips.",
      ["operation", "outcome"],
      LATENCY_BUCKETS,
    ),
    revocations: new CounterFamily(
      "token_blacklist_revocations_total",
      "Revocations added (change=revoked) and lifted (change=restored), by scope (token, jti, subject).",
      ["change", "scope"],
    ),
    storeErrors: new CounterFamily("token_blacklist_store_errors_total", "Revocation store calls that failed or timed out.", ["operation"]),
    connectionsClosed: new CounterFamily(
      "token_blacklist_connections_closed_total",
      "Connections the server closed for a limit: idle_timeout, headers_timeout, reset_flood, protocol_error, goaway_grace.",
      ["reason"],
    ),
    failOpen: new CounterFamily(
      "token_blacklist_fail_open_total",
      "Info answers that skipped the revocation check because the store was unavailable and FAIL_OPEN=true.",
    ),
  };
  const all: MetricFamily[] = Object.values(families);
  return {
    ...families,
    contentType: process.contentType,
    sampled(name, help, aggregator, read) {
      all.push(new SampledGauge(name, help, read, aggregator));
    },
    async render() {
      const out: string[] = [];
      for (const family of all) family.render(out);
      return `${out.join("\n")}\n\n${await process.metrics()}`;
    },
    async collect() {
      // Node's process metrics carry prom-client's own aggregators (sums for CPU, memory, handles;
      // average, min and max for event-loop lag; first for the version; omit for the start time),
      // save where a sum misreads: a limit each process has is that limit, not N times it.
      const processMetrics = (await process.getMetricsAsJSON()).map((metric) =>
        metric.name in PROCESS_AGGREGATORS ? { ...metric, aggregator: PROCESS_AGGREGATORS[metric.name]! } : metric,
      );
      return [...all.map((family) => family.collect()), ...processMetrics];
    },
  };
}
