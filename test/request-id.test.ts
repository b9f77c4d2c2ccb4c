import * as http2 from "node:http2";
import * as grpc from "@grpc/grpc-js";
import * as protoLoader from "@grpc/proto-loader";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startService, type TestService } from "./helpers/service.js";
import { mint } from "./helpers/tokens.js";

let service: TestService;
const logLines: string[] = [];
let grpcClient: grpc.Client & Record<string, unknown>;

beforeAll(async () => {
  service = await startService({ LOG_LEVEL: "info", CORS_ORIGINS: "https://app.example.com" }, { logLines });
  const definition = protoLoader.loadSync("tokens/v1/token_service.proto", {
    includeDirs: [fileURLToPath(new URL("../proto", import.meta.url))],
  });
  const pkg = grpc.loadPackageDefinition(definition) as unknown as { tokens: { v1: { TokenService: grpc.ServiceClientConstructor } } };
  grpcClient = new pkg.tokens.v1.TokenService(`127.0.0.1:${service.port}`, grpc.credentials.createInsecure()) as typeof grpcClient;
});
afterAll(async () => {
  grpcClient?.close();
  await service?.close();
});

/** What the server makes: 96 random bits, base64url. */
const GENERATED = /^[A-Za-z0-9_-]{16}$/;

/** What a call came back with: its status (HTTP, or the gRPC code) and the x-request-id it carried. */
interface Answer {
  status: number;
  requestId: string | undefined;
}

/** Sends one Info call with `headers` over raw HTTP/2 (prior knowledge). */
function h2Call(method: string, path: string, headers: Record<string, string>, body?: Uint8Array): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const session = http2.connect(service.baseUrl);
    session.on("error", reject);
    const stream = session.request({ ":method": method, ":path": path, ...headers });
    let answer: Answer = { status: 0, requestId: undefined };
    stream.on("response", (h) => {
      answer = { status: Number(h[":status"]), requestId: h["x-request-id"] as string | undefined };
    });
    stream.on("data", () => {});
    stream.on("end", () => {
      session.close();
      resolve(answer);
    });
    stream.on("error", reject);
    stream.end(body);
  });
}

async function fetchCall(method: string, path: string, headers: Record<string, string>, body?: Uint8Array | string): Promise<Answer> {
  const res = await fetch(service.baseUrl + path, { method, headers, ...(body === undefined ? {} : { body }) });
  await res.arrayBuffer();
  return { status: res.status, requestId: res.headers.get("x-request-id") ?? undefined };
}

/** grpc-js's Info: the id from the response headers on success, from the trailers-only status on failure. */
function grpcCall(headers: Record<string, string>): Promise<Answer> {
  return new Promise((resolve) => {
    const metadata = new grpc.Metadata();
    for (const [k, v] of Object.entries(headers)) metadata.set(k, v);
    let fromHeaders: string | undefined;
    const info = grpcClient.Info as (req: object, md: grpc.Metadata, cb: (err: grpc.ServiceError | null) => void) => grpc.ClientUnaryCall;
    const call = info.call(grpcClient, {}, metadata, (err) => {
      const requestId = fromHeaders ?? (err?.metadata.get("x-request-id")[0] as string | undefined);
      resolve({ status: err?.code ?? 0, requestId });
    });
    call.on("metadata", (md) => (fromHeaders = md.get("x-request-id")[0] as string | undefined));
  });
}

const EMPTY_FRAME = new Uint8Array(5); // one empty, uncompressed message
const INFO = "/tokens.v1.TokenService/Info";

/** Every protocol, each on the route that serves it (the fast paths, and Connect's own handlers for gRPC-Web). */
const protocols: Array<[string, (headers: Record<string, string>) => Promise<Answer>]> = [
  ["REST HTTP/1.1", (h) => fetchCall("GET", "/info", h)],
  ["REST h2c", (h) => h2Call("GET", "/info", h)],
  ["Connect JSON HTTP/1.1", (h) => fetchCall("POST", INFO, { ...h, "content-type": "application/json" }, "{}")],
  ["Connect binary h2c", (h) => h2Call("POST", INFO, { ...h, "content-type": "application/proto" }, new Uint8Array(0))],
  ["gRPC-Web HTTP/1.1", (h) => fetchCall("POST", INFO, { ...h, "content-type": "application/grpc-web+proto" }, EMPTY_FRAME)],
  ["gRPC (grpc-js)", grpcCall],
];

/** The log line of the call with this request id. */
const loggedWith = (requestId: string) =>
  logLines.map((line) => JSON.parse(line) as Record<string, unknown>).filter((e) => e.msg === "request" && e.requestId === requestId);

describe.each(protocols)("x-request-id over %s", (name, call) => {
  const bearer = { authorization: `Bearer ${mint()}` };
  const ok = name.startsWith("gRPC (") ? 0 : 200;

  it("echoes the caller's id, and logs the call with it", async () => {
    const id = `req-${name.replace(/\W+/g, "-")}-${Date.now()}`;
    expect(await call({ ...bearer, "x-request-id": id })).toEqual({ status: ok, requestId: id });
    expect(loggedWith(id)).toHaveLength(1);
  });

  it("makes one when the caller sent none: echoed and in the log line", async () => {
    const answer = await call(bearer);
    expect(answer.status).toBe(ok);
    expect(answer.requestId).toMatch(GENERATED);
    expect(loggedWith(answer.requestId!)).toMatchObject([{ rpc: "Info", code: "ok" }]);
  });

  it("replaces an id that is too long or not visible ASCII", async () => {
    for (const bad of ["two words", "x".repeat(129)]) {
      const answer = await call({ ...bearer, "x-request-id": bad });
      expect(answer.requestId).toMatch(GENERATED);
      expect(loggedWith(answer.requestId!)).toHaveLength(1);
    }
  });

  it("carries it on refusals too (gRPC: in the trailers-only answer)", async () => {
    const id = `refused-${name.replace(/\W+/g, "-")}`;
    expect((await call({ authorization: "Bearer nope", "x-request-id": id })).requestId).toBe(id);
    expect(loggedWith(id)).toMatchObject([{ rpc: "Info", code: "unauthenticated" }]);
  });
});

describe("x-request-id elsewhere", () => {
  it("keeps a 128-character id, and replaces a non-ASCII one", async () => {
    const long = "y".repeat(128);
    expect((await fetchCall("GET", "/info", { "x-request-id": long })).requestId).toBe(long);
    expect((await fetchCall("GET", "/info", { "x-request-id": "caf\u00e9" })).requestId).toMatch(GENERATED);
  });

  it("is on probe answers and 404s, and browsers may read and send it (CORS)", async () => {
    expect((await fetchCall("GET", "/healthz", { "x-request-id": "probe-1" })).requestId).toBe("probe-1");
    expect((await fetchCall("GET", "/nowhere", {})).requestId).toMatch(GENERATED);
    const preflight = await fetch(`${service.baseUrl}${INFO}`, {
      method: "OPTIONS",
      headers: { origin: "https://app.example.com", "access-control-request-method": "POST" },
    });
    expect(preflight.headers.get("access-control-allow-headers")).toMatch(/X-Request-Id/);
    const res = await fetch(`${service.baseUrl}/info`, { headers: { origin: "https://app.example.com" } });
    expect(res.headers.get("access-control-expose-headers")).toMatch(/X-Request-Id/);
  });
});
