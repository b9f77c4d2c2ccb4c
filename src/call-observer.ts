import { codeToString } from "@connectrpc/connect/protocol-connect";
import type { Logger } from "./logger.js";
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
  const counted = labelled((key: string) => {
    const [rpc, protocol, code] = key.split(" ") as [string, string, string];
    return metrics.requests.labels({ rpc, protocol, code });
  });
  const timed = labelled((key: string) => {
    const [rpc, protocol] = key.split(" ") as [string, string];
    return metrics.requestSeconds.labels({ rpc, protocol });
  });
  const inFlight = labelled((rpc: string) => metrics.inFlight.labels({ rpc }));
  return {
    callStarted(rpc) {
      inFlight(rpc).inc();
    },
    callCompleted({ rpc, protocol, code, durationMs, fingerprint, message }) {
      const codeName = code === undefined ? "ok" : codeToString(code);
      inFlight(rpc).dec();
      counted(`${rpc} ${protocol} ${codeName}`).inc();
      timed(`${rpc} ${protocol}`).observe(durationMs / 1000);
      if (logger.isLevelEnabled("info")) {
        logger.info({ rpc, protocol, code: codeName, ms: Math.round(durationMs * 1000) / 1000, fingerprint, info: message }, "request");
      }
    },
    changed(event) {
      const change = event.action === "revoke" ? "revoked" : "restored";
      metrics.revocations.inc({ change, scope: event.scope });
      // The history event, as logged: fingerprint, jti, subject, never a token.
      const { id, atMs: _at, action: _action, ...fields } = event;
      logger.info({ change, ...fields, event: id }, `${event.scope} ${change}`);
    },
    storeError(operation, fingerprint, error) {
      metrics.storeErrors.inc({ operation });
      logger.warn({ operation, fingerprint, error: error.message }, "revocation store call failed");
    },
    failedOpen(fingerprint) {
      metrics.failOpen.inc();
      logger.error({ fingerprint }, "FAIL_OPEN: answered valid WITHOUT a revocation check; the store is down");
    },
    internalError(rpc, protocol, err) {
      // pino's err serializer: type, message, stack (and cause).
      logger.error({ rpc, protocol, err }, "internal error");
    },
  };
}
