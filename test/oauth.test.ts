import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { fingerprint } from "../src/jwt/fingerprint.js";
import { eventually } from "./helpers/eventually.js";
import { PERSISTENT, startRedis, type TestRedis } from "./helpers/redis-server.js";
import { ADMIN_KEY, startService, type TestService } from "./helpers/service.js";
import { mint } from "./helpers/tokens.js";

// Issue 14: RFC 7662 introspection and RFC 7009 revocation, called with a plain HTTP client.

const CLIENT = { id: "resource-server", secret: "rs-secret with spaces & symbols" };
let redis: TestRedis;
let service: TestService;
beforeAll(async () => {
  redis = await startRedis(PERSISTENT); // restarted after an outage, it must come back with its data
  service = await startService({
    REDIS_URL: redis.url,
    REDIS_KEY_PREFIX: "oauth:",
    STORE_TIMEOUT_MS: "300",
    OAUTH_CLIENTS: `${CLIENT.id}:${CLIENT.secret},other:other-secret`,
  });
});
afterAll(async () => {
  await service?.close();
  await redis?.stop();
});

/** HTTP Basic as RFC 6749 2.3.1 builds it: each part form-urlencoded, then joined and base64-encoded. */
const basic = (id: string, secret: string) =>
  `Basic ${Buffer.from(`${new URLSearchParams({ a: id }).toString().slice(2)}:${new URLSearchParams({ a: secret }).toString().slice(2)}`).toString("base64")}`;
const FORM = "application/x-www-form-urlencoded";

async function post(path: string, body: string, headers: Record<string, string> = {}, baseUrl = service.baseUrl) {
  const res = await fetch(`${baseUrl}${path}`, {
    method: "POST",
    headers: { authorization: basic(CLIENT.id, CLIENT.secret), "content-type": FORM, ...headers },
    body,
  });
  const text = await res.text();
  return { status: res.status, headers: res.headers, json: text === "" ? undefined : (JSON.parse(text) as Record<string, unknown>) };
}
const form = (fields: Record<string, string>) => new URLSearchParams(fields).toString();

describe("POST /oauth2/introspect (RFC 7662)", () => {
  it("answers active with the token's claims for a valid token nobody revoked", async () => {
    const token = mint({ sub: "alice", jti: "j-1", scope: "orders:read", aud: "orders" });
    const answer = await post("/oauth2/introspect", form({ token, token_type_hint: "access_token" }));
    expect(answer.status).toBe(200);
    expect(answer.headers.get("cache-control")).toBe("no-store");
    expect(answer.json).toMatchObject({
      active: true,
      sub: "alice",
      jti: "j-1",
      scope: "orders:read",
      aud: "orders",
      iss: "https://www.discogs.com/",
    });
    expect(answer.json?.exp).toEqual(expect.any(Number));
  });

  it("answers {active: false} and nothing else for a revoked, expired, forged or malformed token", async () => {
    const revoked = mint();
    expect((await fetch(`${service.baseUrl}/blacklist`, { method: "POST", headers: { authorization: `Bearer ${revoked}` } })).status).toBe(
      200,
    );
    for (const token of [revoked, mint({}, { expiresInSeconds: -60 }), mint({}, { secret: "not-ours" }), "not-a-jwt"]) {
      const answer = await post("/oauth2/introspect", form({ token }));
      expect([answer.status, answer.json]).toEqual([200, { active: false }]);
    }
  });

  it("asks for HTTP Basic (401, WWW-Authenticate: Basic) without credentials or with wrong ones", async () => {
    for (const authorization of ["", basic(CLIENT.id, "wrong"), basic("nobody", CLIENT.secret), "Basic !!!", `Bearer ${mint()}`]) {
      const answer = await post("/oauth2/introspect", form({ token: mint() }), { authorization });
      expect([answer.status, answer.headers.get("www-authenticate"), answer.json?.error]).toEqual([
        401,
        'Basic realm="token-blacklist"',
        "invalid_client",
      ]);
    }
  });

  it("refuses malformed requests with 400 invalid_request, never a 500", async () => {
    const cases: Array<[string, Record<string, string>]> = [
      ["", {}], // no token
      [form({ token: "" }), {}],
      [`token=${mint()}&token=${mint()}`, {}], // repeated parameter
      ["token=%E0%A4%A", {}], // broken percent-encoding
      [JSON.stringify({ token: mint() }), { "content-type": "application/json" }],
      [form({ token: mint() }), { "content-type": "text/plain" }],
      [`token=${"x".repeat(70_000)}`, {}], // over MAX_BODY_BYTES
    ];
    for (const [body, headers] of cases) {
      const answer = await post("/oauth2/introspect", body, headers);
      expect([answer.status, answer.json?.error], body.slice(0, 40)).toEqual([400, "invalid_request"]);
    }
    const get = await fetch(`${service.baseUrl}/oauth2/introspect`);
    expect([get.status, get.headers.get("allow")]).toEqual([405, "POST"]);
  });

  it("answers 503 with Retry-After while the store is down, never active", async () => {
    await redis.kill();
    try {
      const answer = await post("/oauth2/introspect", form({ token: mint() }));
      expect([answer.status, answer.headers.get("retry-after"), answer.json?.error]).toEqual([503, "1", "temporarily_unavailable"]);
    } finally {
      await redis.restart();
      await eventually(async () => (await fetch(`${service.baseUrl}/readyz`)).status === 200);
    }
  });
});

describe("POST /oauth2/revoke (RFC 7009)", () => {
  it("revokes the token, records the client in the history, and answers 200 with no body", async () => {
    const token = mint({ sub: "bob" });
    const answer = await post("/oauth2/revoke", form({ token, token_type_hint: "access_token" }));
    expect([answer.status, answer.json]).toEqual([200, undefined]);
    expect((await fetch(`${service.baseUrl}/info`, { headers: { authorization: `Bearer ${token}` } })).status).toBe(401);
    const history = (await (await fetch(`${service.baseUrl}/history?page_size=5`, { headers: { "x-admin-key": ADMIN_KEY } })).json()) as {
      events: Array<Record<string, string>>;
    };
    expect(history.events.find((e) => e.fingerprint === fingerprint(token))).toMatchObject({
      action: "AUDIT_ACTION_REVOKE",
      actor: "AUDIT_ACTOR_OAUTH_CLIENT",
      client_id: CLIENT.id,
      subject: "bob",
    });
  });

  it("answers 200 for an invalid or unknown token too (RFC 7009 2.2), and revokes nothing", async () => {
    for (const token of ["not-a-jwt", mint({}, { secret: "not-ours" }), mint({}, { expiresInSeconds: -60 })]) {
      expect((await post("/oauth2/revoke", form({ token }))).status).toBe(200);
    }
  });

  it("answers unsupported_token_type for a hint it cannot serve", async () => {
    const answer = await post("/oauth2/revoke", form({ token: mint(), token_type_hint: "refresh_token" }));
    expect([answer.status, answer.json?.error]).toEqual([400, "unsupported_token_type"]);
  });

  it("answers 503 with Retry-After while the store is down", async () => {
    await redis.kill();
    try {
      const answer = await post("/oauth2/revoke", form({ token: mint() }));
      expect([answer.status, answer.headers.get("retry-after"), answer.json?.error]).toEqual([503, "1", "temporarily_unavailable"]);
    } finally {
      await redis.restart();
      await eventually(async () => (await fetch(`${service.baseUrl}/readyz`)).status === 200);
    }
  });
});

describe("without OAUTH_CLIENTS", () => {
  it("answers 403 on both endpoints and says how to enable them", async () => {
    const plain = await startService();
    try {
      for (const path of ["/oauth2/introspect", "/oauth2/revoke"]) {
        const answer = await post(path, form({ token: mint() }), {}, plain.baseUrl);
        expect(answer.status).toBe(403);
        expect(answer.json).toEqual({ error: "access_denied", error_description: expect.stringContaining("OAUTH_CLIENTS") });
      }
    } finally {
      await plain.close();
    }
  });
});
