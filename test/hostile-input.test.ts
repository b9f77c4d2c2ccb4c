import { generateKeyPairSync } from "node:crypto";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import jwt from "jsonwebtoken";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  bearer,
  connectJsonClient,
  grpcJsClient,
  restHttp1Client,
  type CallHeaders,
  type Outcome,
  type TokenClient,
} from "./helpers/clients.js";
import { startService, type TestService } from "./helpers/service.js";
import { ISSUER, SECRET, mint, rawToken, reencodeSignature, signRaw } from "./helpers/tokens.js";

/**
 * Whatever an attacker sends, the service answers with the right refusal on
 * every protocol, never a 500, and keeps serving.
 */

const AUDIENCE = "tokens-api";
const now = () => Math.floor(Date.now() / 1000);
/** A token the strict service accepts, with `claims` on top. */
const good = (claims: Record<string, unknown> = {}, options: Parameters<typeof mint>[1] = {}) =>
  mint({ aud: AUDIENCE, ...claims }, options);
const signed = (payload: unknown, header: Record<string, unknown> = { alg: "HS256", typ: "JWT" }) => signRaw(header, payload);
/** Claims the strict service accepts; the jti keeps every token distinct, so revoking one affects no other case. */
const claims = (extra: Record<string, unknown> = {}) => ({
  sub: "alice",
  iss: ISSUER,
  aud: AUDIENCE,
  iat: now(),
  exp: now() + 3600,
  jti: crypto.randomUUID(),
  ...extra,
});

const rsa = generateKeyPairSync("rsa", { modulusLength: 2048 });
const rsaPublicPem = rsa.publicKey.export({ type: "spki", format: "pem" }).toString();

type Protocol = "REST" | "Connect" | "gRPC";
interface Case {
  name: string;
  headers: () => CallHeaders;
  /** "ok", or the code every protocol must answer with. */
  expect: string;
  message?: RegExp;
  /** Protocols whose client library refuses to send this input at all. */
  unsendableOn?: Protocol[];
}

const cases: Case[] = [
  // Authorization header
  { name: "no Authorization header", headers: () => ({}), expect: "unauthenticated", message: /Missing Authorization/ },
  { name: "no scheme", headers: () => ({ authorization: good() }), expect: "unauthenticated", message: /Bearer scheme/ },
  {
    name: "Basic scheme",
    headers: () => ({ authorization: "Basic YWxpY2U6c2VjcmV0" }),
    expect: "unauthenticated",
    message: /Bearer scheme/,
  },
  { name: "Token scheme", headers: () => ({ authorization: `Token ${good()}` }), expect: "unauthenticated", message: /Bearer scheme/ },
  { name: "Bearer without token", headers: () => ({ authorization: "Bearer" }), expect: "unauthenticated", message: /exactly one token/ },
  { name: "extra spaces after the scheme (allowed by RFC 7235)", headers: () => ({ authorization: `Bearer    ${good()}` }), expect: "ok" },
  {
    name: "a tab instead of a space",
    headers: () => ({ authorization: `Bearer\t${good()}` }),
    expect: "unauthenticated",
    message: /exactly one token/,
    unsendableOn: ["gRPC"], // grpc-js refuses control characters in metadata before sending
  },
  {
    name: "two tokens",
    headers: () => ({ authorization: `Bearer ${good()} ${good()}` }),
    expect: "unauthenticated",
    message: /exactly one token/,
  },
  {
    name: "two tokens, comma-separated",
    headers: () => ({ authorization: `Bearer ${good()}, Bearer ${good()}` }),
    expect: "unauthenticated",
    message: /exactly one token/,
  },
  {
    name: "non-ASCII in the token",
    headers: () => ({ authorization: `Bearer ${good()}\u00e9` }),
    expect: "unauthenticated",
    message: /exactly one token/,
    unsendableOn: ["gRPC"], // grpc-js refuses non-ASCII metadata values before sending
  },
  { name: "a 16 KiB header", headers: () => bearer("a".repeat(16 * 1024)), expect: "unauthenticated", message: /too long/ },
  {
    name: "a token one byte over MAX_TOKEN_BYTES",
    headers: () => bearer("a".repeat(8193)),
    expect: "unauthenticated",
    message: /too long/,
  },
  // Structure
  { name: "one segment", headers: () => bearer("abcdef"), expect: "unauthenticated", message: /malformed/ },
  { name: "two segments", headers: () => bearer("abc.def"), expect: "unauthenticated", message: /malformed/ },
  { name: "four segments", headers: () => bearer(`${good()}.extra`), expect: "unauthenticated", message: /malformed/ },
  {
    name: "five segments (a JWE)",
    headers: () => bearer("eyJhbGciOiJSU0EtT0FFUCJ9.a.b.c.d"),
    expect: "unauthenticated",
    message: /malformed/,
  },
  { name: "empty segments", headers: () => bearer(".."), expect: "unauthenticated", message: /malformed/ },
  {
    name: "standard base64 instead of base64url",
    headers: () => bearer("eyJ+/w.e30.sig"),
    expect: "unauthenticated",
    message: /malformed/,
  },
  {
    name: "a header that is not JSON",
    headers: () => bearer(rawToken("not json", claims())),
    expect: "unauthenticated",
    message: /malformed/,
  },
  {
    name: "a header that is a JSON array",
    headers: () => bearer(rawToken([1, 2], claims())),
    expect: "unauthenticated",
    message: /malformed/,
  },
  { name: "a header without alg", headers: () => bearer(signed(claims(), { typ: "JWT" })), expect: "unauthenticated", message: /no alg/ },
  { name: "a payload that is not JSON", headers: () => bearer(signed("{{{")), expect: "unauthenticated" },
  { name: "a payload that is a number", headers: () => bearer(signed("42")), expect: "unauthenticated" },
  { name: "a payload that is null", headers: () => bearer(signed("null")), expect: "unauthenticated" },
  // Algorithms
  { name: "alg none", headers: () => bearer(rawToken({ alg: "none" }, claims(), "")), expect: "unauthenticated", message: /alg none/ },
  {
    name: "alg NONE with a signature",
    headers: () => bearer(rawToken({ alg: "NONE" }, claims())),
    expect: "unauthenticated",
    message: /alg none/,
  },
  {
    name: "an unknown alg",
    headers: () => bearer(rawToken({ alg: "HS1024" }, claims())),
    expect: "unauthenticated",
    message: /not allowed/,
  },
  {
    name: "an allowed family, not configured (HS512)",
    headers: () => bearer(good({}, { algorithm: "HS512" })),
    expect: "unauthenticated",
    message: /not allowed/,
  },
  {
    name: "RS256 sent to an HS256 service",
    headers: () => bearer(jwt.sign(claims(), rsa.privateKey, { algorithm: "RS256" })),
    expect: "unauthenticated",
    message: /not allowed/,
  },
  { name: "alg as a number", headers: () => bearer(rawToken({ alg: 256 }, claims())), expect: "unauthenticated", message: /no alg/ },
  {
    name: "a crit header",
    headers: () => bearer(signed(claims(), { alg: "HS256", crit: ["exp"], exp: 1 })),
    expect: "unauthenticated",
    message: /crit/,
  },
  // Signatures
  { name: "a tampered payload", headers: () => bearer(tamperPayload(good())), expect: "unauthenticated", message: /signature is invalid/ },
  {
    name: "a tampered signature",
    headers: () => bearer(tamperSignature(good())),
    expect: "unauthenticated",
    message: /signature is invalid/,
  },
  {
    name: "a re-encoded HMAC signature",
    headers: () => bearer(reencodeSignature(good())),
    expect: "unauthenticated",
    message: /signature/,
  },
  {
    name: "no signature",
    headers: () => bearer(`${good().split(".").slice(0, 2).join(".")}.`),
    expect: "unauthenticated",
    message: /signature/,
  },
  {
    name: "the wrong secret",
    headers: () => bearer(good({}, { secret: "guessed" })),
    expect: "unauthenticated",
    message: /signature is invalid/,
  },
  // Claims
  { name: "no exp", headers: () => bearer(good({}, { expiresInSeconds: null })), expect: "unauthenticated", message: /no exp/ },
  { name: "expired", headers: () => bearer(good({}, { expiresInSeconds: -600 })), expect: "unauthenticated", message: /expired/ },
  {
    name: "exp as a string",
    headers: () => bearer(signed(claims({ exp: String(now() + 3600) }))),
    expect: "unauthenticated",
    message: /exp, iat or nbf/,
  },
  {
    name: "exp of 1e400 (Infinity)",
    headers: () => bearer(signed(JSON.stringify(claims()).replace(/"exp":\d+/, '"exp":1e400'))),
    expect: "unauthenticated",
    message: /out of range/,
  },
  { name: "exp of 1e15", headers: () => bearer(signed(claims({ exp: 1e15 }))), expect: "unauthenticated", message: /out of range/ },
  { name: "a negative exp", headers: () => bearer(signed(claims({ exp: -1 }))), expect: "unauthenticated", message: /expired/ },
  { name: "a future nbf", headers: () => bearer(good({ nbf: now() + 600 })), expect: "unauthenticated", message: /not valid yet/ },
  {
    name: "nbf as a string",
    headers: () => bearer(signed(claims({ nbf: "yesterday" }))),
    expect: "unauthenticated",
    message: /exp, iat or nbf/,
  },
  { name: "iat as a string", headers: () => bearer(signed(claims({ iat: "now" }))), expect: "unauthenticated", message: /exp, iat or nbf/ },
  {
    name: "the wrong iss",
    headers: () => bearer(good({}, { issuer: "https://evil.example/" })),
    expect: "unauthenticated",
    message: /issuer/,
  },
  { name: "no iss", headers: () => bearer(good({}, { issuer: null })), expect: "unauthenticated", message: /issuer/ },
  { name: "iss as an array", headers: () => bearer(signed(claims({ iss: [ISSUER] }))), expect: "unauthenticated", message: /issuer/ },
  {
    name: "the wrong aud",
    headers: () => bearer(mint({ aud: "other-api" })),
    expect: "unauthenticated",
    message: /audience is not tokens-api/,
  },
  { name: "no aud", headers: () => bearer(mint()), expect: "unauthenticated", message: /audience/ },
  { name: "aud as a list holding ours", headers: () => bearer(good({ aud: ["x", AUDIENCE] })), expect: "ok" },
  {
    name: "no sub (required here)",
    headers: () => bearer(signed({ iss: ISSUER, aud: AUDIENCE, exp: now() + 60 })),
    expect: "unauthenticated",
    message: /required claim sub/,
  },
  {
    name: "a lifetime over the maximum",
    headers: () => bearer(good({}, { expiresInSeconds: 2 * 86400 })),
    expect: "unauthenticated",
    message: /lifetime exceeds/,
  },
  { name: "claims nested 15 levels", headers: () => bearer(signed(claims({ deep: nest(15) }))), expect: "ok" },
  // Deeper claims would make the Struct in the response unreadable to protobuf decoders.
  {
    name: "claims nested 400 levels",
    headers: () => bearer(signed(claims({ deep: nest(400) }))),
    expect: "unauthenticated",
    message: /nested more than 20 levels/,
  },
  {
    name: "a __proto__ claim",
    headers: () => bearer(signed(JSON.stringify(claims()).replace("{", '{"__proto__":{"admin":true},'))),
    expect: "ok",
  },
  { name: "a path-like kid", headers: () => bearer(signed(claims(), { alg: "HS256", kid: "../../etc/passwd" })), expect: "ok" },
  {
    name: "a kid that is not a string",
    headers: () => bearer(signed(claims(), { alg: "HS256", kid: 7 })),
    expect: "unauthenticated",
    message: /kid/,
  },
];

let strict: TestService;
let clients: Record<Protocol, TokenClient>;

beforeAll(async () => {
  strict = await startService({
    JWT_AUDIENCE: AUDIENCE,
    JWT_REQUIRED_CLAIMS: "sub",
    JWT_MAX_LIFETIME_SECONDS: "86400",
    OAUTH_CLIENTS: "gateway:gateway-secret",
  });
  clients = {
    REST: restHttp1Client(strict.baseUrl),
    Connect: connectJsonClient(strict.baseUrl),
    gRPC: grpcJsClient(strict.port),
  };
});
afterAll(async () => {
  for (const client of Object.values(clients)) client.close();
  await strict.close();
});

function expectAnswer(outcome: Outcome, c: Case): void {
  if (c.expect === "ok") {
    expect(outcome.ok, JSON.stringify(outcome)).toBe(true);
    return;
  }
  expect(outcome.ok, `accepted: ${JSON.stringify(outcome).slice(0, 200)}`).toBe(false);
  if (outcome.ok) return;
  expect(outcome.status).not.toBeGreaterThanOrEqual(500);
  expect(outcome.code).toBe(c.expect);
  if (c.message !== undefined) expect(outcome.message).toMatch(c.message);
}

describe("hostile input", () => {
  it("has at least 40 cases", () => {
    expect(cases.length).toBeGreaterThanOrEqual(40);
  });

  describe.each(["REST", "Connect", "gRPC"] as const)("over %s", (protocol) => {
    const sendable = cases.filter((c) => !c.unsendableOn?.includes(protocol));
    it.each(sendable.map((c) => [c.name, c] as const))("Info: %s", async (_name, c) => {
      expectAnswer(await clients[protocol].info(c.headers()), c);
    });
    it.each(sendable.map((c) => [c.name, c] as const))("Blacklist: %s", async (_name, c) => {
      expectAnswer(await clients[protocol].blacklist(c.headers()), c);
    });
    it("still serves afterwards", async () => {
      expect((await clients[protocol].info(bearer(good()))).ok).toBe(true);
    });
  });
});

/** The gateways answer the same cases with their own refusals: 401 (or a denial), never a 5xx, never an allow. */
describe("hostile input at the gateways", () => {
  const headerCases = cases.filter((c) => !c.unsendableOn?.includes("REST"));

  it.each(headerCases.map((c) => [c.name, c] as const))("forward-auth /auth: %s", async (_name, c) => {
    const res = await fetch(`${strict.baseUrl}/auth`, { headers: c.headers() as Record<string, string> });
    await res.arrayBuffer();
    expect(res.status).toBe(c.expect === "ok" ? 200 : 401);
    if (c.expect !== "ok") expect(res.headers.get("www-authenticate")).toMatch(/^Bearer realm="token-blacklist"/);
  });

  it.each(headerCases.map((c) => [c.name, c] as const))("ext_authz Check: %s", async (_name, c) => {
    const authorization = (c.headers() as Record<string, string>).authorization;
    const res = await fetch(`${strict.baseUrl}/envoy.service.auth.v3.Authorization/Check`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ attributes: { request: { http: { headers: authorization === undefined ? {} : { authorization } } } } }),
    });
    expect(res.status).toBe(200);
    const answer = (await res.json()) as {
      status?: { code?: number };
      okResponse?: unknown;
      deniedResponse?: { status: { code: string } };
    };
    if (c.expect === "ok") {
      expect(answer.okResponse).toBeDefined();
    } else {
      expect(answer.status?.code).toBe(16);
      expect(answer.deniedResponse?.status.code).toBe("Unauthorized");
    }
  });

  // Introspection takes the token itself: the cases whose header carries one after "Bearer ".
  const tokenCases = headerCases.flatMap((c) => {
    const match = /^bearer +(.*)$/is.exec((c.headers() as Record<string, string>).authorization ?? "");
    return match === null ? [] : [[c.name, c, match[1]!] as const];
  });
  it.each(tokenCases)("OAuth introspection: %s", async (_name, c, token) => {
    const res = await fetch(`${strict.baseUrl}/oauth2/introspect`, {
      method: "POST",
      headers: {
        authorization: `Basic ${Buffer.from("gateway:gateway-secret").toString("base64")}`,
        "content-type": "application/x-www-form-urlencoded",
      },
      body: new URLSearchParams({ token }).toString(),
    });
    expect(res.status).toBeLessThan(500);
    const answer = (await res.json()) as { active?: boolean; error?: string };
    // A token the header form refused for its shape (spaces, several tokens) may be a fine token on its own.
    if (c.expect !== "ok" && /Bearer scheme|exactly one token|too long/.test(c.message?.source ?? "")) return;
    expect(answer.active ?? false).toBe(c.expect === "ok");
  });
});

describe("an RS256 service (JWT_PUBLIC_KEY_FILE)", () => {
  let dir: string;
  let service: TestService;
  let rest: TokenClient;
  let grpc: TokenClient;
  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), "tb-rsa-"));
    writeFileSync(join(dir, "issuer.pem"), rsaPublicPem);
    service = await startService({ JWT_PUBLIC_KEY_FILE: join(dir, "issuer.pem"), JWT_ALGORITHMS: "RS256" });
    rest = restHttp1Client(service.baseUrl);
    grpc = grpcJsClient(service.port);
  });
  afterAll(async () => {
    grpc.close();
    await service.close();
    rmSync(dir, { recursive: true, force: true });
  });

  const rs256 = (extra: Record<string, unknown> = {}) =>
    jwt.sign({ sub: "alice", ...extra }, rsa.privateKey, { algorithm: "RS256", issuer: ISSUER, expiresIn: 3600 });

  it("accepts a token signed with the matching private key", async () => {
    for (const client of [rest, grpc]) expect((await client.info(bearer(rs256()))).ok).toBe(true);
  });

  it.each([
    [
      "HS256 signed with the public key as the secret (algorithm confusion)",
      () => signRaw({ alg: "HS256" }, claims(), rsaPublicPem),
      /not allowed/,
    ],
    ["HS256 signed with the default secret", () => mint({}, { secret: SECRET }), /not allowed/],
    ["PS256, not configured", () => jwt.sign(claims(), rsa.privateKey, { algorithm: "PS256" }), /not allowed/],
    [
      "RS256 from another key",
      () => jwt.sign(claims(), generateKeyPairSync("rsa", { modulusLength: 2048 }).privateKey, { algorithm: "RS256" }),
      /signature is invalid/,
    ],
  ])("refuses %s", async (_name, make, message) => {
    for (const client of [rest, grpc]) {
      const outcome = await client.info(bearer(make()));
      expect(outcome).toMatchObject({ ok: false, code: "unauthenticated" });
      if (!outcome.ok) expect(outcome.message).toMatch(message);
    }
  });

  it("still refuses a revoked token whose signature was re-encoded", async () => {
    const token = rs256({ sub: "reencoded" });
    const variant = reencodeSignature(token);
    expect(variant).not.toBe(token);
    expect((await rest.info(bearer(variant))).ok).toBe(true); // the variant verifies on its own...
    expect((await rest.blacklist(bearer(token))).ok).toBe(true);
    for (const client of [rest, grpc]) {
      // ...and is the same token: revoked.
      expect(await client.info(bearer(variant))).toMatchObject({ ok: false, code: "unauthenticated", message: "Token is blacklisted" });
    }
  });
});

function tamperPayload(token: string): string {
  const [header, payload, signature] = token.split(".") as [string, string, string];
  const parsed = JSON.parse(Buffer.from(payload, "base64url").toString()) as Record<string, unknown>;
  parsed.sub = "mallory";
  return `${header}.${Buffer.from(JSON.stringify(parsed)).toString("base64url")}.${signature}`;
}

function tamperSignature(token: string): string {
  const [header, payload, signature] = token.split(".") as [string, string, string];
  const flipped = (signature[0] === "A" ? "B" : "A") + signature.slice(1);
  return `${header}.${payload}.${flipped}`;
}

function nest(depth: number): unknown {
  let value: unknown = "bottom";
  for (let i = 0; i < depth; i++) value = { d: value };
  return value;
}
