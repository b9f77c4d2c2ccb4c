import type { ServiceImpl } from "@connectrpc/connect";
import { compressionBrotli, compressionGzip } from "@connectrpc/connect-node";
import { ServerReflection as ServerReflectionV1 } from "../../gen/grpc/reflection/v1/reflection_pb.js";
import { ServerReflection as ServerReflectionV1alpha } from "../../gen/grpc/reflection/v1alpha/reflection_pb.js";
import { Health } from "../../gen/health/v1/health_pb.js";
import { Authorization } from "../../gen/envoy/service/auth/v3/external_auth_pb.js";
import { TokenService } from "../../gen/tokens/v1/token_service_pb.js";
import type { Gateways } from "../gateway/gateways.js";
import { createHealthService } from "../service/health-service.js";
import { createReflectionServices } from "../service/reflection-service.js";
import type { ConnectionLimits } from "../config.js";
import type { TokenServiceHandlers, UnaryHandler } from "../service/types.js";
import { createConnectHandlers } from "./connect-handlers.js";
import { createConnectUnary } from "./connect-unary.js";
import { createCors } from "./cors.js";
import { createDispatcher, type Route } from "./dispatcher.js";
import { createGrpcUnary } from "./grpc-unary.js";
import { createOperationalRoutes } from "./operational-routes.js";
import { createRestHandler } from "./rest-handler.js";
import { restRoutes } from "./rest-routes.js";
import type { ClosedReason } from "./h1-connections.js";
import { createSinglePortServer, type SinglePortServer } from "./single-port.js";

/** Options for {@link createServer}. */
export interface ServerOptions {
  handlers: TokenServiceHandlers;
  /** WatchRevocations, the server-streaming feed (Connect's handlers serve it); undefined: UNIMPLEMENTED. */
  watchRevocations?: ServiceImpl<typeof TokenService>["watchRevocations"];
  /** True while requests can be served (the store answers): drives /readyz and gRPC health. */
  ready: () => Promise<boolean>;
  /** Served as Prometheus text at GET /metrics. */
  metrics: { render(): Promise<string>; readonly contentType: string };
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
  /** Per-connection limits (idle, slow heads, HTTP/2 streams and resets). */
  limits?: ConnectionLimits;
  /** Each connection closed for a limit, for metrics. */
  onConnectionClosed?: (reason: ClosedReason) => void;
  /** Envoy ext_authz, forward-auth and OAuth endpoints, when mounted. */
  gateways?: Gateways;
}

/**
 * Everything on one port, every route calling the same handlers (and the
 * gateways' endpoints calling the same rules):
 * - the probes and `/metrics`;
 * - unary TokenService calls over plain gRPC and over the Connect protocol
 *   (JSON or binary), each on its fast path;
 * - everything else RPC (gRPC-Web, compressed or streaming calls, Connect
 *   GET, gRPC health and reflection) through Connect's handlers;
 * - Envoy's ext_authz `Authorization/Check` (gRPC on its fast path, the rest
 *   through Connect's handlers), `/auth` and the OAuth endpoints;
 * - the REST routes from the `google.api.http` annotations.
 */
export function createServer(options: ServerOptions): SinglePortServer {
  const readMaxBytes = options.readMaxBytes ?? 64 * 1024;
  const { onInternalError } = options;
  // The transports hand each handler the request message they decoded for that RPC.
  const impls = options.handlers as unknown as Readonly<Record<string, UnaryHandler>>;
  const { gateways } = options;
  const reflection = createReflectionServices(gateways === undefined ? [TokenService, Health] : [TokenService, Authorization, Health]);
  const health = createHealthService({ services: [TokenService.typeName], ready: options.ready });
  const cors = options.corsOrigins?.length ? createCors(options.corsOrigins) : undefined;
  const routes: Route[] = [
    createOperationalRoutes({ ready: options.ready, metrics: options.metrics }),
    createGrpcUnary({ service: TokenService, impls, readMaxBytes, onInternalError }),
    createConnectUnary({ service: TokenService, impls, readMaxBytes, onInternalError }),
    ...(gateways === undefined
      ? []
      : [
          createGrpcUnary({
            service: Authorization,
            impls: gateways.authorization as unknown as Record<string, UnaryHandler>,
            readMaxBytes,
            onInternalError,
          }),
        ]),
    createConnectHandlers({
      routes: (router) => {
        router.service(TokenService, { ...options.handlers, watchRevocations: options.watchRevocations });
        if (gateways !== undefined) router.service(Authorization, gateways.authorization);
        router.service(Health, health);
        router.service(ServerReflectionV1, reflection.v1);
        router.service(ServerReflectionV1alpha, reflection.v1alpha);
      },
      readMaxBytes,
      acceptCompression: [compressionGzip, compressionBrotli],
      // protobuf JSON's rules, as on the fast paths: unknown fields are refused.
      jsonOptions: { alwaysEmitImplicit: true, ignoreUnknownFields: false },
      onInternalError,
    }),
    ...(gateways?.routes ?? []),
    createRestHandler({ routes: restRoutes(TokenService), impls, readMaxBytes, onInternalError }),
  ];
  if (cors !== undefined) routes.unshift(cors);
  return createSinglePortServer({
    dispatch: createDispatcher({ routes, onInternalError }),
    maxHeaderBytes: options.maxHeaderBytes,
    tls: options.tls,
    ...(options.limits === undefined ? {} : { limits: options.limits }),
    ...(options.onConnectionClosed === undefined ? {} : { onConnectionClosed: options.onConnectionClosed }),
  });
}
