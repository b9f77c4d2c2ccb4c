import type { IncomingHttpHeaders } from "node:http";
import { cors } from "@connectrpc/connect";

/** The part of a request and response CORS needs, on HTTP/1 and HTTP/2 alike. */
interface Exchange {
  req: { method?: string | undefined; headers: IncomingHttpHeaders };
  res: { setHeader(name: string, value: string): unknown; writeHead(status: number): unknown; end(): unknown };
}

/**
 * CORS for browser clients (gRPC-Web, Connect, REST from a page) from the
 * origins in CORS_ORIGINS ("*" allows any). Returns true when it answered a
 * preflight itself. Requests from other origins get no CORS headers, so the
 * browser blocks them; non-browser clients are unaffected.
 */
export function createCors(origins: readonly string[]): (req: Exchange["req"], res: Exchange["res"]) => boolean {
  const any = origins.includes("*");
  const allowed = new Set(origins);
  const allowMethods = [...new Set([...cors.allowedMethods, "DELETE"])].join(", ");
  const allowHeaders = [...cors.allowedHeaders, "Authorization", "X-Admin-Key"].join(", ");
  const exposeHeaders = cors.exposedHeaders.join(", ");
  return (req, res) => {
    const origin = req.headers.origin;
    if (origin === undefined || (!any && !allowed.has(origin))) return false;
    res.setHeader("access-control-allow-origin", any ? "*" : origin);
    if (!any) res.setHeader("vary", "Origin");
    if (req.method === "OPTIONS" && req.headers["access-control-request-method"] !== undefined) {
      res.setHeader("access-control-allow-methods", allowMethods);
      res.setHeader("access-control-allow-headers", allowHeaders);
      res.setHeader("access-control-max-age", "7200");
      res.writeHead(204);
      res.end();
      return true;
    }
    res.setHeader("access-control-expose-headers", exposeHeaders);
    return false;
  };
}
