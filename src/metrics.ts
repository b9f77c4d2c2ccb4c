import { Counter, Registry, collectDefaultMetrics } from "prom-client";

/** The service's Prometheus metrics, on a registry of its own (served at GET /metrics). */
export interface Metrics {
  registry: Registry;
  /** Store calls that failed, by operation (check, revoke, restore). */
  storeErrors: Counter<"operation">;
  /** Info answers given without a revocation check because FAIL_OPEN=true and the store was down. */
  failOpen: Counter;
}

/** Creates the registry with process metrics and the service's counters. */
export function createMetrics(): Metrics {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry });
  return {
    registry,
    storeErrors: new Counter({
      name: "token_blacklist_store_errors_total",
      help: "Revocation store calls that failed or timed out.",
      labelNames: ["operation"],
      registers: [registry],
    }),
    failOpen: new Counter({
      name: "token_blacklist_fail_open_total",
      help: "Info answers that skipped the revocation check because the store was unavailable and FAIL_OPEN=true.",
      registers: [registry],
    }),
  };
}
