import * as http from "node:http";
import * as http2 from "node:http2";
import * as https from "node:https";
import { type MessageInitShape, toJson, create, type DescMethod } from "@bufbuild/protobuf";
import * as grpc from "@grpc/grpc-js";
import { ConnectError, createClient, type Transport } from "@connectrpc/connect";
import { codeToString } from "@connectrpc/connect/protocol-connect";
import { createConnectTransport, createGrpcTransport, createGrpcWebTransport } from "@connectrpc/connect-node";
import { TokenService } from "../../gen/tokens/v1/token_service_pb.js";
import { restRoutes } from "../../src/server/rest-routes.js";
import { errorInfoOf, grpcJsCaller, restErrorInfo } from "./clients.js";

/** One RPC's result, whatever carried it: `code` is "ok" or the Connect code name. */
export interface RpcOutcome {
  code: string;
  message: string;
  /** The error's ErrorInfo reason (undefined on success, or when the error carried none). */
  reason?: string | undefined;
  /** The error's ErrorInfo metadata. */
  metadata?: Record<string, string>;
  /** The response message (success) as the protocol's JSON reads it; field names vary by protocol. */
  body: Record<string, unknown> | undefined;
}

/** Calls any TokenService RPC by name, with a request in JSON names (`pageSize`), over one protocol. */
export interface RpcCaller {
  name: string;
  call(rpc: string, request: Record<string, unknown>, headers: Record<string, string>): Promise<RpcOutcome>;
  close(): void;
}

/** Where a service listens, and the CA to trust when it speaks TLS. */
export interface Endpoint {
  port: number;
  ca?: Buffer | undefined;
}

const scheme = (endpoint: Endpoint) => (endpoint.ca === undefined ? "http" : "https");
const baseUrl = (endpoint: Endpoint) => `${scheme(endpoint)}://localhost:${endpoint.port}`;
const methodOf = (rpc: string): DescMethod => TokenService.methods.find((m) => m.name === rpc)!;

/** A generated Connect client over one of connect-node's transports. */
function connectCaller(name: string, transport: Transport): RpcCaller {
  const client = createClient(TokenService, transport) as unknown as Record<
    string,
    (request: object, options: { headers: Record<string, string> }) => Promise<object>
  >;
  return {
    name,
    async call(rpc, request, headers) {
      const method = methodOf(rpc);
      try {
        const response = await client[method.localName]!(request, { headers });
        return {
          code: "ok",
          message: "",
          body: toJson(method.output, create(method.output, response as MessageInitShape<typeof method.output>)) as Record<string, unknown>,
        };
      } catch (err) {
        const e = ConnectError.from(err);
        return { code: codeToString(e.code), message: e.rawMessage, ...errorInfoOf(e), body: undefined };
      }
    },
    close: () => {},
  };
}

/** @grpc/grpc-js loading the .proto, as a service in another codebase would. */
function grpcJs(endpoint: Endpoint): RpcCaller {
  const credentials = endpoint.ca === undefined ? grpc.credentials.createInsecure() : grpc.credentials.createSsl(endpoint.ca);
  const caller = grpcJsCaller(
    endpoint.port,
    credentials,
    endpoint.ca === undefined ? {} : { "grpc.ssl_target_name_override": "localhost" },
  );
  return {
    name: "grpc-js",
    async call(rpc, request, headers) {
      const outcome = await caller.call(rpc, request, headers);
      return outcome.ok
        ? { code: "ok", message: "", body: outcome.body }
        : { code: outcome.code, message: outcome.message, reason: outcome.reason, metadata: outcome.metadata, body: undefined };
    },
    close: () => caller.close(),
  };
}

/** The REST route of each RPC, from the same annotations the server reads. */
const routes = restRoutes(TokenService);

/** Builds the HTTP request a curl user would send for an RPC: path variables, query or JSON body. */
export function restRequest(rpc: string, request: Record<string, unknown>): { method: string; path: string; body: string | undefined } {
  const route = routes.find((r) => r.method.name === rpc)!;
  const rest: Record<string, unknown> = { ...request };
  const path = route.segments
    .map((segment) => {
      if (typeof segment === "string") return segment;
      const field = route.method.input.fields.find((f) => f.name === segment.field)!;
      const value = String(rest[field.jsonName] ?? rest[field.name] ?? "");
      delete rest[field.jsonName];
      delete rest[field.name];
      return encodeURIComponent(value);
    })
    .join("/");
  if (route.body === "*")
    return { method: route.httpMethod, path: `/${path}`, body: Object.keys(rest).length === 0 ? undefined : JSON.stringify(rest) };
  const query = new URLSearchParams(Object.entries(rest).map(([k, v]): [string, string] => [k, String(v)])).toString();
  return { method: route.httpMethod, path: `/${path}${query === "" ? "" : `?${query}`}`, body: undefined };
}

/** Sends one HTTP/1.1 request (TLS when the endpoint has a CA) and reads a JSON answer. */
export function http1Request(
  endpoint: Endpoint,
  method: string,
  path: string,
  headers: Record<string, string>,
  body?: string | Buffer,
): Promise<{ status: number; headers: http.IncomingHttpHeaders; text: string; raw: Buffer }> {
  return new Promise((resolve, reject) => {
    const options = {
      host: "127.0.0.1",
      port: endpoint.port,
      method,
      path,
      headers: { ...headers },
      ca: endpoint.ca,
      servername: "localhost",
    };
    if (body !== undefined) Object.assign(options.headers, { "content-length": String(Buffer.byteLength(body)) });
    const req = (endpoint.ca === undefined ? http : https).request(options, (res) => {
      const chunks: Buffer[] = [];
      res.on("data", (d: Buffer) => chunks.push(d));
      res.on("end", () => {
        const raw = Buffer.concat(chunks);
        resolve({ status: res.statusCode!, headers: res.headers, text: raw.toString("utf8"), raw });
      });
    });
    req.on("error", reject);
    req.end(body);
  });
}

/** The REST routes over HTTP/1.1, proto field names in and out. */
function restHttp1(endpoint: Endpoint): RpcCaller {
  return {
    name: "REST HTTP/1.1",
    async call(rpc, request, headers) {
      const { method, path, body } = restRequest(rpc, request);
      const res = await http1Request(
        endpoint,
        method,
        path,
        body === undefined ? headers : { ...headers, "content-type": "application/json" },
        body,
      );
      return restOutcome(res.status, res.text);
    },
    close: () => {},
  };
}

/** The REST routes over HTTP/2 (h2c or TLS), with Node's http2 client. */
function restHttp2(endpoint: Endpoint): RpcCaller {
  const session = http2.connect(baseUrl(endpoint), endpoint.ca === undefined ? {} : { ca: endpoint.ca });
  session.on("error", () => {});
  return {
    name: "REST HTTP/2",
    call: (rpc, request, headers) =>
      new Promise((resolve, reject) => {
        const { method, path, body } = restRequest(rpc, request);
        // endStream stated: Node's client ends DELETE requests at once unless told otherwise.
        const stream = session.request(
          { ":method": method, ":path": path, ...headers, ...(body === undefined ? {} : { "content-type": "application/json" }) },
          { endStream: body === undefined },
        );
        let status = 0;
        let text = "";
        stream.on("response", (h) => (status = Number(h[":status"])));
        stream.setEncoding("utf8");
        stream.on("data", (d: string) => (text += d));
        stream.on("end", () => resolve(restOutcome(status, text)));
        stream.on("error", reject);
        stream.end(body);
      }),
    close: () => session.close(),
  };
}

function restOutcome(status: number, text: string): RpcOutcome {
  const json = JSON.parse(text) as Record<string, unknown>;
  if (status === 200) return { code: "ok", message: "", body: json };
  return { code: String(json.code), message: String(json.info), ...restErrorInfo(json), body: undefined };
}

/** Every protocol the port serves, each with an independent client, over h2c/HTTP/1.1 or TLS. */
export function allRpcCallers(endpoint: Endpoint): RpcCaller[] {
  const url = baseUrl(endpoint);
  const nodeOptions = endpoint.ca === undefined ? {} : { ca: endpoint.ca };
  return [
    restHttp1(endpoint),
    restHttp2(endpoint),
    connectCaller("Connect JSON HTTP/1.1", createConnectTransport({ baseUrl: url, httpVersion: "1.1", nodeOptions })),
    connectCaller("Connect binary HTTP/2", createConnectTransport({ baseUrl: url, httpVersion: "2", useBinaryFormat: true, nodeOptions })),
    connectCaller("gRPC (Connect transport)", createGrpcTransport({ baseUrl: url, nodeOptions })),
    connectCaller("gRPC-Web HTTP/1.1", createGrpcWebTransport({ baseUrl: url, httpVersion: "1.1", nodeOptions })),
    grpcJs(endpoint),
  ];
}
