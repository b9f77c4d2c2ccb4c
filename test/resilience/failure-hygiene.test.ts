import * as net from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { eventually } from "../helpers/eventually.js";
import { runMainToExit } from "../helpers/main-process.js";
import { startRedis, type TestRedis } from "../helpers/redis-server.js";
import { mint } from "../helpers/tokens.js";
import { getInfo, startTarget, type Target } from "./target.js";

// Issue 12, case 11: what the service says, and refuses, when things go wrong.

/** The JSON log lines a target wrote, parsed. */
function logLines(target: Target): Array<Record<string, unknown>> {
  return target
    .output()
    .split("\n")
    .filter((line) => line.startsWith("{"))
    .map((line) => JSON.parse(line) as Record<string, unknown>);
}

describe("logs during a store outage", () => {
  let redis: TestRedis;
  let target: Target;
  beforeAll(async () => {
    redis = await startRedis();
    target = await startTarget({ REDIS_URL: redis.url, STORE_TIMEOUT_MS: "200", LOG_LEVEL: "info" });
  });
  afterAll(async () => {
    await target?.close();
    await redis?.stop();
  });

  it("warns at start that Redis keeps nothing on disk", () => {
    expect(logLines(target).some((l) => l.level === 40 && /keeps nothing on disk/.test(String(l.msg)))).toBe(true);
  });

  it("sums store failures: a few lines a second with counts, not one per call, and no raw token", async () => {
    await redis.kill();
    const linesBefore = logLines(target).length;
    const started = Date.now();
    let calls = 0;
    await Promise.all(
      Array.from({ length: 20 }, async () => {
        while (Date.now() - started < 2500) {
          expect((await getInfo(target.port, target.token)).status).toBe(503);
          calls++;
        }
      }),
    );
    const storeLines = () =>
      logLines(target)
        .slice(linesBefore)
        .filter((l) => l.level === 40 && /revocation store call/.test(String(l.msg)));
    const summed = () => storeLines().reduce((sum, l) => sum + (typeof l.failures === "number" ? l.failures : 1), 0);
    // The last window's summary line comes when that window closes.
    await eventually(async () => summed() >= calls, 3000);
    console.log(`store outage: ${calls} failed calls, ${storeLines().length} warn lines summing ${summed()} failures`);
    expect(calls).toBeGreaterThan(100);
    expect(storeLines().length).toBeLessThanOrEqual(8); // two per one-second window, three or four windows
    expect(summed()).toBeGreaterThanOrEqual(calls);
    expect(target.output()).not.toContain(target.token);
    await redis.restart();
  });

  it("logs a client that leaves mid-call at debug, never as an internal error", async () => {
    redis.signal("SIGSTOP");
    try {
      const linesBefore = logLines(target).length;
      await new Promise<void>((resolve) => {
        const socket = net.connect(target.port, "127.0.0.1", () => {
          socket.write(`GET /info HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${target.token}\r\n\r\n`);
          setTimeout(() => socket.destroy(), 50); // while the call waits on the hung Redis
        });
        socket.once("close", () => resolve());
      });
      // A later call returns after the abandoned one ended (both wait out STORE_TIMEOUT_MS).
      expect((await getInfo(target.port, target.token)).status).toBe(503);
      const lines = logLines(target).slice(linesBefore);
      expect(lines.filter((l) => (l.level as number) >= 50)).toEqual([]);
    } finally {
      redis.signal("SIGCONT");
    }
  });
});

describe("start-up refusals", () => {
  let redis: TestRedis;
  beforeAll(async () => {
    redis = await startRedis();
  });
  afterAll(() => redis?.stop());

  it("REDIS_REQUIRE_PERSISTENCE=true refuses a Redis that keeps nothing on disk, and says how to fix it", async () => {
    const { code, output } = await runMainToExit({ REDIS_URL: redis.url, REDIS_REQUIRE_PERSISTENCE: "true" });
    expect(code).not.toBe(0);
    expect(output).toMatch(/keeps nothing on disk.*appendonly/);
  });

  it("starts on the same Redis once it persists (appendonly yes)", async () => {
    await redis.command("CONFIG", "SET", "appendonly", "yes");
    const target = await startTarget({ REDIS_URL: redis.url, REDIS_REQUIRE_PERSISTENCE: "true" });
    try {
      expect((await getInfo(target.port, mint())).status).toBe(200);
      expect(target.output()).not.toMatch(/keeps nothing on disk/);
    } finally {
      await target.close();
    }
  });

  it("NODE_ENV=production refuses a short ADMIN_KEY", async () => {
    const { code, output } = await runMainToExit({ NODE_ENV: "production", JWT_SECRET: "a-production-secret", ADMIN_KEY: "k" });
    expect(code).not.toBe(0);
    expect(output).toMatch(/ADMIN_KEY: NODE_ENV=production needs at least 32 characters/);
  });
});

describe("an HTTP/1.1 request without Host", () => {
  let target: Target;
  beforeAll(async () => {
    target = await startTarget();
  });
  afterAll(() => target?.close());

  it("is answered 400 with the JSON error every refusal has", async () => {
    const response = await new Promise<string>((resolve) => {
      let text = "";
      const socket = net.connect(target.port, "127.0.0.1", () =>
        socket.write(`GET /info HTTP/1.1\r\nAuthorization: Bearer ${target.token}\r\n\r\n`),
      );
      socket.on("data", (d: Buffer) => (text += d.toString()));
      socket.once("close", () => resolve(text));
    });
    expect(response).toMatch(/^HTTP\/1\.1 400 /);
    expect(response).toMatch(/content-type: application\/json/i);
    const body = JSON.parse(response.slice(response.indexOf("\r\n\r\n") + 4)) as { code: string; info: string };
    expect(body).toEqual({
      success: false,
      code: "invalid_argument",
      info: "HTTP/1.1 requests need a Host header",
      reason: "REQUEST_MALFORMED",
    });
  });
});
