import { describe, expect, it } from "vitest";
import { ConfigError, loadConfig } from "../../src/config.js";

describe("loadConfig", () => {
  it("reproduces the original service by default, on the embedded store", () => {
    const config = loadConfig({});
    expect(config.port).toBe(35000);
    expect(config.jwt).toMatchObject({
      key: { kind: "secret", secret: "discogs" },
      issuer: "https://www.discogs.com/",
      algorithms: ["HS256"],
      audience: undefined,
      requiredClaims: [],
      maxLifetimeSeconds: undefined,
    });
    expect(config.failOpen).toBe(false);
    expect(config.maxHeaderBytes).toBe(32768);
    expect(config.store).toEqual({ kind: "sqlite", path: "./data/tokens.db", timeoutMs: 500 });
    expect(config.adminKey).toBeUndefined();
  });

  it("uses Redis when REDIS_URL is set", () => {
    expect(loadConfig({ REDIS_URL: "redis://127.0.0.1:6379", REDIS_KEY_PREFIX: "x:" }).store).toEqual({
      kind: "redis",
      topology: { mode: "single", url: "redis://127.0.0.1:6379" },
      keyPrefix: "x:",
      timeoutMs: 500,
      historyMaxEvents: 100_000,
      requirePersistence: false,
      waitReplicas: 0,
      waitTimeoutMs: 250,
    });
    // In production a Redis that keeps nothing on disk is refused unless REDIS_REQUIRE_PERSISTENCE=false says so.
    expect(loadConfig({ REDIS_URL: "redis://h:1", NODE_ENV: "production", JWT_SECRET: "s" }).store).toMatchObject({
      requirePersistence: true,
    });
    expect(
      loadConfig({ REDIS_URL: "redis://h:1", NODE_ENV: "production", JWT_SECRET: "s", REDIS_REQUIRE_PERSISTENCE: "false" }).store,
    ).toMatchObject({ requirePersistence: false });
    expect(loadConfig({ REDIS_URL: "redis://h:1", HISTORY_MAX_EVENTS: "500" }).store).toMatchObject({ historyMaxEvents: 500 });
  });

  it("limits token lifetime only when JWT_MAX_LIFETIME_SECONDS asks for it, as the original service did not", () => {
    expect(loadConfig({}).jwt.maxLifetimeSeconds).toBeUndefined();
    expect(loadConfig({ JWT_MAX_LIFETIME_SECONDS: "0" }).jwt.maxLifetimeSeconds).toBeUndefined();
    expect(loadConfig({ JWT_MAX_LIFETIME_SECONDS: "86400" }).jwt.maxLifetimeSeconds).toBe(86400);
  });

  it("reads a Sentinel topology, with passwords for Redis and the sentinels", () => {
    const store = loadConfig({
      REDIS_SENTINELS: "10.0.0.1:26379, sentinel-b:26380,[::1]:26381",
      REDIS_SENTINEL_MASTER: "tokens",
      REDIS_PASSWORD: "p",
      REDIS_SENTINEL_PASSWORD: "sp",
      REDIS_WAIT_REPLICAS: "1",
      REDIS_WAIT_TIMEOUT_MS: "100",
    }).store;
    expect(store).toMatchObject({
      kind: "redis",
      topology: {
        mode: "sentinel",
        masterName: "tokens",
        sentinels: [
          { host: "10.0.0.1", port: 26379 },
          { host: "sentinel-b", port: 26380 },
          { host: "::1", port: 26381 },
        ],
        password: "p",
        sentinelPassword: "sp",
        tls: false,
      },
      waitReplicas: 1,
      waitTimeoutMs: 100,
    });
  });

  it("reads a Cluster topology", () => {
    expect(loadConfig({ REDIS_CLUSTER_NODES: "a:7000,b:7001", REDIS_TLS: "true" }).store).toMatchObject({
      topology: {
        mode: "cluster",
        nodes: [
          { host: "a", port: 7000 },
          { host: "b", port: 7001 },
        ],
        tls: true,
      },
    });
  });

  it("never echoes a malformed REDIS_URL, which may hold a password", () => {
    expect(() => loadConfig({ REDIS_URL: "user:hunter2@localhost:6379" })).toThrow(/^(?!.*hunter2).*REDIS_URL/);
  });

  it("reads the revocation feed's settings, refusing a short FEED_KEY in production and an unknown REVOCATION_CACHE", () => {
    expect(loadConfig({}).feed).toEqual({ feedKey: undefined, cache: "store", maxStalenessMs: 3000 });
    expect(loadConfig({ FEED_KEY: "f", REVOCATION_CACHE: "mirror", MIRROR_MAX_STALENESS_MS: "250" }).feed).toEqual({
      feedKey: "f",
      cache: "mirror",
      maxStalenessMs: 250,
    });
    expect(() => loadConfig({ NODE_ENV: "production", JWT_SECRET: "s", FEED_KEY: "short" })).toThrow(
      /^FEED_KEY: NODE_ENV=production needs at least 32 characters \(got 5\)/,
    );
    expect(() => loadConfig({ REVOCATION_CACHE: "redis" })).toThrow(/^REVOCATION_CACHE/);
    expect(() => loadConfig({ MIRROR_MAX_STALENESS_MS: "0" })).toThrow(/^MIRROR_MAX_STALENESS_MS/);
  });

  it("refuses a short ADMIN_KEY in production", () => {
    expect(() => loadConfig({ NODE_ENV: "production", JWT_SECRET: "s", ADMIN_KEY: "short" })).toThrow(
      /^ADMIN_KEY: NODE_ENV=production needs at least 32 characters \(got 5\)/,
    );
    expect(loadConfig({ NODE_ENV: "production", JWT_SECRET: "s", ADMIN_KEY: "k".repeat(32) }).adminKey).toHaveLength(32);
    expect(loadConfig({ ADMIN_KEY: "short" }).adminKey).toBe("short"); // outside production, a warning's worth
  });

  it.each([
    [{ PORT: "http" }, /^PORT: expected a whole number/],
    [{ PORT: "70000" }, /^PORT: expected a whole number from 0 to 65535, got 70000/],
    [{ JWT_ALGORITHMS: "HS256,RS256" }, /^JWT_ALGORITHMS: RS256 needs a public key/],
    [{ JWT_PUBLIC_KEY_FILE: "k.pem", JWT_ALGORITHMS: "RS256,HS256" }, /^JWT_ALGORITHMS: HS256 is an HMAC algorithm .* never mix/],
    [{ JWT_JWKS_URL: "https://x/jwks", JWT_ALGORITHMS: "HS256" }, /never mix/],
    [{ JWT_JWKS_URL: "https://x/jwks", JWT_PUBLIC_KEY_FILE: "k.pem" }, /set one, not both/],
    [{ JWT_JWKS_URL: "file:///etc/passwd" }, /^JWT_JWKS_URL: expected an http\(s\) URL/],
    [{ FAIL_OPEN: "yes" }, /^FAIL_OPEN: expected true or false/],
    [{ LOG_LEVEL: "loud" }, /^LOG_LEVEL: expected one of/],
    [{ MAX_HEADER_BYTES: "4096" }, /^MAX_HEADER_BYTES: must leave room/],
    [{ JWT_MAX_LIFETIME_SECONDS: "-5" }, /^JWT_MAX_LIFETIME_SECONDS/],
    [{ REDIS_URL: "redis://h:1", HISTORY_MAX_EVENTS: "0" }, /^HISTORY_MAX_EVENTS/],
    [{ JWT_ALGORITHMS: "none" }, /^JWT_ALGORITHMS: "none" is not supported/],
    [{ JWT_CLOCK_TOLERANCE_SECONDS: "-1" }, /^JWT_CLOCK_TOLERANCE_SECONDS/],
    [{ JWT_CACHE_SIZE: "many" }, /^JWT_CACHE_SIZE/],
    [{ JWT_CACHE_SIZE: "2000000" }, /^JWT_CACHE_SIZE/],
    [{ STORE_TIMEOUT_MS: "0" }, /^STORE_TIMEOUT_MS/],
    [{ MAX_TOKEN_BYTES: "1e9" }, /^MAX_TOKEN_BYTES/],
    [{ REDIS_URL: "localhost:6379" }, /^REDIS_URL: expected redis:\/\//],
    [{ REDIS_URL: "redis://h:1", REDIS_CLUSTER_NODES: "h:2" }, /^REDIS_URL and REDIS_CLUSTER_NODES: set one Redis topology/],
    [{ REDIS_SENTINELS: "h:26379" }, /^REDIS_SENTINEL_MASTER: required with REDIS_SENTINELS/],
    [{ REDIS_SENTINELS: "h", REDIS_SENTINEL_MASTER: "m" }, /^REDIS_SENTINELS: "h" is not host:port/],
    [{ REDIS_CLUSTER_NODES: "h:70000" }, /^REDIS_CLUSTER_NODES: "h:70000" is not host:port/],
    [{ REDIS_CLUSTER_NODES: "h:7000", REDIS_KEY_PREFIX: "{app}:" }, /^REDIS_KEY_PREFIX: no braces/],
    [
      { REDIS_URL: "redis://h:1", REDIS_WAIT_REPLICAS: "1", REDIS_WAIT_TIMEOUT_MS: "500" },
      /^REDIS_WAIT_TIMEOUT_MS: must be below STORE_TIMEOUT_MS/,
    ],
    [{ REDIS_URL: "redis://h:1", REDIS_WAIT_REPLICAS: "-1" }, /^REDIS_WAIT_REPLICAS/],
    [{ NODE_ENV: "production" }, /^JWT_SECRET: NODE_ENV=production refuses the default secret/],
    [{ NODE_ENV: "production", JWT_SECRET: "discogs" }, /^JWT_SECRET/],
  ])("refuses %j, naming the variable", (env, message) => {
    expect(() => loadConfig(env)).toThrow(ConfigError);
    expect(() => loadConfig(env)).toThrow(message);
  });

  it("starts in production with a real secret", () => {
    expect(loadConfig({ NODE_ENV: "production", JWT_SECRET: "a-long-real-secret" }).jwt.key).toEqual({
      kind: "secret",
      secret: "a-long-real-secret",
    });
  });

  it("takes public keys with asymmetric algorithms, RS256 by default", () => {
    expect(loadConfig({ JWT_PUBLIC_KEY_FILE: "/keys/issuer.pem" }).jwt).toMatchObject({
      key: { kind: "public-key-file", path: "/keys/issuer.pem" },
      algorithms: ["RS256"],
    });
    expect(loadConfig({ JWT_JWKS_URL: "https://issuer/jwks.json", JWT_ALGORITHMS: "ES256, RS256" }).jwt).toMatchObject({
      key: { kind: "jwks", url: "https://issuer/jwks.json", refreshSeconds: 600, minRefetchSeconds: 30 },
      algorithms: ["ES256", "RS256"],
    });
  });

  it("reads the optional checks", () => {
    const config = loadConfig({
      JWT_AUDIENCE: "api-a, api-b",
      JWT_REQUIRED_CLAIMS: "sub,jti",
      JWT_MAX_LIFETIME_SECONDS: "86400",
      FAIL_OPEN: "true",
    });
    expect(config.jwt).toMatchObject({ audience: ["api-a", "api-b"], requiredClaims: ["sub", "jti"], maxLifetimeSeconds: 86400 });
    expect(config.failOpen).toBe(true);
  });

  it("treats an empty ADMIN_KEY as unset, so nobody unlocks it with an empty header", () => {
    expect(loadConfig({ ADMIN_KEY: "" }).adminKey).toBeUndefined();
  });
});
