import { codeToString } from "@connectrpc/connect/protocol-connect";
import type { Logger } from "./logger.js";
import type { CounterChild, HistogramChild } from "./metric-families.js";
import type { Metrics } from "./metrics.js";
import type { ServiceObserver } from "./service/types.js";

/**
 * Memoizes prom-client label children by a string key: `labels({...})`
 * hashes its label object on every call, which shows on the hot path.
 */
export function labelled<T>(make: (key: string) => T): (key: string) => T {
  const children = new Map<string, T>();
  return (key) => {
    let child = children.get(key);
    if (child === undefined) {
      child = make(key);
      children.set(key, child);
    }
    return child;
  };
}

/** Logs one line per call and keeps the metrics; only fingerprints, never tokens. */
export function createCallObserver(metrics: Metrics, logger: Logger): ServiceObserver {
  /** The metric children of one RPC on one protocol, found by two lookups of constant strings, no key building. */
  interface CallSeries {
    seconds: HistogramChild;
    /** By gRPC code number; index 0 ("ok") is success. */
    codes: Array<CounterChild | undefined>;
  }
  const series = new Map<string, Map<string, CallSeries>>();
  const seriesOf = (rpc: string, protocol: string): CallSeries => {
    let byProtocol = series.get(rpc);
    if (byProtocol === undefined) {
      byProtocol = new Map();
      series.set(rpc, byProtocol);
    }
    let found = byProtocol.get(protocol);
    if (found === undefined) {
      found = { seconds: metrics.requestSeconds.labels(rpc, protocol), codes: [] };
      byProtocol.set(protocol, found);
    }
    return found;
  };
  const inFlight = labelled((rpc: string) => metrics.inFlight.labels(rpc));
  return {
    callStarted(rpc) {
      inFlight(rpc).inc();
    },
    callCompleted({ rpc, protocol, code, durationMs, fingerprint, message }) {
      const codeName = code === undefined ? "ok" : codeToString(code);
      inFlight(rpc).dec();
      const call = seriesOf(rpc, protocol);
      const index = code ?? 0;
      let counter = call.codes[index];
      if (counter === undefined) {
        counter = metrics.requests.labels(rpc, protocol, codeName);
        call.codes[index] = counter;
      }
      counter.inc();
      call.seconds.observe(durationMs / 1000);
      if (logger.isLevelEnabled("info")) {
        logger.info({ rpc, protocol, code: codeName, ms: Math.round(durationMs * 1000) / 1000, fingerprint, info: message }, "request");
      }
    },
    changed(event) {
      const change = event.action === "revoke" ? "revoked" : "restored";
      metrics.revocations.labels(change, event.scope).inc();
      // The history event, as logged: fingerprint, jti, subject, never a token.
      const { id, atMs: _at, action: _action, ...fields } = event;
      logger.info({ change, ...fields, event: id }, `${event.scope} ${change}`);
    },
    storeError(operation, fingerprint, error) {
      metrics.storeErrors.labels(operation).inc();
      logger.warn({ operation, fingerprint, error: error.message }, "revocation store call failed");
    },
    failedOpen(fingerprint) {
      metrics.failOpen.labels().inc();
      logger.error({ fingerprint }, "FAIL_OPEN: answered valid WITHOUT a revocation check; the store is down");
    },
    internalError(rpc, protocol, err) {
      // pino's err serializer: type, message, stack (and cause).
      logger.error({ rpc, protocol, err }, "internal error");
    },
  };
}
