import { type ChildProcess, spawn } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import * as http from "node:http";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { eventually } from "./helpers/eventually.js";
import { freePort, PERSISTENT, startRedis, type TestRedis } from "./helpers/redis-server.js";
import { startService, type TestService } from "./helpers/service.js";
import { mint } from "./helpers/tokens.js";

// Issue 14: a real nginx (auth_request) in front of an upstream, asking /auth, with examples/nginx.conf as shipped.

let redis: TestRedis;
let service: TestService;
let upstream: http.Server;
let nginx: ChildProcess;
let nginxPort: number;
let dir: string;
/** What the upstream saw: one entry per request that reached it. */
const seen: Array<{ path: string; subject: string | undefined; jti: string | undefined }> = [];

beforeAll(async () => {
  redis = await startRedis(PERSISTENT); // restarted after an outage, it must come back with its data
  service = await startService({ REDIS_URL: redis.url, REDIS_KEY_PREFIX: "nginx:", STORE_TIMEOUT_MS: "300" });
  upstream = http.createServer((req, res) => {
    seen.push({ path: req.url ?? "", subject: req.headers["x-token-subject"] as string, jti: req.headers["x-token-jti"] as string });
    res.end("the API's answer");
  });
  await new Promise<void>((resolve) => upstream.listen(0, "127.0.0.1", resolve));
  const upstreamPort = (upstream.address() as { port: number }).port;
  nginxPort = await freePort();
  dir = mkdtempSync(join(tmpdir(), "tb-nginx-"));
  // The shipped example, with its three addresses pointed at this test's servers.
  const config = readFileSync(new URL("../examples/nginx.conf", import.meta.url), "utf8")
    .replace("server 127.0.0.1:8080;", `server 127.0.0.1:${upstreamPort};`)
    .replace("server 127.0.0.1:35000;", `server 127.0.0.1:${service.port};`)
    .replace("listen 127.0.0.1:8000;", `listen 127.0.0.1:${nginxPort};`);
  expect(config).toContain(String(service.port));
  writeFileSync(join(dir, "nginx.conf"), config);
  nginx = spawn(
    "nginx",
    [
      "-p",
      dir,
      "-c",
      join(dir, "nginx.conf"),
      "-e",
      join(dir, "error.log"),
      "-g",
      `daemon off; master_process off; pid ${join(dir, "nginx.pid")};`,
    ],
    { stdio: "ignore" },
  );
  const up = await eventually(async () => (await get("/", {}).catch(() => undefined)) !== undefined, 10_000);
  if (!up) throw new Error(`nginx did not start: ${readFileSync(join(dir, "error.log"), "utf8")}`);
});
afterAll(async () => {
  nginx?.kill("SIGKILL");
  upstream?.close();
  await service?.close();
  await redis?.stop();
  if (dir !== undefined) rmSync(dir, { recursive: true, force: true });
});

function get(path: string, headers: Record<string, string>): Promise<{ status: number; headers: http.IncomingHttpHeaders; body: string }> {
  return new Promise((resolve, reject) => {
    const req = http.get({ host: "127.0.0.1", port: nginxPort, path, headers, agent: false }, (res) => {
      let body = "";
      res.setEncoding("utf8");
      res.on("data", (chunk: string) => (body += chunk));
      res.on("end", () => resolve({ status: res.statusCode!, headers: res.headers, body }));
    });
    req.on("error", reject);
  });
}

describe("nginx auth_request with /auth", () => {
  it("lets a valid token through to the upstream, which sees the token's subject and jti, not the client's", async () => {
    const token = mint({ sub: "alice", jti: "jti-nginx-1" });
    const answer = await get("/orders/1", { authorization: `Bearer ${token}`, "x-token-subject": "mallory" });
    expect([answer.status, answer.body]).toEqual([200, "the API's answer"]);
    expect(seen.at(-1)).toEqual({ path: "/orders/1", subject: "alice", jti: "jti-nginx-1" });
  });

  it("answers 401 with the service's challenge for a revoked token, and for none; the upstream is not called", async () => {
    const token = mint();
    expect((await fetch(`${service.baseUrl}/blacklist`, { method: "POST", headers: { authorization: `Bearer ${token}` } })).status).toBe(
      200,
    );
    const before = seen.length;
    const revoked = await get("/orders/2", { authorization: `Bearer ${token}` });
    expect(revoked.status).toBe(401);
    expect(revoked.headers["www-authenticate"]).toMatch(
      /^Bearer realm="token-blacklist", error="invalid_token", error_description="Token is blacklisted/,
    );
    const missing = await get("/orders/3", {});
    expect([missing.status, missing.headers["www-authenticate"]]).toEqual([401, 'Bearer realm="token-blacklist"']);
    expect(seen.length).toBe(before);
  });

  it("answers 5xx while the revocation store is down, and the upstream is never called", async () => {
    await redis.kill();
    try {
      const before = seen.length;
      const answer = await get("/orders/4", { authorization: `Bearer ${mint()}` });
      expect(answer.status).toBeGreaterThanOrEqual(500);
      expect(seen.length).toBe(before);
    } finally {
      await redis.restart();
    }
    // And it recovers by itself.
    expect(await eventually(async () => (await get("/orders/5", { authorization: `Bearer ${mint()}` })).status === 200)).toBe(true);
  });
});
