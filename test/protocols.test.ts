import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ADMIN_KEY, startService, type TestService } from "./helpers/service.js";
import { allClients, bearer, type Outcome, type TokenClient } from "./helpers/clients.js";
import { mint, rawToken, signRaw } from "./helpers/tokens.js";

let service: TestService;
let clients: TokenClient[];

beforeAll(async () => {
  service = await startService();
  clients = allClients(service.baseUrl, service.port);
});
afterAll(async () => {
  for (const client of clients) client.close();
  await service.close();
});

const names = ["REST HTTP/1.1", "REST h2c", "Connect JSON HTTP/1.1", "Connect binary h2c", "gRPC-Web HTTP/1.1", "gRPC (grpc-js)"];
const client = (name: string) => clients.find((c) => c.name === name)!;

function expectOk(outcome: Outcome): Record<string, unknown> {
  if (!outcome.ok) throw new Error(`expected success, got ${outcome.code}: ${outcome.message}`);
  return outcome.body;
}

function expectError(outcome: Outcome, code: string, message: RegExp): void {
  expect(outcome.ok, JSON.stringify(outcome)).toBe(false);
  if (outcome.ok) return;
  expect(outcome.code).toBe(code);
  expect(outcome.message).toMatch(message);
}

/** Field names differ by protocol: proto names on REST, JSON names elsewhere. */
const field = (body: Record<string, unknown>, proto: string, json: string) => body[proto] ?? body[json];

describe.each(names)("%s", (name) => {
  it("runs the original flow: info, blacklist, rejected, unblacklist with the admin key, info", async () => {
    const c = client(name);
    const token = mint({ sub: `flow-${name}` });
    const admin = bearer(token, { "x-admin-key": ADMIN_KEY });

    const info = expectOk(await c.info(bearer(token)));
    expect(info.success).toBe(true);
    expect(info.token).toBe(token);
    expect(field(info, "decoded_token", "decodedToken")).toMatchObject({ sub: `flow-${name}`, iss: "https://www.discogs.com/" });

    const revoked = expectOk(await c.blacklist(bearer(token)));
    expect(revoked).toMatchObject({ success: true, token, info: "Token blacklisted" });
    expect(field(revoked, "newly_blacklisted", "newlyBlacklisted")).toBe(true);

    expectError(await c.info(bearer(token)), "unauthenticated", /^Token is blacklisted$/);

    const again = expectOk(await c.blacklist(bearer(token)));
    expect(again.info).toBe("Token was already blacklisted");
    expect(field(again, "newly_blacklisted", "newlyBlacklisted")).toBe(false);

    const restored = expectOk(await c.unblacklist(admin));
    expect(restored).toMatchObject({ success: true, token, info: "Token unblacklisted" });
    expect(field(restored, "was_blacklisted", "wasBlacklisted")).toBe(true);

    expectOk(await c.info(bearer(token)));

    const noop = expectOk(await c.unblacklist(admin));
    expect(noop.info).toBe("Token was not blacklisted");
    expect(field(noop, "was_blacklisted", "wasBlacklisted")).toBe(false);
  });

  const unauthenticated: Array<[string, () => Record<string, string>, RegExp]> = [
    ["no Authorization header", () => ({}), /Missing Authorization header/],
    ["a Basic credential", () => ({ authorization: "Basic dXNlcjpwYXNz" }), /Bearer scheme/],
    ["a bare token without scheme", () => ({ authorization: mint() }), /Bearer scheme/],
    ["two tokens", () => ({ authorization: `Bearer ${mint()} ${mint()}` }), /exactly one token/],
    // HTTP/2 clients strip the trailing space, and some drop the then-empty value.
    ["an empty bearer", () => ({ authorization: "Bearer " }), /exactly one token|Missing Authorization/],
    ["garbage", () => bearer("garbage"), /malformed/],
    ["two segments", () => bearer("abc.def"), /malformed/],
    ["a bad signature", () => bearer(mint({}, { secret: "not-the-secret" })), /signature is invalid/],
    ["a tampered payload", () => bearer(tamper(mint())), /signature is invalid/],
    ["a wrong issuer", () => bearer(mint({}, { issuer: "https://evil.example/" })), /issuer is not/],
    ["an expired token", () => bearer(mint({}, { expiresInSeconds: -3600 })), /expired/],
    ["no exp", () => bearer(mint({}, { expiresInSeconds: null })), /no exp claim/],
    ["exp as a string", () => bearer(signRaw({ alg: "HS256", typ: "JWT" }, { exp: "soon", iss: "https://www.discogs.com/" })), /exp/],
    ["alg none", () => bearer(rawToken({ alg: "none" }, { exp: 9e9, iss: "https://www.discogs.com/" }, "")), /unsigned|not allowed/],
    ["an algorithm not allowed", () => bearer(mint({}, { algorithm: "HS384" })), /not allowed/],
    ["an oversized token", () => bearer("a".repeat(9000)), /too long/],
  ];

  it.each(unauthenticated)("Info refuses %s with UNAUTHENTICATED", async (_case, headers, message) => {
    expectError(await client(name).info(headers()), "unauthenticated", message);
  });

  it.each(unauthenticated)("Blacklist refuses %s with UNAUTHENTICATED", async (_case, headers, message) => {
    expectError(await client(name).blacklist(headers()), "unauthenticated", message);
  });

  it("Unblacklist needs the admin key, and checks it before the token", async () => {
    const c = client(name);
    const token = mint();
    expectError(await c.unblacklist(bearer(token)), "permission_denied", /x-admin-key/);
    expectError(await c.unblacklist(bearer(token, { "x-admin-key": "wrong" })), "permission_denied", /x-admin-key/);
    expectError(await c.unblacklist({ "x-admin-key": "wrong" }), "permission_denied", /x-admin-key/);
    expectError(await c.unblacklist({ "x-admin-key": ADMIN_KEY }), "unauthenticated", /Missing Authorization/);
  });

  it("a stolen token cannot restore itself", async () => {
    const c = client(name);
    const token = mint();
    expectOk(await c.blacklist(bearer(token)));
    expectError(await c.unblacklist(bearer(token)), "permission_denied", /x-admin-key/);
    expectError(await c.info(bearer(token)), "unauthenticated", /blacklisted/);
  });

  it("accepts the scheme word in any case", async () => {
    expectOk(await client(name).info({ authorization: `bEaReR ${mint()}` }));
  });
});

describe("REST specifics", () => {
  const url = (path: string) => service.baseUrl + path;

  it("answers errors as JSON with the original field names and Connect's status mapping", async () => {
    const res = await fetch(url("/info"), { headers: { authorization: "Basic x" } });
    expect(res.status).toBe(401);
    expect(res.headers.get("content-type")).toBe("application/json");
    expect(await res.json()).toEqual({
      success: false,
      info: "Authorization header must use the Bearer scheme: 'Authorization: Bearer <jwt>'",
      code: "unauthenticated",
      reason: "TOKEN_MALFORMED",
    });
    const denied = await fetch(url("/blacklist"), { method: "DELETE", headers: bearer(mint()) });
    expect(denied.status).toBe(403);
    expect(await denied.json()).toMatchObject({ success: false, code: "permission_denied", reason: "OPERATOR_KEY_REQUIRED" });
  });

  it("answers an unknown path with a JSON 404 and a wrong method with a 405 naming the allowed ones", async () => {
    const missing = await fetch(url("/nope"));
    expect(missing.status).toBe(404);
    expect(await missing.json()).toEqual({ success: false, info: "No route for GET /nope", code: "not_found", reason: "NOT_FOUND" });
    const wrong = await fetch(url("/info"), { method: "PUT" });
    expect(wrong.status).toBe(405);
    expect(wrong.headers.get("allow")).toBe("GET");
    expect(await wrong.json()).toMatchObject({ code: "unimplemented", reason: "METHOD_NOT_FOUND" });
    const both = await fetch(url("/blacklist"), { method: "PATCH" });
    expect(both.headers.get("allow")).toBe("POST, DELETE");
  });

  it("accepts POST /blacklist with no body, an empty object, or any content type", async () => {
    for (const body of [undefined, "{}", " "]) {
      const res = await fetch(url("/blacklist"), { method: "POST", headers: bearer(mint()), body });
      expect(res.status).toBe(200);
    }
  });

  it.each([
    ["not JSON", "token=abc", /must be JSON/],
    ["a JSON array", "[1]", /JSON object/],
    ["an unknown field", '{"tokn": "x"}', /does not match tokens.v1.BlacklistRequest/],
  ])("refuses a body that is %s with 400", async (_case, body, message) => {
    const res = await fetch(url("/blacklist"), { method: "POST", headers: bearer(mint()), body });
    expect(res.status).toBe(400);
    const json = (await res.json()) as { code: string; info: string };
    expect(json.code).toBe("invalid_argument");
    expect(json.info).toMatch(message);
  });

  it("refuses a body over the limit with 413 RESOURCE_EXHAUSTED, as every protocol does, without reading it all", async () => {
    const res = await fetch(url("/blacklist"), { method: "POST", headers: bearer(mint()), body: "x".repeat(200_000) });
    expect(res.status).toBe(413);
    expect(await res.json()).toMatchObject({ code: "resource_exhausted", info: expect.stringMatching(/larger than 65536 bytes/) });
  });

  it("ignores query parameters that bind to no field (cache busters)", async () => {
    expect((await fetch(url("/info?_=123"), { headers: bearer(mint()) })).status).toBe(200);
  });

  it("answers headers over MAX_HEADER_BYTES with a JSON 431, not 500, and keeps serving", async () => {
    const res = await fetch(url("/info"), { headers: bearer("a".repeat(40_000)) });
    expect(res.status).toBe(431);
    expect(await res.json()).toEqual({
      success: false,
      info: "Request headers are too large",
      code: "resource_exhausted",
      reason: "REQUEST_TOO_LARGE",
    });
    expect((await fetch(url("/info"), { headers: bearer(mint()) })).status).toBe(200);
  });
});

describe("Connect JSON as curl sends it", () => {
  it("answers POST /tokens.v1.TokenService/Info with JSON names", async () => {
    const token = mint({ sub: "curl" });
    const res = await fetch(`${service.baseUrl}/tokens.v1.TokenService/Info`, {
      method: "POST",
      headers: { ...bearer(token), "content-type": "application/json" },
      body: "{}",
    });
    expect(res.status).toBe(200);
    expect(await res.json()).toMatchObject({ success: true, token, decodedToken: { sub: "curl" }, info: "Token is valid" });
  });

  it("maps UNAUTHENTICATED to 401 with a Connect error body", async () => {
    const res = await fetch(`${service.baseUrl}/tokens.v1.TokenService/Info`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: "{}",
    });
    expect(res.status).toBe(401);
    expect(await res.json()).toMatchObject({ code: "unauthenticated", message: expect.stringMatching(/Missing Authorization/) });
  });
});

describe("without ADMIN_KEY", () => {
  it("Unblacklist answers PERMISSION_DENIED and says how to enable it, on REST and gRPC", async () => {
    const locked = await startService({ ADMIN_KEY: "" });
    const [rest, grpc] = [allClients(locked.baseUrl, locked.port)[0]!, allClients(locked.baseUrl, locked.port)[5]!];
    try {
      for (const c of [rest, grpc]) {
        expectError(await c.unblacklist(bearer(mint(), { "x-admin-key": "" })), "permission_denied", /set ADMIN_KEY/);
        expectError(await c.unblacklist(bearer(mint(), { "x-admin-key": "anything" })), "permission_denied", /set ADMIN_KEY/);
      }
    } finally {
      rest.close();
      grpc.close();
      await locked.close();
    }
  });
});

/** Flips one character of the payload, keeping the signature. */
function tamper(token: string): string {
  const [header, payload, signature] = token.split(".") as [string, string, string];
  const claims = JSON.parse(Buffer.from(payload, "base64url").toString()) as Record<string, unknown>;
  claims.sub = "mallory";
  return `${header}.${Buffer.from(JSON.stringify(claims)).toString("base64url")}.${signature}`;
}
