import { execFile } from "node:child_process";
import * as http2 from "node:http2";
import { promisify } from "node:util";
import * as grpc from "@grpc/grpc-js";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { allRpcCallers, http1Request, type Endpoint, type RpcCaller } from "./helpers/rpc-callers.js";
import { startService, type TestService } from "./helpers/service.js";
import { makeTestCert, type TestCert } from "./helpers/tls-cert.js";
import { mint, signRaw } from "./helpers/tokens.js";

/**
 * A request means the same thing on every protocol, and a refusal is said in
 * the request's own protocol: gRPC clients get gRPC statuses, Connect
 * clients Connect errors, REST clients the REST error body.
 */
const run = promisify(execFile);
const grpcFrame = (payload: Buffer = Buffer.alloc(0)) => {
  const head = Buffer.alloc(5);
  head.writeUInt32BE(payload.length, 1);
  return Buffer.concat([head, payload]);
};

/** One raw HTTP/2 request: status, headers, trailers and body. */
function h2Call(session: http2.ClientHttp2Session, headers: http2.OutgoingHttpHeaders, body?: Buffer | string) {
  return new Promise<{
    status: number;
    grpcStatus: string | undefined;
    grpcMessage: string | undefined;
    contentType: string | undefined;
    body: Buffer;
  }>((resolve, reject) => {
    const stream = session.request(headers, { endStream: body === undefined });
    let status = 0;
    let grpcStatus: string | undefined;
    let grpcMessage: string | undefined;
    let contentType: string | undefined;
    const chunks: Buffer[] = [];
    const take = (h: http2.IncomingHttpHeaders) => {
      grpcStatus ??= h["grpc-status"] as string | undefined;
      grpcMessage ??= h["grpc-message"] as string | undefined;
    };
    stream.on("response", (h) => {
      status = Number(h[":status"]);
      contentType = h["content-type"];
      take(h);
    });
    stream.on("trailers", take);
    stream.on("data", (d: Buffer) => chunks.push(d));
    stream.on("end", () => resolve({ status, grpcStatus, grpcMessage, contentType, body: Buffer.concat(chunks) }));
    stream.on("error", reject);
    if (body !== undefined) stream.end(body);
  });
}

/** A gRPC-Web answer's status: its headers (trailers-only) or its trailer frame. */
function grpcWebStatus(headers: Record<string, unknown>, body: Buffer): string | undefined {
  if (headers["grpc-status"] !== undefined) return String(headers["grpc-status"]);
  for (let at = 0; at + 5 <= body.length; at += 5 + body.readUInt32BE(at + 1)) {
    if ((body[at]! & 0x80) !== 0)
      return /grpc-status:\s*(\d+)/.exec(body.subarray(at + 5, at + 5 + body.readUInt32BE(at + 1)).toString())?.[1];
  }
  return undefined;
}

let cert: TestCert;
beforeAll(() => {
  cert = makeTestCert();
});
afterAll(() => cert.remove());

describe.each(["cleartext", "TLS"])("unknown methods, in each protocol's terms, over %s", (transport) => {
  const secure = transport === "TLS";
  let service: TestService;
  let endpoint: Endpoint;
  let session: http2.ClientHttp2Session;
  beforeAll(async () => {
    service = await startService(secure ? { TLS_CERT_FILE: cert.certFile, TLS_KEY_FILE: cert.keyFile } : {});
    endpoint = { port: service.port, ca: secure ? cert.ca : undefined };
    session = http2.connect(`${secure ? "https" : "http"}://localhost:${service.port}`, secure ? { ca: cert.ca } : {});
    session.on("error", () => {});
  });
  afterAll(async () => {
    session.close();
    await service.close();
  });

  it.each(["/tokens.v1.TokenService/Nope", "/nope.v1.Elsewhere/Info"])(
    "gRPC: UNIMPLEMENTED (HTTP 200, grpc-status 12) for %s",
    async (path) => {
      const res = await h2Call(
        session,
        { ":method": "POST", ":path": path, "content-type": "application/grpc", te: "trailers" },
        grpcFrame(),
      );
      expect(res.status).toBe(200);
      expect(res.contentType).toBe("application/grpc");
      expect(res.grpcStatus).toBe("12");
      expect(decodeURIComponent(res.grpcMessage ?? "")).toBe(`unknown method ${path}`);
    },
  );

  it("gRPC through grpc-js: UNIMPLEMENTED with the method named", async () => {
    const credentials = secure ? grpc.credentials.createSsl(cert.ca) : grpc.credentials.createInsecure();
    const client = new grpc.Client(`localhost:${service.port}`, credentials);
    try {
      const err = await new Promise<grpc.ServiceError>((resolve) =>
        client.makeUnaryRequest(
          "/tokens.v1.TokenService/Nope",
          (x: Buffer) => x,
          (x: Buffer) => x,
          Buffer.alloc(0),
          (e) => resolve(e!),
        ),
      );
      expect(err.code).toBe(grpc.status.UNIMPLEMENTED);
      expect(err.details).toBe("unknown method /tokens.v1.TokenService/Nope");
    } finally {
      client.close();
    }
  });

  it("gRPC-Web: grpc-status 12 in the answer's headers", async () => {
    const res = await http1Request(
      endpoint,
      "POST",
      "/tokens.v1.TokenService/Nope",
      { "content-type": "application/grpc-web+proto" },
      grpcFrame(),
    );
    expect(res.status).toBe(200);
    expect(grpcWebStatus(res.headers, res.raw)).toBe("12");
  });

  it("Connect: 404 with Connect's error JSON, code unimplemented", async () => {
    const res = await http1Request(endpoint, "POST", "/tokens.v1.TokenService/Nope", { "content-type": "application/json" }, "{}");
    expect(res.status).toBe(404);
    expect(JSON.parse(res.text)).toMatchObject({
      code: "unimplemented",
      message: "unknown method /tokens.v1.TokenService/Nope",
      details: [{ type: "google.rpc.ErrorInfo", debug: { reason: "METHOD_NOT_FOUND", domain: "tokens.v1" } }],
    });
  });

  it("REST: 404 with the REST error body", async () => {
    const res = await http1Request(endpoint, "GET", "/nope", {});
    expect(res.status).toBe(404);
    expect(JSON.parse(res.text)).toEqual({ success: false, info: "No route for GET /nope", code: "not_found", reason: "NOT_FOUND" });
  });
});

describe("unknown methods through grpcio (Python's C-core gRPC)", () => {
  let service: TestService;
  beforeAll(async () => {
    service = await startService();
  });
  afterAll(() => service.close());

  it("reports UNIMPLEMENTED, not a metadata or HTTP status error", async () => {
    const script = [
      "import grpc, sys",
      `channel = grpc.insecure_channel("127.0.0.1:${service.port}")`,
      "call = channel.unary_unary('/tokens.v1.TokenService/Nope')",
      "try:",
      "    call(b'', timeout=5)",
      "except grpc.RpcError as e:",
      "    print(e.code().name, '|', e.details())",
    ].join("\n");
    const { stdout } = await run("/usr/bin/python3", ["-c", script]);
    expect(stdout.trim()).toBe("UNIMPLEMENTED | unknown method /tokens.v1.TokenService/Nope");
  });
});

describe("the same request means the same on every protocol", () => {
  let service: TestService;
  let endpoint: Endpoint;
  let session: http2.ClientHttp2Session;
  let callers: RpcCaller[];
  beforeAll(async () => {
    service = await startService();
    endpoint = { port: service.port };
    session = http2.connect(service.baseUrl);
    session.on("error", () => {});
    callers = allRpcCallers(endpoint);
  });
  afterAll(async () => {
    for (const caller of callers) caller.close();
    session.close();
    await service.close();
  });

  const auth = () => ({ authorization: `Bearer ${mint()}` });
  const big = "x".repeat(70_000); // over MAX_BODY_BYTES (65536)

  it("refuses a body over the limit with RESOURCE_EXHAUSTED everywhere (HTTP 413 where statuses speak)", async () => {
    const rest = await http1Request(
      endpoint,
      "POST",
      "/blacklist",
      { ...auth(), "content-type": "application/json" },
      JSON.stringify({ reason: big }),
    );
    expect([rest.status, JSON.parse(rest.text).code]).toEqual([413, "resource_exhausted"]);
    const connect = await http1Request(
      endpoint,
      "POST",
      "/tokens.v1.TokenService/Blacklist",
      { ...auth(), "content-type": "application/json" },
      JSON.stringify({ reason: big }),
    );
    expect([connect.status, JSON.parse(connect.text).code]).toEqual([413, "resource_exhausted"]);
    const grpcAnswer = await h2Call(
      session,
      { ":method": "POST", ":path": "/tokens.v1.TokenService/Blacklist", "content-type": "application/grpc", te: "trailers", ...auth() },
      grpcFrame(Buffer.alloc(70_000)),
    );
    expect(grpcAnswer.grpcStatus).toBe("8");
    const web = await http1Request(
      endpoint,
      "POST",
      "/tokens.v1.TokenService/Blacklist",
      { ...auth(), "content-type": "application/grpc-web+proto" },
      grpcFrame(Buffer.alloc(70_000)),
    );
    expect(grpcWebStatus(web.headers, web.raw)).toBe("8");
  });

  it.each([
    ["a field the message does not have", '{"reason":"x","nope":1}', /nope/],
    ["a key given twice", '{"reason":"a","reason":"b"}', /twice|duplicate/i],
    ["an array instead of an object", "[]", /object|array/i],
  ])("refuses JSON with %s as INVALID_ARGUMENT on REST, Connect POST and Connect GET", async (_name, body, message) => {
    const rest = await http1Request(endpoint, "POST", "/blacklist", { ...auth(), "content-type": "application/json" }, body);
    expect(rest.status, rest.text).toBe(400);
    expect(JSON.parse(rest.text)).toMatchObject({ code: "invalid_argument", info: expect.stringMatching(message) });
    const post = await http1Request(
      endpoint,
      "POST",
      "/tokens.v1.TokenService/Blacklist",
      { ...auth(), "content-type": "application/json" },
      body,
    );
    expect(post.status, post.text).toBe(400);
    expect(JSON.parse(post.text)).toMatchObject({ code: "invalid_argument", message: expect.stringMatching(message) });
    // Connect GET (Info, a side-effect-free RPC) is answered by Connect's own handler: same rule.
    const get = await http1Request(
      endpoint,
      "GET",
      `/tokens.v1.TokenService/Info?connect=v1&encoding=json&message=${encodeURIComponent(body.replace("reason", "x"))}`,
      auth(),
    );
    expect(get.status, get.text).toBe(400);
    expect(JSON.parse(get.text)).toMatchObject({ code: "invalid_argument" });
  });

  it("returns the same claims on every protocol, a __proto__ claim left out everywhere", async () => {
    const token = signRaw(
      { alg: "HS256" },
      `{"sub":"proto","iss":"https://www.discogs.com/","exp":${Math.floor(Date.now() / 1000) + 600},"__proto__":{"admin":true},"n":{"__proto__":1,"k":2}}`,
    );
    for (const caller of callers) {
      const outcome = await caller.call("Info", {}, { authorization: `Bearer ${token}` });
      expect(outcome.code, caller.name).toBe("ok");
      const claims = (outcome.body?.decoded_token ?? outcome.body?.decodedToken) as Record<string, unknown>;
      expect(claims, caller.name).toMatchObject({ sub: "proto", n: { k: 2 } });
      expect(Object.keys(claims), caller.name).not.toContain("__proto__");
      expect(Object.keys(claims.n as object), caller.name).toEqual(["k"]);
    }
  });
});
