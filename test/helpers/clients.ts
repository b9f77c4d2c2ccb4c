import * as http2 from "node:http2";
import { fileURLToPath } from "node:url";
import * as grpc from "@grpc/grpc-js";
import * as protoLoader from "@grpc/proto-loader";
import { type Code, ConnectError, createClient, type Transport } from "@connectrpc/connect";
import { codeToString } from "@connectrpc/connect/protocol-connect";
import { createConnectTransport, createGrpcWebTransport } from "@connectrpc/connect-node";
import { fromBinary } from "@bufbuild/protobuf";
import { anyIs, anyUnpack } from "@bufbuild/protobuf/wkt";
import { ErrorInfoSchema } from "../../gen/google/rpc/error_details_pb.js";
import { StatusSchema } from "../../gen/google/rpc/status_pb.js";
import { TokenService } from "../../gen/tokens/v1/token_service_pb.js";

/** What every client reports, whatever the protocol: a body, or a code, message and the ErrorInfo's reason and metadata. */
export type Outcome =
  | { ok: true; status: number; body: Record<string, unknown> }
  | {
      ok: false;
      status: number;
      code: string;
      message: string;
      reason: string | undefined;
      metadata: Record<string, string>;
      body?: unknown;
    };

/** The ErrorInfo a Connect client found in an error, as an {@link Outcome} holds it. */
export function errorInfoOf(err: ConnectError): { reason: string | undefined; metadata: Record<string, string> } {
  const [info] = err.findDetails(ErrorInfoSchema);
  return { reason: info?.reason, metadata: info?.metadata ?? {} };
}

/**
 * The ErrorInfo in a gRPC error's `grpc-status-details-bin` trailer (a
 * google.rpc.Status), read as a grpc-js user would.
 */
export function grpcErrorInfo(metadata: grpc.Metadata | undefined): { reason: string | undefined; metadata: Record<string, string> } {
  const [bytes] = metadata?.get("grpc-status-details-bin") ?? [];
  if (!(bytes instanceof Buffer)) return { reason: undefined, metadata: {} };
  const status = fromBinary(StatusSchema, bytes);
  const any = status.details.find((detail) => anyIs(detail, ErrorInfoSchema));
  const info = any === undefined ? undefined : anyUnpack(any, ErrorInfoSchema);
  return { reason: info?.reason, metadata: info?.metadata ?? {} };
}

/** The `reason` and `metadata` of a REST error body. */
export function restErrorInfo(body: Record<string, unknown>): { reason: string | undefined; metadata: Record<string, string> } {
  return {
    reason: typeof body.reason === "string" ? body.reason : undefined,
    metadata: (body.metadata as Record<string, string> | undefined) ?? {},
  };
}

/** Headers to send: `authorization` and `x-admin-key` are the ones that matter. */
export type CallHeaders = Record<string, string>;

/** One way of calling the three RPCs. */
export interface TokenClient {
  name: string;
  info(headers: CallHeaders): Promise<Outcome>;
  blacklist(headers: CallHeaders): Promise<Outcome>;
  unblacklist(headers: CallHeaders): Promise<Outcome>;
  close(): void;
}

/** `Authorization: Bearer <token>` as a header object. */
export const bearer = (token: string, extra: CallHeaders = {}): CallHeaders => ({
  authorization: `Bearer ${token}`,
  ...extra,
});

/** The original REST routes over HTTP/1.1 with fetch. */
export function restHttp1Client(baseUrl: string): TokenClient {
  const call = (method: string, path: string, headers: CallHeaders) => restCall(baseUrl, method, path, headers);
  return {
    name: "REST HTTP/1.1",
    info: (h) => call("GET", "/info", h),
    blacklist: (h) => call("POST", "/blacklist", h),
    unblacklist: (h) => call("DELETE", "/blacklist", h),
    close: () => {},
  };
}

/** The REST routes over h2c (prior knowledge), with Node's http2 client. */
export function restHttp2Client(baseUrl: string): TokenClient {
  const session = http2.connect(baseUrl);
  session.on("error", () => {});
  const call = (method: string, path: string, headers: CallHeaders) =>
    new Promise<Outcome>((resolve, reject) => {
      const stream = session.request({ ":method": method, ":path": path, ...headers });
      let status = 0;
      let text = "";
      stream.on("response", (h) => (status = Number(h[":status"])));
      stream.setEncoding("utf8");
      stream.on("data", (d: string) => (text += d));
      stream.on("end", () => resolve(restOutcome(status, text)));
      stream.on("error", reject);
      stream.end();
    });
  return {
    name: "REST h2c",
    info: (h) => call("GET", "/info", h),
    blacklist: (h) => call("POST", "/blacklist", h),
    unblacklist: (h) => call("DELETE", "/blacklist", h),
    close: () => session.close(),
  };
}

function restOutcome(status: number, text: string): Outcome {
  let body: Record<string, unknown>;
  try {
    body = JSON.parse(text) as Record<string, unknown>;
  } catch {
    return { ok: false, status, code: "not-json", message: text, reason: undefined, metadata: {} };
  }
  if (status === 200) return { ok: true, status, body };
  return { ok: false, status, code: String(body.code), message: String(body.info), ...restErrorInfo(body), body };
}

/** A generated Connect client over any Connect transport. */
export function connectClient(name: string, transport: Transport): TokenClient {
  const client = createClient(TokenService, transport);
  const call = async (run: () => Promise<object>): Promise<Outcome> => {
    try {
      return { ok: true, status: 200, body: { ...(await run()) } };
    } catch (err) {
      const e = ConnectError.from(err);
      return { ok: false, status: 0, code: codeToString(e.code), message: e.rawMessage, ...errorInfoOf(e) };
    }
  };
  return {
    name,
    info: (h) => call(() => client.info({}, { headers: h })),
    blacklist: (h) => call(() => client.blacklist({}, { headers: h })),
    unblacklist: (h) => call(() => client.unblacklist({}, { headers: h })),
    close: () => {},
  };
}

/** Connect protocol, JSON, HTTP/1.1: what `curl -d '{}'` speaks. */
export const connectJsonClient = (baseUrl: string) =>
  connectClient("Connect JSON HTTP/1.1", createConnectTransport({ baseUrl, httpVersion: "1.1" }));

/** Connect protocol, binary, h2c. */
export const connectBinaryH2Client = (baseUrl: string) =>
  connectClient("Connect binary h2c", createConnectTransport({ baseUrl, httpVersion: "2", useBinaryFormat: true }));

/** gRPC-Web, binary, HTTP/1.1: what a browser speaks through a page. */
export const grpcWebClient = (baseUrl: string) =>
  connectClient("gRPC-Web HTTP/1.1", createGrpcWebTransport({ baseUrl, httpVersion: "1.1" }));

const protoDir = fileURLToPath(new URL("../../proto", import.meta.url));

/** Calls any TokenService RPC by name with a request object; what a generic gRPC caller (grpcurl) does. */
export interface GrpcCaller {
  call(method: string, request: object, headers: CallHeaders): Promise<Outcome>;
  close(): void;
}

/**
 * gRPC with @grpc/grpc-js, an independent implementation that shares no code
 * with Connect, loading the .proto the way other services would. Enums come
 * back as their names, Timestamps as `{seconds, nanos}`.
 */
export function grpcJsCaller(
  port: number,
  credentials: grpc.ChannelCredentials = grpc.credentials.createInsecure(),
  channelOptions: grpc.ChannelOptions = {},
): GrpcCaller {
  const definition = protoLoader.loadSync("tokens/v1/token_service.proto", {
    includeDirs: [protoDir],
    defaults: true,
    enums: String,
    longs: String,
  });
  const pkg = grpc.loadPackageDefinition(definition) as unknown as {
    tokens: { v1: { TokenService: grpc.ServiceClientConstructor } };
  };
  const client = new pkg.tokens.v1.TokenService(`127.0.0.1:${port}`, credentials, channelOptions);
  return {
    call: (method, request, headers) =>
      new Promise<Outcome>((resolve) => {
        const metadata = new grpc.Metadata();
        for (const [k, v] of Object.entries(headers)) metadata.set(k, v);
        const fn = client[method] as unknown as (
          req: object,
          md: grpc.Metadata,
          cb: (err: grpc.ServiceError | null, res: Record<string, unknown>) => void,
        ) => void;
        fn.call(client, request, metadata, (err, res) => {
          if (err === null) resolve({ ok: true, status: 200, body: plainStructs(res) });
          else
            resolve({
              ok: false,
              status: 0,
              code: codeToString(err.code as number as Code),
              message: err.details,
              ...grpcErrorInfo(err.metadata),
            });
        });
      }),
    close: () => client.close(),
  };
}

/** {@link grpcJsCaller} as a {@link TokenClient}. */
export function grpcJsClient(port: number, credentials?: grpc.ChannelCredentials, channelOptions?: grpc.ChannelOptions): TokenClient {
  const caller = grpcJsCaller(port, credentials, channelOptions);
  return {
    name: "gRPC (grpc-js)",
    info: (h) => caller.call("Info", {}, h),
    blacklist: (h) => caller.call("Blacklist", {}, h),
    unblacklist: (h) => caller.call("Unblacklist", {}, h),
    close: () => caller.close(),
  };
}

/** Calls a REST route with an optional JSON body, as curl would. */
export async function restCall(baseUrl: string, method: string, path: string, headers: CallHeaders = {}, body?: unknown): Promise<Outcome> {
  const res = await fetch(baseUrl + path, {
    method,
    headers: body === undefined ? headers : { "content-type": "application/json", ...headers },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  return restOutcome(res.status, await res.text());
}

/** Every protocol the port serves, each with its own client. */
export function allClients(baseUrl: string, port: number): TokenClient[] {
  return [
    restHttp1Client(baseUrl),
    restHttp2Client(baseUrl),
    connectJsonClient(baseUrl),
    connectBinaryH2Client(baseUrl),
    grpcWebClient(baseUrl),
    grpcJsClient(port),
  ];
}

/** proto-loader leaves google.protobuf.Struct as `{fields: {k: {stringValue}}}`; tests compare plain JSON. */
function plainStructs(message: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(message)) {
    out[key] = isStruct(value) ? structToJson(value) : value;
  }
  return out;
}

type StructValue = { fields: Record<string, Record<string, unknown>> };
const isStruct = (v: unknown): v is StructValue => typeof v === "object" && v !== null && "fields" in v && Object.keys(v).length === 1;

function structToJson(struct: StructValue): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(struct.fields)) out[key] = valueToJson(value);
  return out;
}

function valueToJson(value: Record<string, unknown>): unknown {
  if ("stringValue" in value) return value.stringValue;
  if ("numberValue" in value) return value.numberValue;
  if ("boolValue" in value) return value.boolValue;
  if ("structValue" in value) return structToJson(value.structValue as StructValue);
  if ("listValue" in value) return ((value.listValue as { values?: Record<string, unknown>[] }).values ?? []).map(valueToJson);
  return null;
}
