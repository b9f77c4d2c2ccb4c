import { execFile } from "node:child_process";
import { promisify } from "node:util";
import { create, fromBinary, toBinary } from "@bufbuild/protobuf";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { CheckRequestSchema, type CheckResponse, CheckResponseSchema } from "../gen/envoy/service/auth/v3/external_auth_pb.js";
import { fingerprint } from "../src/jwt/fingerprint.js";
import { PERSISTENT, startRedis, type TestRedis } from "./helpers/redis-server.js";
import { startService, type TestService } from "./helpers/service.js";
import { mint } from "./helpers/tokens.js";

// Issue 14: Envoy's ext_authz v3 Check, called by clients that share no code with ours:
// grpcio (Python's C-core gRPC, bytes in and out) and buf curl (Go, through server reflection).

const run = promisify(execFile);
let redis: TestRedis;
let service: TestService;
beforeAll(async () => {
  redis = await startRedis(PERSISTENT); // restarted after an outage, it must come back with its data
  service = await startService({ REDIS_URL: redis.url, REDIS_KEY_PREFIX: "extauthz:", STORE_TIMEOUT_MS: "300" });
});
afterAll(async () => {
  await service?.close();
  await redis?.stop();
});

/** A CheckRequest as Envoy's HTTP filter sends it, with `extra` bytes after it (fields this service does not know). */
function checkRequest(headers: Record<string, string>, extra: Uint8Array = new Uint8Array()): Buffer {
  const message = create(CheckRequestSchema, {
    attributes: { request: { http: { method: "GET", path: "/orders/7", host: "api.example", scheme: "https", headers } } },
  });
  return Buffer.concat([toBinary(CheckRequestSchema, message), extra]);
}

/** Calls Check with grpcio; resolves with the decoded response, or the gRPC status name of a failed call. */
async function grpcioCheck(request: Buffer): Promise<CheckResponse | string> {
  const script = [
    "import grpc, sys",
    `channel = grpc.insecure_channel('127.0.0.1:${service.port}')`,
    "call = channel.unary_unary('/envoy.service.auth.v3.Authorization/Check')",
    "try:",
    "    print('OK', call(bytes.fromhex(sys.argv[1]), timeout=5).hex())",
    "except grpc.RpcError as e:",
    "    print('ERR', e.code().name)",
  ].join("\n");
  const { stdout } = await run("/usr/bin/python3", ["-c", script, request.toString("hex")]);
  const [kind, rest] = stdout.trim().split(" ") as [string, string];
  return kind === "OK" ? fromBinary(CheckResponseSchema, Buffer.from(rest ?? "", "hex")) : rest;
}

const header = (response: CheckResponse, name: string) => {
  const http = response.httpResponse;
  return http.value?.headers.find((h) => h.header?.key === name)?.header?.value;
};

describe("envoy.service.auth.v3.Authorization/Check", () => {
  it("allows a valid token: OK, x-token-subject and x-token-jti for the upstream, the claims as dynamic metadata", async () => {
    const token = mint({ sub: "alice", jti: "order-reader-1" });
    const response = await grpcioCheck(checkRequest({ authorization: `Bearer ${token}`, "x-token-subject": "mallory" }));
    expect(typeof response).not.toBe("string");
    const ok = response as CheckResponse;
    expect(ok.status?.code ?? 0).toBe(0);
    expect(ok.httpResponse.case).toBe("okResponse");
    expect(header(ok, "x-token-subject")).toBe("alice"); // overwrites what the client sent
    expect(header(ok, "x-token-jti")).toBe("order-reader-1");
    expect(ok.dynamicMetadata).toMatchObject({ claims: { sub: "alice", jti: "order-reader-1" }, fingerprint: fingerprint(token) });
  });

  it("removes x-token-subject and x-token-jti a client sent when the token has no such claim", async () => {
    const token = mint({ sub: undefined, jti: undefined });
    const ok = (await grpcioCheck(checkRequest({ authorization: `Bearer ${token}` }))) as CheckResponse;
    expect(ok.httpResponse.case).toBe("okResponse");
    expect(ok.httpResponse.case === "okResponse" && ok.httpResponse.value.headersToRemove).toEqual(["x-token-subject", "x-token-jti"]);
  });

  it("skips the fields it does not know (peers, metadata, TLS session) instead of refusing the request", async () => {
    // Field 1 (source Peer, with service "frontend"), 11 (metadata_context, empty), 12 (tls_session with sni).
    const unknown = Buffer.from([
      0x0a,
      0x0a,
      0x12,
      0x08,
      ...Buffer.from("frontend"),
      0x5a,
      0x00,
      0x62,
      0x05,
      0x0a,
      0x03,
      ...Buffer.from("api"),
    ]);
    const wrapped = Buffer.concat([Buffer.from([0x0a, unknown.length]), unknown]); // inside attributes (CheckRequest field 1)
    const ok = (await grpcioCheck(checkRequest({ authorization: `Bearer ${mint()}` }, wrapped))) as CheckResponse;
    expect(ok.httpResponse.case).toBe("okResponse");
  });

  it("denies a token revoked through Blacklist: UNAUTHENTICATED, a 401 with an RFC 6750 challenge and the REST JSON body", async () => {
    const token = mint();
    expect((await fetch(`${service.baseUrl}/blacklist`, { method: "POST", headers: { authorization: `Bearer ${token}` } })).status).toBe(
      200,
    );
    const denied = (await grpcioCheck(checkRequest({ authorization: `Bearer ${token}` }))) as CheckResponse;
    expect(denied.status?.code).toBe(16);
    expect(denied.httpResponse.case).toBe("deniedResponse");
    if (denied.httpResponse.case !== "deniedResponse") return;
    expect(denied.httpResponse.value.status?.code).toBe(401);
    expect(header(denied, "www-authenticate")).toMatch(
      /^Bearer realm="token-blacklist", error="invalid_token", error_description="Token is blacklisted/,
    );
    expect(JSON.parse(denied.httpResponse.value.body)).toEqual({
      success: false,
      info: "Token is blacklisted",
      code: "unauthenticated",
      reason: "TOKEN_REVOKED",
      metadata: { scope: "REVOCATION_SCOPE_TOKEN" },
    });
  });

  it("reads the token from the raw header list Envoy sends with encode_raw_headers", async () => {
    const token = mint();
    const message = create(CheckRequestSchema, {
      attributes: { request: { http: { headerMap: { headers: [{ key: "authorization", rawValue: Buffer.from(`Bearer ${token}`) }] } } } },
    });
    const ok = (await grpcioCheck(Buffer.from(toBinary(CheckRequestSchema, message)))) as CheckResponse;
    expect(ok.httpResponse.case).toBe("okResponse");
  });

  it("denies a request without a token with a challenge that names no error (RFC 6750 3.1)", async () => {
    const denied = (await grpcioCheck(checkRequest({}))) as CheckResponse;
    expect(denied.status?.code).toBe(16);
    expect(header(denied, "www-authenticate")).toBe('Bearer realm="token-blacklist"');
  });

  it("is listed by server reflection, and answers buf curl", async () => {
    const { stdout: services } = await run("npx", [
      "buf",
      "curl",
      "--protocol",
      "grpc",
      "--http2-prior-knowledge",
      "--list-services",
      service.baseUrl,
    ]);
    expect(services.split("\n")).toContain("envoy.service.auth.v3.Authorization");
    const body = JSON.stringify({ attributes: { request: { http: { headers: { authorization: `Bearer ${mint({ sub: "bob" })}` } } } } });
    const { stdout } = await run("npx", [
      "buf",
      "curl",
      "--protocol",
      "grpc",
      "--http2-prior-knowledge",
      "-d",
      body,
      `${service.baseUrl}/envoy.service.auth.v3.Authorization/Check`,
    ]);
    expect(JSON.parse(stdout).okResponse.headers).toContainEqual(
      expect.objectContaining({ header: { key: "x-token-subject", value: "bob" } }),
    );
  });

  it("fails the call itself with UNAVAILABLE while Redis is down, so Envoy's failure_mode_allow decides", async () => {
    await redis.kill();
    try {
      expect(await grpcioCheck(checkRequest({ authorization: `Bearer ${mint()}` }))).toBe("UNAVAILABLE");
    } finally {
      await redis.restart();
    }
  });
});
