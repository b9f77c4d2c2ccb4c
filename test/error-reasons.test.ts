import * as http2 from "node:http2";
import { fromBinary } from "@bufbuild/protobuf";
import { anyUnpack } from "@bufbuild/protobuf/wkt";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ErrorInfoSchema } from "../gen/google/rpc/error_details_pb.js";
import { StatusSchema } from "../gen/google/rpc/status_pb.js";
import { ErrorReason } from "../gen/tokens/v1/error_reason_pb.js";
import { startRedis, type TestRedis } from "./helpers/redis-server.js";
import { allRpcCallers, http1Request, type RpcCaller, type RpcOutcome } from "./helpers/rpc-callers.js";
import { ADMIN_KEY, startService, type TestService } from "./helpers/service.js";
import { mint } from "./helpers/tokens.js";

/**
 * Every refusal carries a google.rpc.ErrorInfo (domain tokens.v1) whose
 * reason is machine-readable, the same on every protocol: read here as each
 * protocol's own client reads it (REST's `reason` and `metadata` fields,
 * Connect's `findDetails`, grpc-js's `grpc-status-details-bin`). The request
 * matrix (test/protocol-matrix.test.ts) covers the reasons of each RPC's
 * refusals (and STORE_UNAVAILABLE); this file covers every way a token is
 * refused, the request-level reasons, and those of a server configured
 * otherwise. The feed's reasons are in test/revocation-feed.test.ts,
 * KEY_NOT_FOUND and KEYS_UNAVAILABLE in test/jwks.test.ts.
 */
const admin = { "x-admin-key": ADMIN_KEY };
const bearer = (token: string) => ({ authorization: `Bearer ${token}` });
const nowSeconds = () => Math.floor(Date.now() / 1000);
const AUDIENCE = "orders-api";

/** One call and the refusal every protocol must give it. */
interface Refusal {
  name: string;
  code: string;
  reason: keyof typeof ErrorReason;
  metadata?: Record<string, string>;
  /** The RPC, request and headers, made fresh for each protocol (a call may change state). */
  make(): Promise<{ rpc: string; request: Record<string, unknown>; headers: Record<string, string> }>;
}

/** Expects `outcome` to be the refusal `expected` describes. */
function expectRefusal(caller: RpcCaller, outcome: RpcOutcome, expected: Refusal): void {
  const what = `${caller.name}: ${outcome.message}`;
  expect(outcome.code, what).toBe(expected.code);
  expect(outcome.reason, what).toBe(expected.reason);
  expect(outcome.metadata ?? {}, what).toEqual(expected.metadata ?? {});
}

describe("typed error reasons on every protocol", () => {
  let service: TestService;
  let callers: RpcCaller[];
  beforeAll(async () => {
    service = await startService({ JWT_AUDIENCE: AUDIENCE, JWT_MAX_LIFETIME_SECONDS: "86400" });
    callers = allRpcCallers({ port: service.port });
  });
  afterAll(async () => {
    for (const caller of callers) caller.close();
    await service.close();
  });

  const token = (claims: Record<string, unknown> = {}, options: Parameters<typeof mint>[1] = {}) =>
    mint({ aud: AUDIENCE, ...claims }, options);
  const info = (headers: Record<string, string>) => Promise.resolve({ rpc: "Info", request: {}, headers });
  const revoke = async (rpc: string, request: Record<string, unknown>) => {
    const [rest] = callers;
    expect((await rest!.call(rpc, request, admin)).code).toBe("ok");
  };

  const refusals: Refusal[] = [
    { name: "no token", code: "unauthenticated", reason: "TOKEN_MISSING", make: () => info({}) },
    { name: "not a JWT", code: "unauthenticated", reason: "TOKEN_MALFORMED", make: () => info(bearer("not-a-jwt")) },
    {
      name: "an algorithm not allowed",
      code: "unauthenticated",
      reason: "ALGORITHM_NOT_ALLOWED",
      make: () => info(bearer(token({}, { algorithm: "HS384" }))),
    },
    {
      name: "a bad signature",
      code: "unauthenticated",
      reason: "SIGNATURE_INVALID",
      make: () => info(bearer(token({}, { secret: "other" }))),
    },
    {
      name: "an expired token",
      code: "unauthenticated",
      reason: "TOKEN_EXPIRED",
      make: () => info(bearer(token({ iat: nowSeconds() - 7200, exp: nowSeconds() - 3600 }, { expiresInSeconds: null }))),
    },
    {
      name: "a token not yet valid",
      code: "unauthenticated",
      reason: "TOKEN_NOT_YET_VALID",
      make: () => info(bearer(token({ nbf: nowSeconds() + 3600 }))),
    },
    {
      name: "another issuer",
      code: "unauthenticated",
      reason: "ISSUER_INVALID",
      make: () => info(bearer(token({}, { issuer: "https://elsewhere.example/" }))),
    },
    {
      name: "another audience",
      code: "unauthenticated",
      reason: "AUDIENCE_INVALID",
      make: () => info(bearer(mint({ aud: "billing-api" }))),
    },
    {
      name: "no exp",
      code: "unauthenticated",
      reason: "CLAIM_MISSING",
      make: () => info(bearer(token({}, { expiresInSeconds: null }))),
    },
    {
      name: "a lifetime past JWT_MAX_LIFETIME_SECONDS",
      code: "unauthenticated",
      reason: "LIFETIME_EXCEEDED",
      make: () => info(bearer(token({}, { expiresInSeconds: 2 * 86400 }))),
    },
    {
      name: "a blacklisted token",
      code: "unauthenticated",
      reason: "TOKEN_REVOKED",
      metadata: { scope: "REVOCATION_SCOPE_TOKEN" },
      async make() {
        const revoked = token();
        await revoke("Blacklist", { token: revoked });
        return { rpc: "Info", request: {}, headers: bearer(revoked) };
      },
    },
    {
      name: "a revoked jti",
      code: "unauthenticated",
      reason: "TOKEN_REVOKED",
      metadata: { scope: "REVOCATION_SCOPE_JTI" },
      async make() {
        const jti = crypto.randomUUID();
        await revoke("RevokeJti", { jti });
        return { rpc: "Info", request: {}, headers: bearer(token({ jti })) };
      },
    },
    {
      name: "a token issued before its subject's cutoff",
      code: "unauthenticated",
      reason: "TOKEN_REVOKED",
      // The cutoff is the one RevokeSubject set; the metadata must name it as Info's message does.
      metadata: { scope: "REVOCATION_SCOPE_SUBJECT", issued_before: expect.stringMatching(/^\d{4}-\d\d-\d\dT/) as unknown as string },
      async make() {
        const subject = crypto.randomUUID();
        const issued = token({ sub: subject, iat: nowSeconds() - 60 });
        await revoke("RevokeSubject", { subject });
        return { rpc: "Info", request: {}, headers: bearer(issued) };
      },
    },
    {
      name: "an operator's token field that does not verify",
      code: "invalid_argument",
      reason: "TOKEN_EXPIRED",
      make: async () => ({
        rpc: "Blacklist",
        request: { token: token({ iat: nowSeconds() - 7200, exp: nowSeconds() - 3600 }, { expiresInSeconds: null }) },
        headers: admin,
      }),
    },
    {
      name: "a wrong operator key",
      code: "permission_denied",
      reason: "OPERATOR_KEY_REQUIRED",
      make: async () => ({ rpc: "RevokeJti", request: { jti: "x" }, headers: { "x-admin-key": "not-the-key" } }),
    },
    {
      name: "a reason that is too long",
      code: "invalid_argument",
      reason: "ARGUMENT_INVALID",
      metadata: { field: "reason" },
      make: async () => ({ rpc: "RevokeJti", request: { jti: crypto.randomUUID(), reason: "r".repeat(1025) }, headers: admin }),
    },
    {
      name: "a page size past 1000",
      code: "invalid_argument",
      reason: "ARGUMENT_INVALID",
      metadata: { field: "page_size" },
      make: async () => ({ rpc: "History", request: { pageSize: 5000 }, headers: admin }),
    },
  ];

  it.each(refusals)("$name: $code, $reason", async (refusal) => {
    expect(callers.length).toBe(7);
    for (const caller of callers) {
      const { rpc, request, headers } = await refusal.make();
      expectRefusal(caller, await caller.call(rpc, request, headers), refusal);
    }
  });

  it("names every reason in the .proto, and the refusals above cover every token reason", () => {
    const names = Object.keys(ErrorReason).filter((key) => Number.isNaN(Number(key)));
    const tokenReasons = names.slice(names.indexOf("TOKEN_MISSING"), names.indexOf("TOKEN_REVOKED") + 1);
    const covered = new Set(refusals.map((r) => r.reason));
    // KEY_NOT_FOUND needs a key set: test/jwks.test.ts asserts it.
    expect(tokenReasons.filter((reason) => !covered.has(reason as keyof typeof ErrorReason))).toEqual(["KEY_NOT_FOUND"]);
  });
});

describe("refusals of a server configured otherwise, on every protocol", () => {
  it("OPERATOR_ACTIONS_DISABLED without ADMIN_KEY", async () => {
    const service = await startService({ ADMIN_KEY: undefined });
    const callers = allRpcCallers({ port: service.port });
    try {
      for (const caller of callers) {
        const outcome = await caller.call("RevokeJti", { jti: "x" }, admin);
        expectRefusal(caller, outcome, {
          name: "",
          code: "permission_denied",
          reason: "OPERATOR_ACTIONS_DISABLED",
          make: async () => null!,
        });
      }
    } finally {
      for (const caller of callers) caller.close();
      await service.close();
    }
  });

  it("REQUEST_TOO_LARGE, REQUEST_MALFORMED (a malformed deadline header) and DEADLINE_EXCEEDED (a store held past it)", async () => {
    const redis = await startRedis();
    const service = await startService({ REDIS_URL: redis.url, MAX_BODY_BYTES: "4096", STORE_TIMEOUT_MS: "5000" });
    const callers = allRpcCallers({ port: service.port });
    const refused = (code: string, reason: keyof typeof ErrorReason): Refusal => ({ name: "", code, reason, make: async () => null! });
    try {
      for (const caller of callers) {
        const big = await caller.call("RevokeJti", { jti: crypto.randomUUID(), reason: "r".repeat(5000) }, admin);
        expectRefusal(caller, big, refused("resource_exhausted", "REQUEST_TOO_LARGE"));
        const timeout: Record<string, string> = caller.name.startsWith("Connect")
          ? { "connect-timeout-ms": "soon" }
          : { "grpc-timeout": "soon" };
        const malformed = await caller.call("Info", {}, { ...bearer(mint()), ...timeout });
        expectRefusal(caller, malformed, refused("invalid_argument", "REQUEST_MALFORMED"));
      }
      // Every Info waits in the paused store; each call's own 200 ms deadline ends it first.
      await redis.command("CLIENT", "PAUSE", "1000", "ALL");
      const late = await Promise.all(
        callers.map((caller) =>
          caller.call(
            "Info",
            {},
            { ...bearer(mint()), ...(caller.name.startsWith("Connect") ? { "connect-timeout-ms": "200" } : { "grpc-timeout": "200m" }) },
          ),
        ),
      );
      for (const [i, outcome] of late.entries()) expectRefusal(callers[i]!, outcome, refused("deadline_exceeded", "DEADLINE_EXCEEDED"));
    } finally {
      await redis.command("CLIENT", "UNPAUSE").catch(() => {});
      for (const caller of callers) caller.close();
      await service.close();
      await redis.stop();
    }
  });

  it("CHANGE_UNCONFIRMED when REDIS_WAIT_REPLICAS=1 and no replica confirms", async () => {
    let redis: TestRedis | undefined;
    let service: TestService | undefined;
    const callers: RpcCaller[] = [];
    try {
      redis = await startRedis();
      service = await startService({ REDIS_URL: redis.url, REDIS_WAIT_REPLICAS: "1", REDIS_WAIT_TIMEOUT_MS: "50" });
      callers.push(...allRpcCallers({ port: service.port }));
      for (const caller of callers) {
        const outcome = await caller.call("RevokeJti", { jti: crypto.randomUUID() }, admin);
        expectRefusal(caller, outcome, { name: "", code: "unavailable", reason: "CHANGE_UNCONFIRMED", make: async () => null! });
      }
    } finally {
      for (const caller of callers) caller.close();
      await service?.close();
      await redis?.stop();
    }
  });
});

describe("refusals Connect's own handlers make before a call reaches the service", () => {
  let service: TestService;
  beforeAll(async () => {
    service = await startService();
  });
  afterAll(() => service.close());

  it("a Connect GET whose message is not JSON: 400, REQUEST_MALFORMED in the error JSON's details", async () => {
    const res = await http1Request(
      { port: service.port },
      "GET",
      "/tokens.v1.TokenService/Info?connect=v1&encoding=json&message=%7Bbad",
      {},
    );
    expect(res.status).toBe(400);
    expect(JSON.parse(res.text)).toMatchObject({
      code: "invalid_argument",
      details: [{ type: "google.rpc.ErrorInfo", debug: { reason: "REQUEST_MALFORMED", domain: "tokens.v1" } }],
    });
  });

  it("a gzip gRPC message that does not decompress: grpc-status 3 with REQUEST_MALFORMED in grpc-status-details-bin", async () => {
    const session = http2.connect(service.baseUrl);
    try {
      const trailers = await new Promise<http2.IncomingHttpHeaders>((resolve, reject) => {
        const stream = session.request({
          ":method": "POST",
          ":path": "/tokens.v1.TokenService/Info",
          "content-type": "application/grpc",
          "grpc-encoding": "gzip",
          te: "trailers",
        });
        stream.on("trailers", resolve);
        stream.on("error", reject);
        stream.resume();
        stream.end(Buffer.from([1, 0, 0, 0, 3, 1, 2, 3])); // flagged compressed, not gzip
      });
      expect(trailers["grpc-status"]).toBe("3");
      const status = fromBinary(StatusSchema, Buffer.from(String(trailers["grpc-status-details-bin"]), "base64"));
      expect(status.code).toBe(3);
      expect(anyUnpack(status.details[0]!, ErrorInfoSchema)).toMatchObject({ reason: "REQUEST_MALFORMED", domain: "tokens.v1" });
    } finally {
      session.close();
    }
  });

  it("a content type no protocol has: 415 with a JSON error saying which to use, REQUEST_MALFORMED", async () => {
    const res = await http1Request({ port: service.port }, "POST", "/tokens.v1.TokenService/Info", { "content-type": "text/plain" }, "x");
    expect(res.status).toBe(415);
    expect(res.headers["content-type"]).toBe("application/json");
    expect(JSON.parse(res.text)).toMatchObject({ success: false, code: "invalid_argument", reason: "REQUEST_MALFORMED" });
  });
});
