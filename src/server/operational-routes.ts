import type { Registry } from "prom-client";

/** What the probes and metrics need to know about the service. */
export interface OperationalOptions {
  /** True while requests can be served (the revocation store answers). */
  ready: () => Promise<boolean>;
  metrics: Registry;
}

interface Res {
  writeHead(status: number, headers: Record<string, string>): unknown;
  end(body: string): unknown;
}

/**
 * `GET /healthz` (the process is up), `GET /readyz` (the store answers: 503
 * while it does not, so a load balancer stops sending traffic) and
 * `GET /metrics` (Prometheus text). Returns false for any other request.
 */
export function createOperationalRoutes(options: OperationalOptions) {
  const json = (res: Res, status: number, body: object) => {
    res.writeHead(status, { "content-type": "application/json", "cache-control": "no-store" });
    res.end(JSON.stringify(body));
  };
  return (method: string | undefined, path: string, res: Res): boolean => {
    if (method !== "GET") return false;
    switch (path) {
      case "/healthz":
        json(res, 200, { status: "ok" });
        return true;
      case "/readyz":
        void options.ready().then(
          (ready) =>
            ready
              ? json(res, 200, { status: "ready" })
              : json(res, 503, { status: "unavailable", info: "The revocation store does not answer" }),
          () => json(res, 503, { status: "unavailable", info: "The revocation store does not answer" }),
        );
        return true;
      case "/metrics":
        void options.metrics.metrics().then(
          (text) => {
            res.writeHead(200, { "content-type": options.metrics.contentType });
            res.end(text);
          },
          (err: unknown) => json(res, 500, { status: "error", info: `metrics unavailable: ${String(err)}` }),
        );
        return true;
      default:
        return false;
    }
  };
}
