import { AsyncLocalStorage } from "node:async_hooks";
import { Code } from "@connectrpc/connect";
import { codeToString } from "@connectrpc/connect/protocol-connect";
import {
  type Context,
  DiagLogLevel,
  diag,
  ROOT_CONTEXT,
  type Span,
  SpanKind,
  SpanStatusCode,
  type TextMapGetter,
  trace,
} from "@opentelemetry/api";
import { W3CTraceContextPropagator } from "@opentelemetry/core";
import { Authorization } from "../../gen/envoy/service/auth/v3/external_auth_pb.js";
import { TokenService } from "../../gen/tokens/v1/token_service_pb.js";
import type { Logger } from "../logger.js";
import type { CallContext, CallRecord, TracedCall } from "../service/types.js";
import { createTracerProvider } from "./otel-provider.js";
import type { TracingConfig } from "./tracing-config.js";
import type { Tracing } from "./tracing.js";

// Span attributes of this service's own (the others are OpenTelemetry's RPC conventions).
/** The transport, as logs and metrics name it: `rest`, `connect`, `grpc`, `grpc-web`... */
const ATTR_PROTOCOL = "token_blacklist.protocol";
/** The token's fingerprint (SHA-256 of its signing input), once it verified: never the token. */
const ATTR_FINGERPRINT = "token_blacklist.token.fingerprint";
/** The call's `x-request-id`, as the response carries it. */
const ATTR_REQUEST_ID = "token_blacklist.request_id";

/** The service the gateways' HTTP endpoints (forward-auth, OAuth) are named under: they have no proto service. */
const GATEWAY_SERVICE = "token_blacklist.Gateway";

/** Codes that are the server's failure, not the caller's (OpenTelemetry's gRPC conventions for server spans). */
const SERVER_FAULTS = new Set([Code.Unknown, Code.DeadlineExceeded, Code.Unimplemented, Code.Internal, Code.Unavailable, Code.DataLoss]);

const headerGetter: TextMapGetter<CallContext["requestHeader"]> = {
  keys: () => [],
  get: (carrier, key) => carrier.get(key) ?? undefined,
};

/**
 * OpenTelemetry tracing over the SDK (loaded only when tracing is on): a
 * SERVER span per call, continuing the caller's W3C trace context from its
 * headers (gRPC metadata included), and child spans for the work the call
 * starts, parented through an AsyncLocalStorage that holds the call's span.
 * Spans carry the token's fingerprint, never the token.
 */
export function createOtelTracing(config: TracingConfig, logger: Logger): Tracing {
  reportSdkProblems(logger);
  const provider = createTracerProvider(config);
  const tracer = provider.getTracer("token-blacklist");
  const propagator = new W3CTraceContextPropagator();
  const current = new AsyncLocalStorage<Context>();
  const methods = methodNames();

  /**
   * A call's span. `context` is undefined when the span was not sampled: its
   * children would not be either (every standard sampler decides a child as
   * its parent was decided), so none is started, and the work runs outside
   * any context: an unsampled call costs a span and nothing more.
   */
  class OtelCall implements TracedCall {
    constructor(
      private readonly span: Span,
      private readonly context: Context | undefined,
    ) {}

    run<T>(work: () => Promise<T>): Promise<T> {
      return this.context === undefined ? work() : current.run(this.context, work);
    }

    end({ code, protocol, fingerprint, requestId, message }: CallRecord): void {
      const { span } = this;
      if (this.context === undefined) {
        span.end();
        return;
      }
      // OpenTelemetry defines rpc.grpc.status_code for gRPC only (Connect's codes are gRPC's numbers).
      if (protocol.startsWith("grpc")) span.setAttribute("rpc.grpc.status_code", code ?? 0);
      if (code !== undefined) span.setAttribute("rpc.connect_rpc.error_code", codeToString(code));
      if (fingerprint !== undefined) span.setAttribute(ATTR_FINGERPRINT, fingerprint);
      if (requestId !== undefined) span.setAttribute(ATTR_REQUEST_ID, requestId);
      if (code !== undefined && SERVER_FAULTS.has(code))
        span.setStatus({ code: SpanStatusCode.ERROR, ...(message === undefined ? {} : { message }) });
      span.end();
    }
  }

  return {
    calls: {
      startCall(rpc, ctx) {
        const parent = propagator.extract(ROOT_CONTEXT, ctx.requestHeader, headerGetter);
        const method = methods.get(rpc) ?? { name: `${GATEWAY_SERVICE}/${rpc}`, service: GATEWAY_SERVICE };
        const protocol = ctx.protocolName;
        const span = tracer.startSpan(
          method.name,
          {
            kind: SpanKind.SERVER,
            attributes: {
              "rpc.system": protocol.startsWith("grpc") ? "grpc" : "connect_rpc",
              "rpc.service": method.service,
              "rpc.method": rpc,
              [ATTR_PROTOCOL]: protocol,
            },
          },
          parent,
        );
        return new OtelCall(span, span.isRecording() ? trace.setSpan(parent, span) : undefined);
      },
    },
    child(name, kind, attributes, work) {
      const parent = current.getStore();
      if (parent === undefined) return work();
      const span = tracer.startSpan(name, { kind: kind === "client" ? SpanKind.CLIENT : SpanKind.INTERNAL, attributes }, parent);
      return work().then(
        (result) => {
          span.end();
          return result;
        },
        (err: unknown) => {
          // The message only: what a refusal says to its caller, or the store's failure; never a token.
          span.setStatus({ code: SpanStatusCode.ERROR, message: err instanceof Error ? err.message : String(err) });
          span.end();
          throw err;
        },
      );
    },
    async shutdown(timeoutMs) {
      let timer: NodeJS.Timeout | undefined;
      const gaveUp = new Promise<"timeout">((resolve) => (timer = setTimeout(() => resolve("timeout"), timeoutMs)));
      try {
        const outcome = await Promise.race([provider.shutdown().then(() => "done" as const), gaveUp]);
        if (outcome === "timeout") logger.warn({ timeoutMs }, "tracing: spans not exported before the shutdown deadline were dropped");
      } catch (err) {
        logger.warn({ err }, "tracing: exporting the last spans failed");
      } finally {
        clearTimeout(timer);
      }
    },
  };
}

/** Span names by the RPC names observed() is given: `tokens.v1.TokenService/Info`, `envoy.service.auth.v3.Authorization/Check`. */
function methodNames(): Map<string, { name: string; service: string }> {
  const names = new Map<string, { name: string; service: string }>();
  for (const service of [Authorization, TokenService]) {
    for (const method of service.methods) names.set(method.name, { name: `${service.typeName}/${method.name}`, service: service.typeName });
  }
  return names;
}

/** The SDK's own problems (a collector that refuses or cannot be reached) as warnings in the log, at most one every 10 s. */
function reportSdkProblems(logger: Logger): void {
  let last = 0;
  const warn = (message: string) => {
    const now = Date.now();
    if (now - last < 10_000) return;
    last = now;
    logger.warn({ detail: message }, "tracing: the OpenTelemetry SDK reported a problem (spans may be lost)");
  };
  const ignore = () => {};
  diag.setLogger(
    { error: warn, warn, info: ignore, debug: ignore, verbose: ignore },
    { logLevel: DiagLogLevel.WARN, suppressOverrideMessage: true },
  );
}
