import { cors } from "@connectrpc/connect";
import type { Exchange } from "./exchange.js";

/**
 * CORS for browser clients (gRPC-Web, Connect, REST from a page) from the
 * origins in CORS_ORIGINS ("*" allows any). Adds the CORS headers to the
 * exchange's response, and returns true when it answered a preflight itself.
 * Requests from other origins get no CORS headers, so the browser blocks
 * them; non-browser clients are unaffected.
 */
export function createCors(origins: readonly string[]): (exchange: Exchange) => boolean {
  const any = origins.includes("*");
  const allowed = new Set(origins);
  const allowMethods = [...new Set([...cors.allowedMethods, "DELETE"])].join(", ");
  const allowHeaders = [...cors.allowedHeaders, "Authorization", "X-Admin-Key", "X-Request-Id", "Traceparent", "Tracestate"].join(", ");
  const exposeHeaders = [...cors.exposedHeaders, "X-Request-Id"].join(", ");
  return (exchange) => {
    const origin = exchange.headers.origin;
    if (origin === undefined || (!any && !allowed.has(origin))) return false;
    exchange.setResponseHeader("access-control-allow-origin", any ? "*" : origin);
    if (!any) exchange.setResponseHeader("vary", "Origin");
    if (exchange.method === "OPTIONS" && exchange.headers["access-control-request-method"] !== undefined) {
      exchange.respond(204, {
        "access-control-allow-methods": allowMethods,
        "access-control-allow-headers": allowHeaders,
        "access-control-max-age": "7200",
      });
      return true;
    }
    exchange.setResponseHeader("access-control-expose-headers", exposeHeaders);
    return false;
  };
}
