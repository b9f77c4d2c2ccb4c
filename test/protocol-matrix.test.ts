import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { TokenService } from "../gen/tokens/v1/token_service_pb.js";
import { startRedis, type TestRedis } from "./helpers/redis-server.js";
import { allRpcCallers, type RpcCaller, type RpcOutcome } from "./helpers/rpc-callers.js";
import { ADMIN_KEY, startService, type TestService } from "./helpers/service.js";
import { makeTestCert, type TestCert } from "./helpers/tls-cert.js";
import { mint } from "./helpers/tokens.js";

/**
 * Every RPC over every protocol, on h2c (and HTTP/1.1 cleartext) and on TLS:
 * success and each error class an RPC has (its code and its ErrorInfo reason), each protocol with an independent
 * client (fetch-like node:http/https and node:http2 for REST, connect-node's
 * four transports, @grpc/grpc-js). The same request must get the same code
 * and reason everywhere. Then the store goes down and every protocol says UNAVAILABLE.
 */
const admin = { "x-admin-key": ADMIN_KEY };
const bearer = (token: string) => ({ authorization: `Bearer ${token}` });
const unique = () => crypto.randomUUID();
const tooLong = "r".repeat(1025); // over the 1024 characters a reason may have

interface Case {
  name: string;
  code: string;
  /** The ErrorInfo reason every protocol must carry (errors only). */
  reason?: string;
  /** Builds the request and headers, fresh for each protocol (calls change state). */
  make(): { request: Record<string, unknown>; headers: Record<string, string> };
  /** What a success must also say, in either protocol's field names. */
  check?(outcome: RpcOutcome): void;
}

const field = (outcome: RpcOutcome, proto: string, json: string) => outcome.body?.[proto] ?? outcome.body?.[json];

/** For each RPC: success, and each way a caller can be refused. */
const CASES: Record<string, Case[]> = {
  Info: [
    {
      name: "a valid token",
      code: "ok",
      make: () => ({ request: {}, headers: bearer(mint({ sub: "matrix" })) }),
      check: (o) => expect(field(o, "decoded_token", "decodedToken")).toMatchObject({ sub: "matrix" }),
    },
    { name: "no bearer token", code: "unauthenticated", reason: "TOKEN_MISSING", make: () => ({ request: {}, headers: {} }) },
    {
      name: "a bad signature",
      code: "unauthenticated",
      reason: "SIGNATURE_INVALID",
      make: () => ({ request: {}, headers: bearer(mint({}, { secret: "other" })) }),
    },
  ],
  Blacklist: [
    {
      name: "the holder's own token",
      code: "ok",
      make: () => ({ request: {}, headers: bearer(mint()) }),
      check: (o) => expect(field(o, "newly_blacklisted", "newlyBlacklisted")).toBe(true),
    },
    { name: "no bearer token", code: "unauthenticated", reason: "TOKEN_MISSING", make: () => ({ request: {}, headers: {} }) },
    {
      name: "a token field without the admin key",
      code: "permission_denied",
      reason: "OPERATOR_KEY_REQUIRED",
      make: () => ({ request: { token: mint() }, headers: bearer(mint()) }),
    },
    {
      name: "a token field that does not verify",
      code: "invalid_argument",
      reason: "TOKEN_MALFORMED",
      make: () => ({ request: { token: "a.b.c" }, headers: admin }),
    },
    {
      name: "a reason that is too long",
      code: "invalid_argument",
      reason: "ARGUMENT_INVALID",
      make: () => ({ request: { reason: tooLong }, headers: bearer(mint()) }),
    },
  ],
  Unblacklist: [
    { name: "the operator", code: "ok", make: () => ({ request: {}, headers: { ...bearer(mint()), ...admin } }) },
    {
      name: "no admin key",
      code: "permission_denied",
      reason: "OPERATOR_KEY_REQUIRED",
      make: () => ({ request: {}, headers: bearer(mint()) }),
    },
    {
      name: "a token field that does not verify",
      code: "invalid_argument",
      reason: "TOKEN_MALFORMED",
      make: () => ({ request: { token: "a.b.c" }, headers: admin }),
    },
  ],
  RevokeJti: [
    {
      name: "the operator",
      code: "ok",
      make: () => ({ request: { jti: unique() }, headers: admin }),
      check: (o) => expect(o.body?.changed).toBe(true),
    },
    {
      name: "no admin key",
      code: "permission_denied",
      reason: "OPERATOR_KEY_REQUIRED",
      make: () => ({ request: { jti: unique() }, headers: {} }),
    },
    {
      name: "a reason that is too long",
      code: "invalid_argument",
      reason: "ARGUMENT_INVALID",
      make: () => ({ request: { jti: unique(), reason: tooLong }, headers: admin }),
    },
  ],
  RestoreJti: [
    { name: "the operator", code: "ok", make: () => ({ request: { jti: unique() }, headers: admin }) },
    {
      name: "no admin key",
      code: "permission_denied",
      reason: "OPERATOR_KEY_REQUIRED",
      make: () => ({ request: { jti: unique() }, headers: {} }),
    },
    {
      name: "a reason that is too long",
      code: "invalid_argument",
      reason: "ARGUMENT_INVALID",
      make: () => ({ request: { jti: unique(), reason: tooLong }, headers: admin }),
    },
  ],
  GetJtiRevocation: [
    { name: "the operator", code: "ok", make: () => ({ request: { jti: unique() }, headers: admin }) },
    {
      name: "no admin key",
      code: "permission_denied",
      reason: "OPERATOR_KEY_REQUIRED",
      make: () => ({ request: { jti: unique() }, headers: {} }),
    },
    {
      name: "an issuer that is too long",
      code: "invalid_argument",
      reason: "ARGUMENT_INVALID",
      make: () => ({ request: { jti: unique(), issuer: "i".repeat(4097) }, headers: admin }),
    },
  ],
  RevokeSubject: [
    {
      name: "the operator",
      code: "ok",
      make: () => ({ request: { subject: unique() }, headers: admin }),
      check: (o) => expect(o.body?.changed).toBe(true),
    },
    {
      name: "no admin key",
      code: "permission_denied",
      reason: "OPERATOR_KEY_REQUIRED",
      make: () => ({ request: { subject: unique() }, headers: {} }),
    },
    {
      name: "a reason that is too long",
      code: "invalid_argument",
      reason: "ARGUMENT_INVALID",
      make: () => ({ request: { subject: unique(), reason: tooLong }, headers: admin }),
    },
  ],
  RestoreSubject: [
    { name: "the operator", code: "ok", make: () => ({ request: { subject: unique() }, headers: admin }) },
    {
      name: "no admin key",
      code: "permission_denied",
      reason: "OPERATOR_KEY_REQUIRED",
      make: () => ({ request: { subject: unique() }, headers: {} }),
    },
    {
      name: "a reason that is too long",
      code: "invalid_argument",
      reason: "ARGUMENT_INVALID",
      make: () => ({ request: { subject: unique(), reason: tooLong }, headers: admin }),
    },
  ],
  GetSubjectRevocation: [
    { name: "the operator", code: "ok", make: () => ({ request: { subject: unique() }, headers: admin }) },
    {
      name: "no admin key",
      code: "permission_denied",
      reason: "OPERATOR_KEY_REQUIRED",
      make: () => ({ request: { subject: unique() }, headers: {} }),
    },
    {
      name: "an issuer that is too long",
      code: "invalid_argument",
      reason: "ARGUMENT_INVALID",
      make: () => ({ request: { subject: unique(), issuer: "i".repeat(4097) }, headers: admin }),
    },
  ],
  InspectToken: [
    {
      name: "the operator",
      code: "ok",
      make: () => ({ request: { token: mint() }, headers: admin }),
      check: (o) => expect(o.body?.valid).toBe(true),
    },
    {
      name: "no admin key",
      code: "permission_denied",
      reason: "OPERATOR_KEY_REQUIRED",
      make: () => ({ request: { token: mint() }, headers: {} }),
    },
    { name: "no token", code: "invalid_argument", reason: "ARGUMENT_INVALID", make: () => ({ request: {}, headers: admin }) },
  ],
  History: [
    { name: "the operator", code: "ok", make: () => ({ request: { pageSize: 2 }, headers: admin }) },
    { name: "no admin key", code: "permission_denied", reason: "OPERATOR_KEY_REQUIRED", make: () => ({ request: {}, headers: {} }) },
    {
      name: "a page size past 1000",
      code: "invalid_argument",
      reason: "ARGUMENT_INVALID",
      make: () => ({ request: { pageSize: 5000 }, headers: admin }),
    },
  ],
};

let cert: TestCert;
beforeAll(() => {
  cert = makeTestCert();
});
afterAll(() => cert.remove());

it("covers every unary RPC of TokenService (WatchRevocations, a stream, has test/revocation-feed.test.ts)", () => {
  const unary = TokenService.methods.filter((m) => m.methodKind === "unary").map((m) => m.name);
  expect(Object.keys(CASES).sort()).toEqual(unary.sort());
  expect(TokenService.methods.map((m) => m.name).filter((name) => !unary.includes(name))).toEqual(["WatchRevocations"]);
});

describe.each(["cleartext (HTTP/1.1 and h2c)", "TLS (ALPN h2 and http/1.1)"])("over %s", (transport) => {
  const tls = transport.startsWith("TLS");
  let redis: TestRedis;
  let service: TestService;
  let callers: RpcCaller[];
  beforeAll(async () => {
    redis = await startRedis();
    service = await startService({
      REDIS_URL: redis.url,
      ...(tls ? { TLS_CERT_FILE: cert.certFile, TLS_KEY_FILE: cert.keyFile } : {}),
    });
    callers = allRpcCallers({ port: service.port, ca: tls ? cert.ca : undefined });
  });
  afterAll(async () => {
    for (const caller of callers) caller.close();
    await service.close();
    await redis.stop();
  });

  describe.each(Object.entries(CASES))("%s", (rpc, cases) => {
    it.each(cases)("$name: $code on every protocol", async (c) => {
      expect(callers.length).toBe(7);
      for (const caller of callers) {
        const { request, headers } = c.make();
        const outcome = await caller.call(rpc, request, headers);
        expect(outcome.code, `${caller.name}: ${outcome.message}`).toBe(c.code);
        if (c.code === "ok") c.check?.(outcome);
        else {
          expect(outcome.message, caller.name).not.toBe("");
          expect(outcome.reason, `${caller.name}: ${outcome.message}`).toBe(c.reason);
        }
      }
    });
  });

  // Last: it takes the store away.
  it("answers UNAVAILABLE on every protocol while the store is down, never a success", async () => {
    await redis.kill();
    const calls: Array<[string, () => { request: Record<string, unknown>; headers: Record<string, string> }]> = [
      ["Info", () => ({ request: {}, headers: bearer(mint()) })],
      ["Blacklist", () => ({ request: {}, headers: bearer(mint()) })],
      ["RevokeJti", () => ({ request: { jti: unique() }, headers: admin })],
      ["History", () => ({ request: {}, headers: admin })],
    ];
    for (const [rpc, make] of calls) {
      for (const caller of callers) {
        const { request, headers } = make();
        const outcome = await caller.call(rpc, request, headers);
        expect(outcome.code, `${rpc} over ${caller.name}`).toBe("unavailable");
        expect(outcome.message).toMatch(/store is unavailable; retry later/);
        expect(outcome.reason, `${rpc} over ${caller.name}`).toBe("STORE_UNAVAILABLE");
      }
    }
  });
});
