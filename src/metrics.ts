import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from "prom-client";

/** The service's Prometheus metrics, on a registry of its own (served at GET /metrics). */
export interface Metrics {
  registry: Registry;
  /** Finished TokenService calls by RPC, protocol (grpc, grpc-web, connect, rest) and code ("ok" or a gRPC code name). */
  requests: Counter<"rpc" | "protocol" | "code">;
  /** Handler latency, from the call reaching the handler to its answer. */
  requestSeconds: Histogram<"rpc" | "protocol">;
  /** Calls being handled now, by RPC: what a stalled store or a slow client piles up. */
  inFlight: Gauge<"rpc">;
  /** One store round trip, by operation and outcome. */
  storeSeconds: Histogram<"operation" | "outcome">;
  /** Revocations added and lifted, by scope (token, jti, subject). */
  revocations: Counter<"change" | "scope">;
  /** Store calls that failed, by operation (check, revoke, restore). */
  storeErrors: Counter<"operation">;
  /** Info answers given without a revocation check because FAIL_OPEN=true and the store was down. */
  failOpen: Counter;
}

/** Latency buckets from 50 µs to 1 s: a check should take well under a millisecond. */
const LATENCY_BUCKETS = [0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1];

/** Creates the registry with process metrics and the service's own. */
export function createMetrics(): Metrics {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry });
  const registers = [registry];
  return {
    registry,
    requests: new Counter({
      name: "token_blacklist_requests_total",
      help: "TokenService calls by RPC, protocol and result code.",
      labelNames: ["rpc", "protocol", "code"],
      registers,
    }),
    inFlight: new Gauge({
      name: "token_blacklist_requests_in_flight",
      help: "TokenService calls being handled now, by RPC.",
      labelNames: ["rpc"],
      registers,
    }),
    requestSeconds: new Histogram({
      name: "token_blacklist_request_duration_seconds",
      help: "TokenService handler latency.",
      labelNames: ["rpc", "protocol"],
      buckets: LATENCY_BUCKETS,
      registers,
    }),
    storeSeconds: new Histogram({
      name: "token_blacklist_store_duration_seconds",
      help: "Revocation store round trips.",
      labelNames: ["operation", "outcome"],
      buckets: LATENCY_BUCKETS,
      registers,
    }),
    revocations: new Counter({
      name: "token_blacklist_revocations_total",
      help: "Revocations added (change=revoked) and lifted (change=restored), by scope (token, jti, subject).",
      labelNames: ["change", "scope"],
      registers,
    }),
    storeErrors: new Counter({
      name: "token_blacklist_store_errors_total",
      help: "Revocation store calls that failed or timed out.",
      labelNames: ["operation"],
      registers,
    }),
    failOpen: new Counter({
      name: "token_blacklist_fail_open_total",
      help: "Info answers that skipped the revocation check because the store was unavailable and FAIL_OPEN=true.",
      registers,
    }),
  };
}
