import type { IncomingHttpHeaders } from "node:http";
import { create, fromJson, type DescMessage, type JsonObject, type JsonValue } from "@bufbuild/protobuf";
import { Code, ConnectError } from "@connectrpc/connect";
import type { CallContext, UnaryHandler } from "../service/call.js";
import { restError } from "./error-body.js";
import { headerValue } from "./header-value.js";
import { readBody, type BodySource } from "./read-body.js";
import { createRestJson } from "./rest-json.js";
import { matchRoute, type RestRoute } from "./rest-routes.js";

/** The part of a Node HTTP/1 or HTTP/2 request this handler reads. */
interface Request extends BodySource {
  readonly url?: string | undefined;
  readonly method?: string | undefined;
  readonly headers: IncomingHttpHeaders;
}

/** The part of a Node HTTP/1 or HTTP/2 response this handler writes. */
interface Response {
  readonly headersSent: boolean;
  writeHead(status: number, headers: Record<string, string | number>): unknown;
  end(body: string): unknown;
  destroy(): unknown;
}

/** Options for {@link createRestHandler}. */
export interface RestHandlerOptions {
  routes: readonly RestRoute[];
  /** Handlers by the RPC's local name (`info`, `blacklist`...). */
  impls: Readonly<Record<string, UnaryHandler>>;
  /** Larger request bodies are refused before they are parsed. */
  readMaxBytes: number;
  /** Logs failures that are our fault (never token material). */
  onInternalError: (err: unknown) => void;
}

/**
 * Serves the REST routes: binds path variables, query parameters and the JSON
 * body to the request message, calls the RPC's handler, and answers with the
 * response message in JSON using proto field names (`decoded_token`), as the
 * original service did. Every failure is a JSON error with a 4xx/5xx status,
 * never a crash.
 */
export function createRestHandler(options: RestHandlerOptions): (req: Request, res: Response) => void {
  const writers = new Map(options.routes.map((route) => [route, createRestJson(route.method.output)]));
  const responseJson = (route: RestRoute) => writers.get(route)!;
  return (req, res) => {
    serve(options, responseJson, req, res).catch((err: unknown) => {
      options.onInternalError(err);
      if (!res.headersSent) sendError(res, err);
      else res.destroy();
    });
  };
}

async function serve(
  options: RestHandlerOptions,
  responseJson: (route: RestRoute) => (init: Record<string, unknown>) => JsonValue,
  req: Request,
  res: Response,
): Promise<void> {
  // Not `new URL(req.url, base)`: a path like "//x" would parse as a host.
  const target = req.url ?? "/";
  const queryStart = target.indexOf("?");
  const pathname = queryStart < 0 ? target : target.slice(0, queryStart);
  const query = queryStart < 0 ? undefined : new URLSearchParams(target.slice(queryStart + 1));
  const httpMethod = req.method ?? "GET";
  const match = matchRoute(options.routes, httpMethod, pathname);
  if (match.kind === "not-found") {
    req.resume();
    return sendError(res, new ConnectError(`No route for ${httpMethod} ${pathname}`, Code.NotFound));
  }
  if (match.kind === "method-not-allowed") {
    req.resume();
    const error = restError(
      new ConnectError(`${pathname} does not accept ${httpMethod}; use ${match.allow.join(" or ")}`, Code.Unimplemented),
    );
    return send(res, 405, error.body, { allow: match.allow.join(", ") });
  }
  const { route, pathParams } = match;
  try {
    // Routes without a body rule never read one (Node discards it after the answer).
    const body =
      route.body === ""
        ? ""
        : (
            await readBody(
              req,
              options.readMaxBytes,
              () => new ConnectError(`Request body is larger than ${options.readMaxBytes} bytes`, Code.InvalidArgument),
            )
          ).toString("utf8");
    const request = bindRequest(route, body, query, pathParams);
    const impl = options.impls[route.method.localName];
    if (impl === undefined) throw new ConnectError(`${route.method.name} is not implemented`, Code.Unimplemented);
    const ctx: CallContext = { requestHeader: { get: (name) => headerValue(req.headers[name]) }, protocolName: "rest" };
    send(res, 200, responseJson(route)((await impl(request, ctx)) as Record<string, unknown>));
  } catch (err) {
    if (!(err instanceof ConnectError)) throw err;
    sendError(res, err);
  }
}

function bindRequest(route: RestRoute, body: string, query: URLSearchParams | undefined, pathParams: Record<string, string>): unknown {
  const schema: DescMessage = route.method.input;
  let json: JsonObject = {};
  if (route.body === "*") {
    json = parseJsonObject(body);
  } else {
    if (route.body !== "") json[route.body] = body.trim() === "" ? null : parseJson(body);
    if (query !== undefined) bindQuery(json, schema, query, route.body);
  }
  Object.assign(json, pathParams);
  if (Object.keys(json).length === 0) return create(schema);
  try {
    return fromJson(schema, json);
  } catch (err) {
    throw new ConnectError(`Request does not match ${schema.typeName}: ${(err as Error).message}`, Code.InvalidArgument);
  }
}

/** Query parameters bind to fields the body does not cover; others (cache busters...) are ignored. */
function bindQuery(json: JsonObject, schema: DescMessage, query: URLSearchParams, bodyField: string): void {
  for (const field of schema.fields) {
    const values = query.getAll(field.name).concat(field.jsonName !== field.name ? query.getAll(field.jsonName) : []);
    if (values.length === 0 || field.name === bodyField) continue;
    json[field.name] = field.fieldKind === "list" ? values : values[values.length - 1]!;
  }
}

function parseJsonObject(body: string): JsonObject {
  if (body.trim() === "") return {};
  const value = parseJson(body);
  if (typeof value !== "object" || value === null || Array.isArray(value)) {
    throw new ConnectError("Request body must be a JSON object", Code.InvalidArgument);
  }
  return value;
}

function parseJson(body: string): JsonValue {
  try {
    return JSON.parse(body) as JsonValue;
  } catch {
    throw new ConnectError("Request body must be JSON", Code.InvalidArgument);
  }
}

function sendError(res: Response, err: unknown): void {
  const { status, body } = restError(err);
  send(res, status, body);
}

function send(res: Response, status: number, body: unknown, headers: Record<string, string> = {}): void {
  const payload = JSON.stringify(body);
  res.writeHead(status, {
    ...headers,
    "content-type": "application/json",
    "content-length": Buffer.byteLength(payload),
  });
  res.end(payload);
}
