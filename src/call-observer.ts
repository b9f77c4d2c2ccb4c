import { Code } from "@connectrpc/connect";
import { codeToString } from "@connectrpc/connect/protocol-connect";
import type { Logger } from "./logger.js";
import type { CounterChild, HistogramChild } from "./metric-families.js";
import type { Metrics } from "./metrics.js";
import type { CallTracer, ServiceObserver } from "./service/types.js";

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

/** Logs one line per call and keeps the metrics; only fingerprints, never tokens. `tracer`: tracing is on. */
export function createCallObserver(metrics: Metrics, logger: Logger, tracer?: CallTracer): ServiceObserver {
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
  const storeErrors = createStoreErrorLog(logger);
  return {
    tracer,
    callStarted(rpc) {
      inFlight(rpc).inc();
    },
    callCompleted({ rpc, protocol, code, durationMs, fingerprint, message, requestId }) {
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
      // A client that went away is its own business: debug, not info.
      const level = code === Code.Canceled ? "debug" : "info";
      if (logger.isLevelEnabled(level)) {
        logger[level](
          { rpc, protocol, code: codeName, ms: Math.round(durationMs * 1000) / 1000, fingerprint, requestId, info: message },
          "request",
        );
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
      storeErrors.report(operation, fingerprint, error.message);
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

/** How often, at most, a store failure is logged line by line; the rest of a window is summed in one line. */
const STORE_ERROR_WINDOW_MS = 1000;

/**
 * Store failures, logged without flooding: the first of each window in full,
 * the others counted and summed in one line when the window closes. During an
 * outage that is two lines a second, not one per call (the metric counts
 * every call).
 */
function createStoreErrorLog(logger: Logger): { report(operation: string, fingerprint: string | undefined, message: string): void } {
  let windowEnds = 0;
  let suppressed = 0;
  let lastMessage = "";
  return {
    report(operation, fingerprint, message) {
      const now = Date.now();
      if (now < windowEnds) {
        suppressed++;
        lastMessage = message;
        return;
      }
      windowEnds = now + STORE_ERROR_WINDOW_MS;
      logger.warn({ operation, fingerprint, error: message }, "revocation store call failed");
      const timer = setTimeout(() => {
        if (suppressed > 0) {
          logger.warn(
            { failures: suppressed, error: lastMessage },
            `${suppressed} more revocation store calls failed in the last ${STORE_ERROR_WINDOW_MS} ms`,
          );
        }
        suppressed = 0;
      }, STORE_ERROR_WINDOW_MS);
      timer.unref();
    },
  };
}
