/**
 * Environment -> typed, validated configuration, parsed once at start-up.
 * A bad value stops start-up with a message that names the variable.
 */

import { ConfigError } from "./config-error.js";
import { boolean, type Env, integer, list, nonEmpty, oneOf } from "./env-values.js";
import { safeUrl } from "./safe-url.js";
import { loadTracingConfig, type TracingConfig } from "./tracing/tracing-config.js";

export { ConfigError } from "./config-error.js";
export type { TracingConfig } from "./tracing/tracing-config.js";

/** HMAC algorithms: verified with JWT_SECRET. */
export const SYMMETRIC_ALGORITHMS = ["HS256", "HS384", "HS512"] as const;
/** Public-key algorithms: verified with JWT_PUBLIC_KEY_FILE or JWT_JWKS_URL. */
export const ASYMMETRIC_ALGORITHMS = ["RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512"] as const;
/** An algorithm this service can verify. */
export type Algorithm = (typeof SYMMETRIC_ALGORITHMS)[number] | (typeof ASYMMETRIC_ALGORITHMS)[number];

/** The original service's secret: fine for trying it out, refused in production. */
export const DEFAULT_JWT_SECRET = "discogs";
/** The original service's issuer. */
export const DEFAULT_JWT_ISSUER = "https://www.discogs.com/";

/** Shortest ADMIN_KEY accepted with NODE_ENV=production: guessing it must be out of reach. */
export const MIN_PRODUCTION_ADMIN_KEY_CHARS = 32;

/** Where verification keys come from. HMAC secrets and public keys never mix. */
export type KeyConfig =
  | { kind: "secret"; secret: string }
  | { kind: "public-key-file"; path: string }
  | { kind: "jwks"; url: string; refreshSeconds: number; minRefetchSeconds: number };

/** What a token must satisfy. */
export interface JwtConfig {
  key: KeyConfig;
  /** Allow-list: a token whose `alg` is not here is refused before any key is looked up. */
  algorithms: Algorithm[];
  issuer: string;
  /** When set, `aud` must contain one of these. */
  audience: string[] | undefined;
  /** Claims every token must carry, besides `exp`. */
  requiredClaims: string[];
  /**
   * Opt-in (JWT_MAX_LIFETIME_SECONDS): `exp - iat` may not exceed it and tokens
   * must carry `iat`, which lets jti and subject revocations be forgotten once
   * no token they match can verify. Undefined (the default, as the original
   * service): no limit, `iat` optional, jti and subject revocations kept until lifted.
   */
  maxLifetimeSeconds: number | undefined;
  /** Leeway for `exp` and `nbf` against clock skew between issuer and us. */
  clockToleranceSeconds: number;
  /** Longer bearer tokens are refused before any parsing. */
  maxTokenBytes: number;
  /** Verified tokens remembered (JWT_CACHE_SIZE; 0: none): see the verifier. */
  cacheSize: number;
}

/** Everything the service reads from its environment. */
export interface Config {
  /** TCP port for every protocol (gRPC, gRPC-Web, Connect, REST). */
  port: number;
  /** Interface to bind; undefined binds every interface, as Node does. */
  host: string | undefined;
  /** Request headers larger than this are refused by the HTTP layer (431 / refused stream). */
  maxHeaderBytes: number;
  /** Request bodies larger than this are refused on every protocol. */
  maxBodyBytes: number;
  jwt: JwtConfig;
  /** Operator key for Unblacklist and the operator RPCs; undefined disables them. */
  adminKey: string | undefined;
  store: RedisStoreConfig | { kind: "sqlite"; path: string; timeoutMs: number };
  /**
   * When the store cannot answer, Info says "valid" instead of UNAVAILABLE.
   * Off by default: a revocation service should fail closed.
   */
  failOpen: boolean;
  logLevel: "fatal" | "error" | "warn" | "info" | "debug" | "trace" | "silent";
  /** PEM files: serve TLS (h2 and http/1.1 by ALPN) on the port instead of cleartext. */
  tls: { certFile: string; keyFile: string } | undefined;
  /** Browser origins allowed to call the API (CORS); "*" allows any. */
  corsOrigins: string[];
  /** Processes serving the port (node:cluster); 1 runs no cluster. */
  workers: number;
  /** What the gateway endpoints (ext_authz, /auth, OAuth) need. */
  gateways: GatewayConfig;
  /** The revocation feed (WatchRevocations) and the in-process mirror. */
  feed: FeedConfig;
  /** What a connection may cost before it is closed: see {@link ConnectionLimits}. */
  connections: ConnectionLimits;
  /** Graceful stop: how long to keep serving after SIGTERM, and the hard deadline. */
  shutdown: { drainMs: number; timeoutMs: number };
  /** OpenTelemetry tracing from the standard OTEL_* variables; undefined: off, and the SDK is never loaded. */
  tracing: TracingConfig | undefined;
}

/** The gateway endpoints' settings. */
export interface GatewayConfig {
  /** OAuth clients allowed to call /oauth2/introspect and /oauth2/revoke, by client_id; empty: those endpoints answer 403. */
  oauthClients: ReadonlyMap<string, string>;
  /** ext_authz: remove `authorization` from the request before it reaches the upstream. */
  removeAuthorization: boolean;
}

/** The revocation feed's settings. */
export interface FeedConfig {
  /** FEED_KEY: opens WatchRevocations (read-only); undefined: ADMIN_KEY does. */
  feedKey: string | undefined;
  /** REVOCATION_CACHE: "store" (Info asks the store each time) or "mirror" (Info answers from the in-process mirror). */
  cache: "store" | "mirror";
  /** MIRROR_MAX_STALENESS_MS: past this lag the mirror is not trusted and Info asks the store. */
  maxStalenessMs: number;
}

/** Where the Redis store lives: one server, a Sentinel-watched master, or a Cluster. */
export type RedisTopology =
  | { mode: "single"; url: string }
  | { mode: "sentinel"; sentinels: HostPort[]; masterName: string; password?: string; sentinelPassword?: string; tls: boolean }
  | { mode: "cluster"; nodes: HostPort[]; password?: string; tls: boolean };

export interface HostPort {
  host: string;
  port: number;
}

/** The Redis store's settings. */
export interface RedisStoreConfig {
  kind: "redis";
  topology: RedisTopology;
  keyPrefix: string;
  timeoutMs: number;
  historyMaxEvents: number;
  requirePersistence: boolean;
  /** Replicas that must confirm a change (WAIT) before it is acknowledged; 0 does not wait. */
  waitReplicas: number;
  waitTimeoutMs: number;
}

/** Limits every listener (cleartext and TLS, HTTP/1.1 and HTTP/2) enforces per connection. */
export interface ConnectionLimits {
  /** A connection (HTTP/1.1 keep-alive, or an HTTP/2 session) with nothing in flight is closed after this long. */
  idleTimeoutMs: number;
  /** A request head (HTTP/1.1), a TLS handshake or the first bytes of a cleartext connection must arrive within this. */
  headersTimeoutMs: number;
  /** SETTINGS_MAX_CONCURRENT_STREAMS advertised and enforced per HTTP/2 session. */
  maxConcurrentStreams: number;
  /** Streams a client may reset per 10 seconds on one HTTP/2 session before the session is closed (CVE-2023-44487). */
  maxResetsPer10s: number;
}

/** Reads and validates the configuration from `env` (normally `process.env`). */
export function loadConfig(env: Env = process.env): Config {
  const timeoutMs = integer(env, "STORE_TIMEOUT_MS", 500, 1, 60_000);
  const maxTokenBytes = integer(env, "MAX_TOKEN_BYTES", 8192, 64, 65536);
  const maxHeaderBytes = integer(env, "MAX_HEADER_BYTES", 32768, 1024, 1048576);
  if (maxHeaderBytes < maxTokenBytes + 1024) {
    throw new ConfigError(`MAX_HEADER_BYTES: must leave room for a token of MAX_TOKEN_BYTES (${maxTokenBytes}) plus 1024`);
  }
  const production = env.NODE_ENV === "production";
  const redis = redisStore(env, timeoutMs, production);
  const adminKey = nonEmpty(env, "ADMIN_KEY");
  if (production && adminKey !== undefined && adminKey.length < MIN_PRODUCTION_ADMIN_KEY_CHARS) {
    throw new ConfigError(
      `ADMIN_KEY: NODE_ENV=production needs at least ${MIN_PRODUCTION_ADMIN_KEY_CHARS} characters (got ${adminKey.length}); generate one with: openssl rand -base64 33`,
    );
  }
  const feedKey = nonEmpty(env, "FEED_KEY");
  if (production && feedKey !== undefined && feedKey.length < MIN_PRODUCTION_ADMIN_KEY_CHARS) {
    throw new ConfigError(
      `FEED_KEY: NODE_ENV=production needs at least ${MIN_PRODUCTION_ADMIN_KEY_CHARS} characters (got ${feedKey.length}); generate one with: openssl rand -base64 33`,
    );
  }
  return {
    port: integer(env, "PORT", 35000, 0, 65535),
    host: nonEmpty(env, "HOST"),
    maxHeaderBytes,
    maxBodyBytes: integer(env, "MAX_BODY_BYTES", 65536, 1024, 16 * 1048576),
    jwt: loadJwtConfig(env),
    adminKey,
    store: redis ?? { kind: "sqlite", path: nonEmpty(env, "SQLITE_PATH") ?? "./data/tokens.db", timeoutMs },
    failOpen: boolean(env, "FAIL_OPEN", false),
    logLevel: oneOf(env, "LOG_LEVEL", ["fatal", "error", "warn", "info", "debug", "trace", "silent"], "info"),
    tls: tlsFiles(env),
    corsOrigins: corsOrigins(env),
    workers: integer(env, "WORKERS", 1, 1, 64),
    gateways: {
      oauthClients: oauthClients(env, production),
      removeAuthorization: boolean(env, "EXT_AUTHZ_REMOVE_AUTHORIZATION", false),
    },
    feed: {
      feedKey,
      cache: oneOf(env, "REVOCATION_CACHE", ["store", "mirror"], "store"),
      maxStalenessMs: integer(env, "MIRROR_MAX_STALENESS_MS", 3000, 100, 3_600_000),
    },
    connections: {
      idleTimeoutMs: integer(env, "HTTP_IDLE_TIMEOUT_MS", 65_000, 100, 3_600_000),
      headersTimeoutMs: integer(env, "HTTP_HEADERS_TIMEOUT_MS", 10_000, 100, 600_000),
      maxConcurrentStreams: integer(env, "H2_MAX_CONCURRENT_STREAMS", 100, 1, 10_000),
      maxResetsPer10s: integer(env, "H2_MAX_RESETS_PER_10S", 200, 1, 1_000_000),
    },
    shutdown: {
      drainMs: integer(env, "SHUTDOWN_DRAIN_MS", 500, 0, 600_000),
      timeoutMs: integer(env, "SHUTDOWN_TIMEOUT_MS", 10_000, 100, 3_600_000),
    },
    tracing: loadTracingConfig(env),
  };
}

/**
 * The token rules alone (JWT_* and MAX_TOKEN_BYTES), validated as the
 * service validates them: `token-blacklist/client` reads its `jwt` options
 * through this, so a checker and the service agree on every token.
 */
export function loadJwtConfig(env: Env): JwtConfig {
  const maxLifetime = integer(env, "JWT_MAX_LIFETIME_SECONDS", 0, 0, 10 * 365 * 86400);
  return {
    ...keyAndAlgorithms(env),
    issuer: nonEmpty(env, "JWT_ISSUER") ?? DEFAULT_JWT_ISSUER,
    audience: list(env, "JWT_AUDIENCE"),
    requiredClaims: list(env, "JWT_REQUIRED_CLAIMS") ?? [],
    maxLifetimeSeconds: maxLifetime === 0 ? undefined : maxLifetime,
    clockToleranceSeconds: integer(env, "JWT_CLOCK_TOLERANCE_SECONDS", 5, 0, 3600),
    maxTokenBytes: integer(env, "MAX_TOKEN_BYTES", 8192, 64, 65536),
    cacheSize: integer(env, "JWT_CACHE_SIZE", 10_000, 0, 1_000_000),
  };
}

/** The Redis store, when one of REDIS_URL, REDIS_SENTINELS or REDIS_CLUSTER_NODES is set (only one may be). */
function redisStore(env: Env, timeoutMs: number, production: boolean): RedisStoreConfig | undefined {
  const url = nonEmpty(env, "REDIS_URL");
  const sentinels = nonEmpty(env, "REDIS_SENTINELS");
  const clusterNodes = nonEmpty(env, "REDIS_CLUSTER_NODES");
  const set = [url && "REDIS_URL", sentinels && "REDIS_SENTINELS", clusterNodes && "REDIS_CLUSTER_NODES"].filter(Boolean);
  if (set.length > 1) throw new ConfigError(`${set.join(" and ")}: set one Redis topology, not ${set.length}`);
  const password = nonEmpty(env, "REDIS_PASSWORD");
  const tls = boolean(env, "REDIS_TLS", false);
  let topology: RedisTopology;
  if (url !== undefined) {
    // Not echoed: a URL may hold a password.
    if (!/^rediss?:\/\//.test(url)) throw new ConfigError("REDIS_URL: expected redis://[user:password@]host:port or rediss://...");
    topology = { mode: "single", url };
  } else if (sentinels !== undefined) {
    const masterName = nonEmpty(env, "REDIS_SENTINEL_MASTER");
    if (masterName === undefined)
      throw new ConfigError("REDIS_SENTINEL_MASTER: required with REDIS_SENTINELS (the name Sentinel monitors the master by)");
    const sentinelPassword = nonEmpty(env, "REDIS_SENTINEL_PASSWORD");
    topology = {
      mode: "sentinel",
      sentinels: hostPorts("REDIS_SENTINELS", sentinels),
      masterName,
      ...(password === undefined ? {} : { password }),
      ...(sentinelPassword === undefined ? {} : { sentinelPassword }),
      tls,
    };
  } else if (clusterNodes !== undefined) {
    topology = {
      mode: "cluster",
      nodes: hostPorts("REDIS_CLUSTER_NODES", clusterNodes),
      ...(password === undefined ? {} : { password }),
      tls,
    };
  } else {
    return undefined;
  }
  const keyPrefix = env.REDIS_KEY_PREFIX ?? "tbl:";
  if (topology.mode === "cluster" && /[{}]/.test(keyPrefix)) {
    throw new ConfigError("REDIS_KEY_PREFIX: no braces with REDIS_CLUSTER_NODES (the service puts its own hash tags after the prefix)");
  }
  const waitReplicas = integer(env, "REDIS_WAIT_REPLICAS", 0, 0, 16);
  // Half the store deadline by default: the rest is for the write itself and the answer.
  const waitTimeoutMs = integer(env, "REDIS_WAIT_TIMEOUT_MS", Math.max(1, Math.floor(timeoutMs / 2)), 1, 60_000);
  if (waitReplicas > 0 && waitTimeoutMs >= timeoutMs) {
    throw new ConfigError(`REDIS_WAIT_TIMEOUT_MS: must be below STORE_TIMEOUT_MS (${timeoutMs}), which bounds the whole write`);
  }
  return {
    kind: "redis",
    topology,
    keyPrefix,
    timeoutMs,
    historyMaxEvents: integer(env, "HISTORY_MAX_EVENTS", 100_000, 1, 100_000_000),
    // A Redis that keeps nothing on disk forgets every revocation when it restarts: refused in production.
    requirePersistence: boolean(env, "REDIS_REQUIRE_PERSISTENCE", production),
    waitReplicas,
    waitTimeoutMs,
  };
}

/** `host:port,host:port` (IPv6 as `[::1]:port`). */
function hostPorts(name: string, value: string): HostPort[] {
  return value.split(",").map((item) => {
    const match = /^\s*(\[[0-9a-fA-F:.]+\]|[^\s:,[\]]+):(\d{1,5})\s*$/.exec(item);
    const port = match === null ? Number.NaN : Number(match[2]);
    if (match === null || port < 1 || port > 65535) throw new ConfigError(`${name}: "${item.trim()}" is not host:port`);
    return { host: match[1]!.replace(/^\[(.*)\]$/, "$1"), port };
  });
}

/** `OAUTH_CLIENTS=client_id:secret,...`; in production each secret is as long as ADMIN_KEY must be. */
function oauthClients(env: Env, production: boolean): Map<string, string> {
  const clients = new Map<string, string>();
  for (const item of list(env, "OAUTH_CLIENTS") ?? []) {
    const colon = item.indexOf(":");
    const id = colon < 0 ? "" : item.slice(0, colon);
    const secret = colon < 0 ? "" : item.slice(colon + 1);
    // Never echo the item: it holds a secret.
    if (!/^[\x21-\x39\x3b-\x7e]+$/.test(id) || secret === "") {
      throw new ConfigError(`OAUTH_CLIENTS: item ${clients.size + 1} is not client_id:secret (printable ASCII, no spaces)`);
    }
    if (clients.has(id)) throw new ConfigError(`OAUTH_CLIENTS: client_id "${id}" appears twice`);
    if (production && secret.length < MIN_PRODUCTION_ADMIN_KEY_CHARS) {
      throw new ConfigError(
        `OAUTH_CLIENTS: NODE_ENV=production needs secrets of at least ${MIN_PRODUCTION_ADMIN_KEY_CHARS} characters ("${id}")`,
      );
    }
    clients.set(id, secret);
  }
  return clients;
}

function tlsFiles(env: Env): Config["tls"] {
  const certFile = nonEmpty(env, "TLS_CERT_FILE");
  const keyFile = nonEmpty(env, "TLS_KEY_FILE");
  if ((certFile === undefined) !== (keyFile === undefined)) {
    throw new ConfigError("TLS_CERT_FILE and TLS_KEY_FILE: set both to serve TLS, or neither");
  }
  return certFile === undefined || keyFile === undefined ? undefined : { certFile, keyFile };
}

function corsOrigins(env: Env): string[] {
  const origins = list(env, "CORS_ORIGINS") ?? [];
  for (const origin of origins) {
    if (origin !== "*" && !/^https?:\/\/[^/\s]+$/.test(origin)) {
      throw new ConfigError(`CORS_ORIGINS: "${origin}" is not an origin like https://app.example.com (no path), or *`);
    }
  }
  return origins;
}

function keyAndAlgorithms(env: Env): Pick<JwtConfig, "key" | "algorithms"> {
  const production = env.NODE_ENV === "production";
  const publicKeyFile = nonEmpty(env, "JWT_PUBLIC_KEY_FILE");
  const jwksUrl = nonEmpty(env, "JWT_JWKS_URL");
  if (publicKeyFile !== undefined && jwksUrl !== undefined) {
    throw new ConfigError("JWT_PUBLIC_KEY_FILE and JWT_JWKS_URL: set one, not both");
  }
  const asymmetric = publicKeyFile !== undefined || jwksUrl !== undefined;
  const source = publicKeyFile !== undefined ? "JWT_PUBLIC_KEY_FILE" : "JWT_JWKS_URL";
  const allowed: readonly string[] = asymmetric ? ASYMMETRIC_ALGORITHMS : SYMMETRIC_ALGORITHMS;
  const algorithms = list(env, "JWT_ALGORITHMS") ?? [asymmetric ? "RS256" : "HS256"];
  for (const alg of algorithms) {
    if (allowed.includes(alg)) continue;
    if ((ASYMMETRIC_ALGORITHMS as readonly string[]).includes(alg)) {
      throw new ConfigError(`JWT_ALGORITHMS: ${alg} needs a public key: set JWT_PUBLIC_KEY_FILE or JWT_JWKS_URL`);
    }
    if ((SYMMETRIC_ALGORITHMS as readonly string[]).includes(alg)) {
      throw new ConfigError(
        `JWT_ALGORITHMS: ${alg} is an HMAC algorithm and ${source} is set; HMAC and public keys never mix (algorithm confusion)`,
      );
    }
    throw new ConfigError(`JWT_ALGORITHMS: "${alg}" is not supported; choose from ${allowed.join(", ")}`);
  }
  if (algorithms.length === 0) throw new ConfigError("JWT_ALGORITHMS: name at least one algorithm");

  if (publicKeyFile !== undefined) return { key: { kind: "public-key-file", path: publicKeyFile }, algorithms: algorithms as Algorithm[] };
  if (jwksUrl !== undefined) {
    if (!/^https?:\/\//.test(jwksUrl)) throw new ConfigError(`JWT_JWKS_URL: expected an http(s) URL, got ${safeUrl(jwksUrl)}`);
    return {
      key: {
        kind: "jwks",
        url: jwksUrl,
        refreshSeconds: integer(env, "JWT_JWKS_REFRESH_SECONDS", 600, 1, 86400),
        minRefetchSeconds: integer(env, "JWT_JWKS_MIN_REFETCH_SECONDS", 30, 0, 3600),
      },
      algorithms: algorithms as Algorithm[],
    };
  }
  const secret = nonEmpty(env, "JWT_SECRET") ?? DEFAULT_JWT_SECRET;
  if (production && secret === DEFAULT_JWT_SECRET) {
    throw new ConfigError(
      "JWT_SECRET: NODE_ENV=production refuses the default secret; set JWT_SECRET to the secret your issuer signs with",
    );
  }
  return { key: { kind: "secret", secret }, algorithms: algorithms as Algorithm[] };
}
