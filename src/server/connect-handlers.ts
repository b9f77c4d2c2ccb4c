import type { OutgoingHttpHeaders } from "node:http";
import { type ConnectRouter, type ConnectRouterOptions, createConnectRouter } from "@connectrpc/connect";
import type { UniversalHandler, UniversalServerRequest, UniversalServerResponse } from "@connectrpc/connect/protocol";
import { REQUEST_ID_HEADER } from "../service/types.js";
import { connectErrorWithReason, grpcWithReason, unsupportedMediaTypeBody } from "./connect-error-reasons.js";
import { reencodeGrpcMessage } from "./errors.js";
import type { Exchange } from "./exchange.js";

/** Options for {@link createConnectHandlers}. */
export interface ConnectHandlersOptions extends ConnectRouterOptions {
  /** Registers the services (`router.service(...)`). */
  routes: (router: ConnectRouter) => void;
  onInternalError: (err: unknown) => void;
}

/**
 * Everything the fast paths leave to Connect (gRPC-Web, compressed
 * messages, Connect GET and streaming, gRPC streaming, health, reflection),
 * served from Connect's router on the same {@link Exchange} the fast paths
 * use, so HTTP/1.1, h2c and TLS take the same code and no HTTP/2 stream needs
 * Node's compatibility objects. The router's handlers and the universal
 * request/response types are connect-es's public interface for adapters (its
 * own Node, Fastify and Express adapters are written on them); the
 * conversion helpers connect-es marks private are not used. Returns false
 * for a path no handler has.
 */
export function createConnectHandlers(options: ConnectHandlersOptions): (exchange: Exchange) => boolean {
  const router = createConnectRouter(options);
  options.routes(router);
  const byPath = new Map<string, UniversalHandler>(router.handlers.map((handler) => [handler.requestPath, handler]));
  return (exchange) => {
    const queryStart = exchange.target.indexOf("?");
    const handler = byPath.get(queryStart < 0 ? exchange.target : exchange.target.slice(0, queryStart));
    if (handler === undefined) return false;
    handler(universalRequest(exchange)).then(
      (response) => writeResponse(exchange, response),
      (err: unknown) => {
        // Connect answers failures itself; a rejection here is a bug.
        options.onInternalError(err);
        if (!exchange.responded) exchange.respond(500, { "content-type": "text/plain" }, "internal error");
        else exchange.reset();
      },
    );
    return true;
  };
}

function universalRequest(exchange: Exchange): UniversalServerRequest {
  const header = new Headers();
  for (const [name, value] of Object.entries(exchange.headers)) {
    if (name.startsWith(":") || value === undefined) continue;
    if (Array.isArray(value)) for (const v of value) header.append(name, v);
    else header.set(name, value);
  }
  // Handlers read the call's request id here, as the fast paths answer it: the caller's when valid, else the exchange's own.
  header.set(REQUEST_ID_HEADER, exchange.requestId);
  return {
    httpVersion: exchange.httpVersion === "2" ? "2.0" : "1.1",
    method: exchange.method,
    url: `${exchange.encrypted ? "https" : "http"}://${exchange.authority || "localhost"}${exchange.target}`,
    header,
    body: exchange.bodyChunks(),
    signal: exchange.signal,
  };
}

/** Node header object from Web Headers; gRPC's `grpc-message` re-encoded the way grpc-js reads it. */
function nodeHeaders(headers: Headers | undefined, grpc: boolean): OutgoingHttpHeaders {
  const out: OutgoingHttpHeaders = {};
  headers?.forEach((value, name) => {
    out[name] = grpc && name === "grpc-message" ? reencodeGrpcMessage(value) : value;
  });
  return out;
}

/** Largest error body read back to add its ErrorInfo (Connect's are a few hundred bytes). */
const MAX_ERROR_BODY_BYTES = 64 * 1024;

async function writeResponse(exchange: Exchange, response: UniversalServerResponse): Promise<void> {
  const contentType = response.header?.get("content-type") ?? "";
  const grpc = contentType.startsWith("application/grpc") && !contentType.startsWith("application/grpc-web");
  let headers = nodeHeaders(response.header, grpc);
  let trailers = response.trailer === undefined ? undefined : nodeHeaders(response.trailer, grpc);
  if (contentType.startsWith("application/grpc")) {
    headers = grpcWithReason(headers);
    if (trailers !== undefined) trailers = grpcWithReason(trailers);
  }
  const withTrailers = trailers !== undefined && exchange.httpVersion === "2";
  if (response.status === 415 && response.body === undefined) {
    exchange.respond(415, { ...headers, "content-type": "application/json" }, unsupportedMediaTypeBody(exchange.headers["content-type"]));
    return;
  }
  if (response.status !== 200 && contentType.startsWith("application/json") && response.body !== undefined) {
    const body = await readAll(response.body);
    if (body === undefined) exchange.reset();
    else exchange.respond(response.status, headers, connectErrorWithReason(body));
    return;
  }
  if (response.body === undefined) {
    exchange.respond(response.status, headers, withTrailers ? new Uint8Array(0) : undefined, withTrailers ? trailers : undefined);
    return;
  }
  exchange.start(response.status, headers, withTrailers);
  try {
    for await (const chunk of response.body) await exchange.write(chunk);
  } catch {
    exchange.reset(); // the client went away, or the handler's stream failed half-way
    return;
  }
  exchange.end(withTrailers ? trailers : undefined);
}

/** The whole of a (small) body, or undefined when it fails or passes MAX_ERROR_BODY_BYTES. */
async function readAll(body: AsyncIterable<Uint8Array>): Promise<Uint8Array | undefined> {
  const chunks: Uint8Array[] = [];
  let length = 0;
  try {
    for await (const chunk of body) {
      length += chunk.byteLength;
      if (length > MAX_ERROR_BODY_BYTES) return undefined;
      chunks.push(chunk);
    }
  } catch {
    return undefined;
  }
  return Buffer.concat(chunks);
}
