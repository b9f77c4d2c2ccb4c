import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { allClients, bearer, restCall, type TokenClient } from "./helpers/clients.js";
import { startMain, type MainProcess } from "./helpers/main-process.js";
import { startRedis, type TestRedis } from "./helpers/redis-server.js";
import { ADMIN_KEY, startService, type TestService } from "./helpers/service.js";
import { signRaw } from "./helpers/tokens.js";

/**
 * The original service's Postman collection signs this payload with the secret
 * `admin`: no iat, an exp nine years ahead. Its clients must keep working.
 */
const ORIGINAL_SECRET = "admin";
const ORIGINAL_ISSUER = "https://www.arc.com/";
const originalToken = signRaw({ alg: "HS256", typ: "JWT" }, { sub: "1001", iss: ORIGINAL_ISSUER, exp: 2053218952 }, ORIGINAL_SECRET);

describe("the original service's token, on the compiled service with only JWT_SECRET and JWT_ISSUER set", () => {
  let main: MainProcess;
  let clients: TokenClient[];
  const dir = mkdtempSync(join(tmpdir(), "tb-original-"));

  beforeAll(async () => {
    main = await startMain({ JWT_SECRET: ORIGINAL_SECRET, JWT_ISSUER: ORIGINAL_ISSUER, ADMIN_KEY, SQLITE_PATH: join(dir, "tokens.db") });
    clients = allClients(main.baseUrl, main.port);
  });
  afterAll(async () => {
    for (const client of clients) client.close();
    await main.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it("verifies on every protocol, as the original did", async () => {
    expect(clients.length).toBeGreaterThanOrEqual(6);
    for (const client of clients) {
      const outcome = await client.info(bearer(originalToken));
      expect(outcome, client.name).toMatchObject({ ok: true });
    }
  });

  it("is revoked by a subject revocation on every protocol, and the revocation is kept until lifted", async () => {
    const revoke = await restCall(main.baseUrl, "POST", "/subjects/1001/revocation", { "x-admin-key": ADMIN_KEY }, {});
    expect(revoke).toMatchObject({ ok: true, status: 200 });
    // No lifetime limit: nothing bounds how long such a token verifies, so neither is the entry.
    const state = await restCall(main.baseUrl, "GET", "/subjects/1001/revocation", { "x-admin-key": ADMIN_KEY });
    expect(state.ok && state.body.revocation).toMatchObject({ revoked: true });
    expect(state.ok && state.body.revocation).not.toHaveProperty("expires_at");
    for (const client of clients) {
      expect(await client.info(bearer(originalToken)), client.name).toMatchObject({
        ok: false,
        code: "unauthenticated",
        message: expect.stringMatching(/^Subject revoked at /),
      });
    }
  });
});

describe("no revocation expires while a token it matches can verify (Redis: no TTL without a lifetime limit)", () => {
  let redis: TestRedis;
  let service: TestService;
  beforeAll(async () => {
    redis = await startRedis();
    service = await startService({ REDIS_URL: redis.url, JWT_SECRET: ORIGINAL_SECRET, JWT_ISSUER: ORIGINAL_ISSUER });
  });
  afterAll(async () => {
    await service.close();
    await redis.stop();
  });

  it("keeps subject and jti entries without a TTL, and the token entry until its exp", async () => {
    const admin = { "x-admin-key": ADMIN_KEY };
    expect(await restCall(service.baseUrl, "POST", "/subjects/1001/revocation", admin, {})).toMatchObject({ ok: true });
    expect(await restCall(service.baseUrl, "POST", "/jtis/j-1/revocation", admin, {})).toMatchObject({ ok: true });
    expect(await restCall(service.baseUrl, "POST", "/blacklist", bearer(originalToken))).toMatchObject({ ok: true });
    const keys = (await redis.command("KEYS", "tbl:*")) as string[];
    const ttls = new Map<string, number>();
    for (const key of keys) ttls.set(key, (await redis.command("PTTL", key)) as number);
    const subject = [...ttls].find(([key]) => key.startsWith("tbl:s:"));
    const jti = [...ttls].find(([key]) => key.startsWith("tbl:j:"));
    const token = [...ttls].find(([key]) => !/^tbl:(s:|j:|history|index)/.test(key));
    expect(subject?.[1]).toBe(-1);
    expect(jti?.[1]).toBe(-1);
    // exp + tolerance + slack, from now: about nine years.
    expect(token?.[1]).toBeGreaterThan((2053218952 + 5) * 1000 - Date.now());
  });
});
