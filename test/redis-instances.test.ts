import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startRedis, type TestRedis } from "./helpers/redis-server.js";
import { startService, type TestService } from "./helpers/service.js";
import { bearer, grpcJsClient, restHttp1Client } from "./helpers/clients.js";
import { mint } from "./helpers/tokens.js";

let redis: TestRedis;
let first: TestService;
let second: TestService;

beforeAll(async () => {
  redis = await startRedis();
  first = await startService({ REDIS_URL: redis.url, STORE_TIMEOUT_MS: "300" });
  second = await startService({ REDIS_URL: redis.url, STORE_TIMEOUT_MS: "300" });
});
afterAll(async () => {
  await first.close();
  await second.close();
  await redis.stop();
});

describe("two instances, one Redis", () => {
  it("a token revoked on one is refused by the other at once, and restored on both", async () => {
    const token = mint();
    const onFirst = restHttp1Client(first.baseUrl);
    const onSecond = grpcJsClient(second.port);
    try {
      expect((await onSecond.info(bearer(token))).ok).toBe(true);
      expect((await onFirst.blacklist(bearer(token))).ok).toBe(true);
      const refused = await onSecond.info(bearer(token));
      expect(refused).toMatchObject({ ok: false, code: "unauthenticated", message: "Token is blacklisted" });
      const again = await onSecond.blacklist(bearer(token));
      expect(again.ok && again.body.newlyBlacklisted).toBe(false);
      expect((await onSecond.unblacklist(bearer(token, { "x-admin-key": "test-admin-key-0123456789" }))).ok).toBe(true);
      expect((await onFirst.info(bearer(token))).ok).toBe(true);
    } finally {
      onSecond.close();
    }
  });

  it("keeps only fingerprints in Redis, with a TTL: never the token, its payload or its signature", async () => {
    const token = mint({ sub: "keyspace" });
    await restHttp1Client(first.baseUrl).blacklist(bearer(token));
    const keys = (await redis.command("KEYS", "*")) as string[];
    expect(keys).toContain("tbl:history");
    const [, payload, signature] = token.split(".") as [string, string, string];
    // The audit stream records the fingerprint, the token's jti and sub, never the token.
    const history = JSON.stringify(await redis.command("XRANGE", "tbl:history", "-", "+"));
    for (const secretPart of [token, payload, signature]) expect(history).not.toContain(secretPart);
    expect(history).toContain("keyspace");
    // The feed's index of entries in force holds entry keys (fingerprints) too, never the token.
    const index = JSON.stringify(await redis.command("ZRANGE", "tbl:index", "0", "-1"));
    for (const secretPart of [token, payload, signature]) expect(index).not.toContain(secretPart);
    for (const key of keys.filter((k) => !["tbl:history", "tbl:index", "tbl:index-ready"].includes(k))) {
      const value = (await redis.command("GET", key)) as string;
      for (const secretPart of [token, payload, signature]) {
        expect(key).not.toContain(secretPart);
        expect(value).not.toContain(secretPart);
      }
      expect(key).toMatch(/^tbl:[A-Za-z0-9_-]{43}$/);
      expect(value).toBe("1");
      expect((await redis.command("PTTL", key)) as number).toBeGreaterThan(0);
    }
  });
});
