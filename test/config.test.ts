import { describe, expect, it } from "vitest";
import { ConfigError, loadConfig } from "../src/config.js";

describe("loadConfig", () => {
  it("reproduces the original service by default, on the embedded store", () => {
    const config = loadConfig({});
    expect(config.port).toBe(35000);
    expect(config.jwt).toMatchObject({ secret: "discogs", issuer: "https://www.discogs.com/", algorithms: ["HS256"] });
    expect(config.store).toEqual({ kind: "sqlite", path: "./data/tokens.db", timeoutMs: 500 });
    expect(config.adminKey).toBeUndefined();
  });

  it("uses Redis when REDIS_URL is set", () => {
    expect(loadConfig({ REDIS_URL: "redis://127.0.0.1:6379", REDIS_KEY_PREFIX: "x:" }).store).toEqual({
      kind: "redis",
      url: "redis://127.0.0.1:6379",
      keyPrefix: "x:",
      timeoutMs: 500,
    });
  });

  it.each([
    [{ PORT: "http" }, /^PORT: expected a whole number/],
    [{ PORT: "70000" }, /^PORT: expected a whole number from 0 to 65535, got 70000/],
    [{ JWT_ALGORITHMS: "HS256,RS256" }, /^JWT_ALGORITHMS: "RS256" is not supported/],
    [{ JWT_ALGORITHMS: "none" }, /^JWT_ALGORITHMS: "none" is not supported/],
    [{ JWT_CLOCK_TOLERANCE_SECONDS: "-1" }, /^JWT_CLOCK_TOLERANCE_SECONDS/],
    [{ STORE_TIMEOUT_MS: "0" }, /^STORE_TIMEOUT_MS/],
    [{ MAX_TOKEN_BYTES: "1e9" }, /^MAX_TOKEN_BYTES/],
    [{ REDIS_URL: "localhost:6379" }, /^REDIS_URL: expected redis:\/\//],
    [{ NODE_ENV: "production" }, /^JWT_SECRET: NODE_ENV=production refuses the default secret/],
    [{ NODE_ENV: "production", JWT_SECRET: "discogs" }, /^JWT_SECRET/],
  ])("refuses %j, naming the variable", (env, message) => {
    expect(() => loadConfig(env)).toThrow(ConfigError);
    expect(() => loadConfig(env)).toThrow(message);
  });

  it("starts in production with a real secret", () => {
    expect(loadConfig({ NODE_ENV: "production", JWT_SECRET: "a-long-real-secret" }).jwt.secret).toBe("a-long-real-secret");
  });

  it("treats an empty ADMIN_KEY as unset, so nobody unlocks it with an empty header", () => {
    expect(loadConfig({ ADMIN_KEY: "" }).adminKey).toBeUndefined();
  });
});
