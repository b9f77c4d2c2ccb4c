import type { Exchange } from "./exchange.js";
import { OPENAPI_PATH, readOpenApiDocument } from "./openapi-document.js";

/** What the probes and metrics need to know about the service. */
export interface OperationalOptions {
  /** True while requests can be served (the revocation store answers). */
  ready: () => Promise<boolean>;
  metrics: { render(): Promise<string>; readonly contentType: string };
}

const JSON_HEADERS = { "content-type": "application/json", "cache-control": "no-store" };

/** `metrics.render()` could not gather the metrics for now (WORKERS=N: the primary or a worker did not answer): 503. */
export class MetricsUnavailable extends Error {
  override name = "MetricsUnavailable";
}

/**
 * `GET /healthz` (the process is up), `GET /readyz` (the store answers: 503
 * while it does not, so a load balancer stops sending traffic) and
 * `GET /metrics` (Prometheus text) and `GET /openapi.json` (the committed
 * OpenAPI document, read once here); `HEAD` on each answers as `GET` does,
 * without the body (the transports drop it). Returns false for any other request.
 */
export function createOperationalRoutes(options: OperationalOptions): (exchange: Exchange) => boolean {
  const json = (exchange: Exchange, status: number, body: object) => exchange.respond(status, JSON_HEADERS, JSON.stringify(body));
  const unavailable = { status: "unavailable", info: "The revocation store does not answer" };
  const openapi = readOpenApiDocument();
  return (exchange) => {
    if (exchange.method !== "GET" && exchange.method !== "HEAD") return false;
    const target = exchange.target;
    const path = target.includes("?") ? target.slice(0, target.indexOf("?")) : target;
    switch (path) {
      case "/healthz":
        json(exchange, 200, { status: "ok" });
        return true;
      case "/readyz":
        void options.ready().then(
          (ready) => (ready ? json(exchange, 200, { status: "ready" }) : json(exchange, 503, unavailable)),
          () => json(exchange, 503, unavailable),
        );
        return true;
      case "/metrics":
        void options.metrics.render().then(
          (text) => exchange.respond(200, { "content-type": options.metrics.contentType }, text),
          (err: unknown) =>
            json(exchange, err instanceof MetricsUnavailable ? 503 : 500, {
              status: err instanceof MetricsUnavailable ? "unavailable" : "error",
              info: `metrics unavailable: ${err instanceof Error ? err.message : String(err)}`,
            }),
        );
        return true;
      case OPENAPI_PATH:
        exchange.respond(200, { "content-type": "application/json" }, openapi);
        return true;
      default:
        return false;
    }
  };
}
