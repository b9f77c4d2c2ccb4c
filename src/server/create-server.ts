import type { IncomingMessage, ServerResponse } from "node:http";
import type { Http2ServerRequest, Http2ServerResponse } from "node:http2";
import type { ConnectRouter } from "@connectrpc/connect";
import { connectNodeAdapter } from "@connectrpc/connect-node";
import type { Registry } from "prom-client";
import { ServerReflection as ServerReflectionV1 } from "../../gen/grpc/reflection/v1/reflection_pb.js";
import { ServerReflection as ServerReflectionV1alpha } from "../../gen/grpc/reflection/v1alpha/reflection_pb.js";
import { Health } from "../../gen/health/v1/health_pb.js";
import { TokenService } from "../../gen/tokens/v1/token_service_pb.js";
import { createHealthService } from "../service/health-service.js";
import { createReflectionServices } from "../service/reflection-service.js";
import type { UnaryHandler } from "../service/call.js";
import type { TokenServiceHandlers } from "../service/token-service.js";
import { createCors } from "./cors.js";
import { encodeGrpcMessagesMinimally } from "./grpc-message.js";
import { createGrpcUnaryFastPath } from "./grpc-unary.js";
import { createOperationalRoutes } from "./operational-routes.js";
import { createRestHandler } from "./rest-handler.js";
import { restRoutes } from "./rest-routes.js";
import { createSinglePortServer, type SinglePortServer } from "./single-port.js";

/** Options for {@link createServer}. */
export interface ServerOptions {
  handlers: TokenServiceHandlers;
  /** True while requests can be served (the store answers): drives /readyz and gRPC health. */
  ready: () => Promise<boolean>;
  /** Served as Prometheus text at GET /metrics. */
  metrics: Registry;
  /** Request bodies larger than this are refused on every protocol. */
  readMaxBytes?: number;
  /** Larger request headers are refused by the HTTP layer. */
  maxHeaderBytes?: number;
  /** Browser origins allowed to call (CORS); empty: none. */
  corsOrigins?: readonly string[];
  /** PEM certificate chain and key: serve TLS (h2 and http/1.1 by ALPN) instead of cleartext. */
  tls?: { cert: Buffer; key: Buffer } | undefined;
  /** Where failures that are our fault are reported (the log, at error level). */
  onInternalError: (err: unknown) => void;
}

/**
 * Everything on one port: TokenService over gRPC, gRPC-Web and Connect
 * through Connect's router, with gRPC health and reflection beside it; the
 * REST routes from the `google.api.http` annotations, the probes and
 * `/metrics` as its fallback. Plain unary gRPC to TokenService takes a fast
 * path in front of Connect. Every route calls the same handlers.
 */
export function createServer(options: ServerOptions): SinglePortServer {
  const readMaxBytes = options.readMaxBytes ?? 64 * 1024;
  // The transports hand each handler the request message its route decoded for that RPC.
  const impls = options.handlers as unknown as Readonly<Record<string, UnaryHandler>>;
  const onInternalError = options.onInternalError;
  const rest = createRestHandler({
    routes: restRoutes(TokenService),
    impls,
    readMaxBytes,
    onInternalError,
  });
  const operational = createOperationalRoutes({ ready: options.ready, metrics: options.metrics });
  const reflection = createReflectionServices([TokenService, Health]);
  const health = createHealthService({ services: [TokenService.typeName], ready: options.ready });
  const adapter = connectNodeAdapter({
    routes: (router: ConnectRouter) => {
      router.service(TokenService, options.handlers);
      router.service(Health, health);
      router.service(ServerReflectionV1, reflection.v1);
      router.service(ServerReflectionV1alpha, reflection.v1alpha);
    },
    fallback: (req, res) => {
      const path = req.url?.split("?", 1)[0] ?? "/";
      if (operational(req.method, path, res)) return;
      rest(req, res);
    },
    readMaxBytes,
    jsonOptions: { alwaysEmitImplicit: true },
  });
  const grpcUnary = createGrpcUnaryFastPath({
    service: TokenService,
    impls,
    readMaxBytes,
    onInternalError,
  });
  const cors = options.corsOrigins?.length ? createCors(options.corsOrigins) : undefined;
  const handler = (req: Http2ServerRequest | IncomingMessage, res: Http2ServerResponse | ServerResponse) => {
    if (cors?.(req, res)) return;
    if (req.httpVersionMajor === 2) encodeGrpcMessagesMinimally(req as Http2ServerRequest, res as Http2ServerResponse);
    adapter(req, res);
  };
  return createSinglePortServer({
    handler,
    streamHandler: grpcUnary,
    maxHeaderBytes: options.maxHeaderBytes,
    tls: options.tls,
  });
}
