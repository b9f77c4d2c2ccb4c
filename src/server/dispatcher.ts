import { Code } from "@connectrpc/connect";
import { connectErrorBody, grpcStatusHeaders, restErrorBody } from "./errors.js";
import type { Exchange } from "./exchange.js";
import { ErrorReason, refusal } from "../service/error-reasons.js";

/** Serves an exchange and returns true, or returns false to leave it to the next. */
export type Route = (exchange: Exchange) => boolean;

/** Options for {@link createDispatcher}. */
export interface DispatcherOptions {
  /** Tried in order; the first that takes the exchange answers it. */
  routes: readonly Route[];
  onInternalError: (err: unknown) => void;
}

/** `/package.Service/Method`: what an RPC path looks like on gRPC, gRPC-Web and Connect. */
const RPC_PATH = /^\/[A-Za-z_][\w.]*\/[A-Za-z_]\w*$/;

/**
 * The one place that decides who answers a request, the same way for
 * HTTP/1.1, h2c and TLS: the routes in order (probes, the unary fast paths,
 * Connect's handlers, REST), then a refusal in the request's own protocol: a
 * gRPC request for an unknown method gets gRPC's UNIMPLEMENTED (HTTP 200,
 * grpc-status 12), a gRPC-Web one the same in gRPC-Web's headers, a Connect
 * one Connect's error JSON with 404, anything else the REST 404.
 */
export function createDispatcher(options: DispatcherOptions): (exchange: Exchange) => void {
  return (exchange) => {
    try {
      for (const route of options.routes) if (route(exchange)) return;
      refuseUnknown(exchange);
    } catch (err) {
      options.onInternalError(err);
      if (!exchange.responded)
        exchange.respond(
          500,
          { "content-type": "application/json" },
          JSON.stringify(restErrorBody(refusal(Code.Internal, ErrorReason.INTERNAL, "internal error"))),
        );
    }
  };
}

function refuseUnknown(exchange: Exchange): void {
  const contentType = exchange.headers["content-type"] ?? "";
  const path = exchange.target.split("?", 1)[0]!;
  // Nobody will act on it: the body is read only so the connection stays usable.
  void exchange.readBody(0, () => new Error("unread")).catch(() => {});
  if (contentType.startsWith("application/grpc")) {
    const error = refusal(Code.Unimplemented, ErrorReason.METHOD_NOT_FOUND, `unknown method ${path}`);
    exchange.respond(200, {
      "content-type": contentType.startsWith("application/grpc-web") ? contentType : "application/grpc",
      ...grpcStatusHeaders(error),
    });
    return;
  }
  if (exchange.method === "POST" && RPC_PATH.test(path)) {
    const error = refusal(Code.Unimplemented, ErrorReason.METHOD_NOT_FOUND, `unknown method ${path}`);
    exchange.respond(404, { "content-type": "application/json" }, JSON.stringify(connectErrorBody(error)));
    return;
  }
  const error = refusal(Code.NotFound, ErrorReason.NOT_FOUND, `No route for ${exchange.method} ${path}`);
  exchange.respond(404, { "content-type": "application/json" }, JSON.stringify(restErrorBody(error)));
}
