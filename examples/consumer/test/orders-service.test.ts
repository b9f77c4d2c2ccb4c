/**
 * The consumer's test: a real token-blacklist (the package's own compiled
 * entry point, embedded SQLite) and the orders service guarded by
 * token-blacklist/client. A revocation through the service reaches the
 * orders service's mirror and is refused there, with no call per request.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { createHmac } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import { createRequire } from "node:module";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { startOrdersService } from "../src/orders-service.ts";

const SECRET = "consumer-test-secret";
const ISSUER = "https://issuer.example/";
const FEED_KEY = "consumer-test-feed-key";

/** An HS256 token, signed here: the consumer needs no JWT library to test. */
function sign(claims: Record<string, unknown>): string {
  const part = (value: unknown) => Buffer.from(JSON.stringify(value)).toString("base64url");
  const input = `${part({ alg: "HS256", typ: "JWT" })}.${part(claims)}`;
  return `${input}.${createHmac("sha256", SECRET).update(input).digest("base64url")}`;
}
const token = (sub: string) => sign({ sub, iss: ISSUER, iat: Math.floor(Date.now() / 1000), exp: Math.floor(Date.now() / 1000) + 600 });

let service: ChildProcess;
let serviceUrl: string;
let dataDir: string;
before(async () => {
  dataDir = mkdtempSync(join(tmpdir(), "consumer-"));
  // The installed package's own entry point, as `npx token-blacklist` would find it.
  const main = join(dirname(createRequire(import.meta.url).resolve("token-blacklist/package.json")), "dist/src/main.js");
  service = spawn(process.execPath, [main], {
    env: {
      PATH: process.env.PATH,
      PORT: "0",
      HOST: "127.0.0.1",
      SQLITE_PATH: join(dataDir, "t.db"),
      JWT_SECRET: SECRET,
      JWT_ISSUER: ISSUER,
      FEED_KEY,
      ADMIN_KEY: "consumer-admin-key",
    },
    stdio: ["ignore", "pipe", "pipe"],
  });
  serviceUrl = await new Promise<string>((resolve, reject) => {
    let output = "";
    const timer = setTimeout(() => reject(new Error(`token-blacklist did not start: ${output}`)), 20_000);
    service.stdout!.on("data", (chunk: Buffer) => {
      output += chunk.toString();
      const port = /"port":(\d+).*"msg":"token-blacklist listening"/.exec(output)?.[1];
      if (port !== undefined) {
        clearTimeout(timer);
        resolve(`http://127.0.0.1:${port}`);
      }
    });
  });
});
after(() => {
  service.kill();
  rmSync(dataDir, { recursive: true, force: true });
});

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
    assert.deepEqual(await refused.json(), { success: false, info: "Token is blacklisted", code: "unauthenticated" });

    const missing = await fetch(orders.url);
    assert.equal(missing.status, 401);
    assert.equal((await orders.checker.check(token("bob"))).valid, true);
  } finally {
    orders.server.close();
    await orders.checker.close();
  }
});
