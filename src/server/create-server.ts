import type { ConnectRouter } from "@connectrpc/connect";
import type { Registry } from "prom-client";
import { connectNodeAdapter } from "@connectrpc/connect-node";
import { TokenService } from "../../gen/tokens/v1/token_service_pb.js";
import type { TokenServiceHandlers } from "../service/token-service.js";
import { createRestHandler } from "./rest-handler.js";
import { restRoutes } from "./rest-routes.js";
import { createSinglePortServer, type SinglePortServer } from "./single-port.js";

/** Options for {@link createServer}. */
export interface ServerOptions {
  handlers: TokenServiceHandlers;
  /** Request bodies larger than this are refused on every protocol. */
  readMaxBytes?: number;
  /** Where failures that are our fault are reported. */
  onInternalError?: (err: unknown) => void;
  /** Larger request headers are refused by the HTTP layer. */
  maxHeaderBytes?: number;
  /** Served as Prometheus text at GET /metrics. */
  metrics?: Registry;
}

/**
 * The TokenService on one port: gRPC, gRPC-Web and Connect through Connect's
 * router, and the REST routes from the `google.api.http` annotations as its
 * fallback, all calling the same handlers.
 */
export function createServer(options: ServerOptions): SinglePortServer {
  const readMaxBytes = options.readMaxBytes ?? 64 * 1024;
  const onInternalError = options.onInternalError ?? ((err) => console.error(err));
  const rest = createRestHandler({
    routes: restRoutes(TokenService),
    impls: { ...options.handlers },
    readMaxBytes,
    onInternalError,
  });
  const metrics = options.metrics;
  const handler = connectNodeAdapter({
    routes: (router: ConnectRouter) => router.service(TokenService, options.handlers),
    fallback: (req, res) => {
      if (metrics !== undefined && req.method === "GET" && req.url === "/metrics") {
        metrics.metrics().then(
          (text) => {
            res.writeHead(200, { "content-type": metrics.contentType });
            res.end(text);
          },
          (err: unknown) => {
            onInternalError(err);
            res.writeHead(500, { "content-type": "text/plain" });
            res.end("metrics unavailable");
          },
        );
        return;
      }
      rest(req, res);
    },
    readMaxBytes,
    jsonOptions: { alwaysEmitImplicit: true },
  });
  return createSinglePortServer({ handler, maxHeaderBytes: options.maxHeaderBytes });
}
