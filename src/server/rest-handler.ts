import type { DescMessage, JsonObject, JsonValue } from "@bufbuild/protobuf";
import { Code, ConnectError } from "@connectrpc/connect";
import type { UnaryHandler } from "../service/types.js";
import { httpStatusOf, requestTooLarge, restErrorBody } from "./errors.js";
import type { Exchange } from "./exchange.js";
import { messageFromJson, parseJsonBody } from "./json-request.js";
import { createJsonWriter } from "./proto-json-writer.js";
import { matchRoute, type RestRoute } from "./rest-routes.js";
import { runUnary } from "./unary-call.js";
import { ErrorReason, refusal } from "../service/error-reasons.js";

/** Options for {@link createRestHandler}. */
export interface RestHandlerOptions {
  routes: readonly RestRoute[];
  /** Handlers by the RPC's local name (`info`, `blacklist`...). */
  impls: Readonly<Record<string, UnaryHandler>>;
  /** Larger request bodies are refused before they are parsed. */
  readMaxBytes: number;
  /** Failures that are our fault (never token material). */
  onInternalError: (err: unknown) => void;
}

const JSON_TYPE = { "content-type": "application/json" };

/**
 * Serves the REST routes: binds path variables, query parameters and the JSON
 * body to the request message, calls the RPC's handler, and answers with the
 * response message in JSON using proto field names (`decoded_token`), as the
 * original service did. Every failure is a JSON error with a 4xx/5xx status,
 * never a crash. Returns false when no route has the request's path.
 */
export function createRestHandler(options: RestHandlerOptions): (exchange: Exchange) => boolean {
  const writers = new Map(options.routes.map((route) => [route, createJsonWriter(route.method.output, "proto")]));
  return (exchange) => {
    // Not `new URL(target, base)`: a path like "//x" would parse as a host.
    const target = exchange.target;
    const queryStart = target.indexOf("?");
    const pathname = queryStart < 0 ? target : target.slice(0, queryStart);
    const match = matchRoute(options.routes, exchange.method, pathname);
    if (match.kind === "not-found") return false;
    if (match.kind === "method-not-allowed") {
      const error = refusal(
        Code.Unimplemented,
        ErrorReason.METHOD_NOT_FOUND,
        `${pathname} does not accept ${exchange.method}; use ${match.allow.join(" or ")}`,
      );
      void exchange.readBody(options.readMaxBytes, () => error).catch(() => {});
      exchange.respond(405, { ...JSON_TYPE, allow: match.allow.join(", ") }, JSON.stringify(restErrorBody(error)));
      return true;
    }
    const { route, pathParams } = match;
    const handler = options.impls[route.method.localName];
    if (handler === undefined) return false;
    const query = queryStart < 0 ? undefined : new URLSearchParams(target.slice(queryStart + 1));
    void serve(exchange, route, handler, writers.get(route)!, (text) => bindRequest(route, text, query, pathParams), options);
    return true;
  };
}

async function serve(
  exchange: Exchange,
  route: RestRoute,
  handler: UnaryHandler,
  write: (init: Record<string, unknown>) => JsonValue,
  bind: (body: string) => unknown,
  options: RestHandlerOptions,
): Promise<void> {
  const outcome = await runUnary(exchange, {
    handler,
    protocol: "rest",
    // Every request is read to its end, with or without a body rule: one the client cancels is never acted on.
    decode: () => {
      if (exchange.bodiless) return bind("");
      return exchange
        .readBody(options.readMaxBytes, () => requestTooLarge(options.readMaxBytes))
        .then((body) => bind(route.body === "" ? "" : body.toString("utf8")));
    },
    onInternalError: options.onInternalError,
  });
  if (outcome.error !== undefined) {
    exchange.respond(httpStatusOf(outcome.error), JSON_TYPE, JSON.stringify(restErrorBody(outcome.error)));
    return;
  }
  let payload: string;
  try {
    payload = JSON.stringify(write(outcome.response));
  } catch (err) {
    options.onInternalError(err);
    const error = new ConnectError("cannot encode the response", Code.Internal);
    exchange.respond(httpStatusOf(error), JSON_TYPE, JSON.stringify(restErrorBody(error)));
    return;
  }
  exchange.respond(200, JSON_TYPE, payload);
}

function bindRequest(route: RestRoute, body: string, query: URLSearchParams | undefined, pathParams: Record<string, string>): unknown {
  const schema: DescMessage = route.method.input;
  let json: JsonObject = {};
  if (route.body === "*") {
    json = body.trim() === "" ? {} : parseJsonBody(body);
  } else {
    if (route.body !== "") json[route.body] = body.trim() === "" ? null : parseJsonValue(body);
    if (query !== undefined) bindQuery(json, schema, query, route.body);
  }
  Object.assign(json, pathParams); // the path names the resource: it wins over the body
  return messageFromJson(schema, json);
}

/** Query parameters bind to fields the body does not cover; others (cache busters...) are ignored. */
function bindQuery(json: JsonObject, schema: DescMessage, query: URLSearchParams, bodyField: string): void {
  for (const field of schema.fields) {
    const values = query.getAll(field.name).concat(field.jsonName !== field.name ? query.getAll(field.jsonName) : []);
    if (values.length === 0 || field.name === bodyField) continue;
    json[field.name] = field.fieldKind === "list" ? values : values[values.length - 1]!;
  }
}

function parseJsonValue(body: string): JsonValue {
  try {
    return JSON.parse(body) as JsonValue;
  } catch {
    throw refusal(Code.InvalidArgument, ErrorReason.REQUEST_MALFORMED, "Request body must be JSON");
  }
}
