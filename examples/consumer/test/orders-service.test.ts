/**
 * The consumer's test: a real token-blacklist (the package's own compiled
 * entry point, embedded SQLite) and the orders service guarded by
 * token-blacklist/client. A revocation through the service reaches the
 * orders service's mirror and is refused there, with no call per request.
 */
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { startOrdersService } from "../src/orders-service.ts";
import { FEED_KEY, ISSUER, SECRET, startTokenBlacklist, token } from "./token-blacklist.ts";

let service: { url: string; stop(): void };
let serviceUrl: string;
before(async () => {
  service = await startTokenBlacklist();
  serviceUrl = service.url;
});
after(() => service.stop());

test("the orders service admits a valid token and refuses it once revoked through token-blacklist", async () => {
  const orders = await startOrdersService({ tokenServiceUrl: serviceUrl, feedKey: FEED_KEY, secret: SECRET, issuer: ISSUER });
  try {
    const alice = token("alice");
    const ok = await fetch(orders.url, { headers: { authorization: `Bearer ${alice}` } });
    assert.equal(ok.status, 200);
    assert.deepEqual(await ok.json(), { orders: [], for: "alice" });

    const revoked = await fetch(`${serviceUrl}/blacklist`, { method: "POST", headers: { authorization: `Bearer ${alice}` } });
    assert.equal(revoked.status, 200);

    const deadline = Date.now() + 5000;
    let refused: Response | undefined;
    while (Date.now() < deadline) {
      const response = await fetch(orders.url, { headers: { authorization: `Bearer ${alice}` } });
      if (response.status !== 200) {
        refused = response;
        break;
      }
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    assert.ok(refused, "the revocation never reached the orders service");
    assert.equal(refused.status, 401);
    assert.deepEqual(await refused.json(), {
      success: false,
      info: "Token is blacklisted",
      code: "unauthenticated",
      reason: "TOKEN_REVOKED",
      metadata: { scope: "REVOCATION_SCOPE_TOKEN" },
    });

    const missing = await fetch(orders.url);
    assert.equal(missing.status, 401);
    assert.equal((await orders.checker.check(token("bob"))).valid, true);
  } finally {
    orders.server.close();
    await orders.checker.close();
  }
});
