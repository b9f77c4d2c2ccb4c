/**
 * Environment -> typed, validated configuration, parsed once at start-up.
 * A bad value stops start-up with a message that names the variable.
 */

/** The HMAC algorithms this service can verify. */
export const SUPPORTED_ALGORITHMS = ["HS256", "HS384", "HS512"] as const;
/** One of {@link SUPPORTED_ALGORITHMS}. */
export type Algorithm = (typeof SUPPORTED_ALGORITHMS)[number];

/** The original service's secret: fine for trying it out, refused in production. */
export const DEFAULT_JWT_SECRET = "discogs";
/** The original service's issuer. */
export const DEFAULT_JWT_ISSUER = "https://www.discogs.com/";

/** Everything the service reads from its environment. */
export interface Config {
  /** TCP port for every protocol (gRPC, gRPC-Web, Connect, REST). */
  port: number;
  /** Interface to bind; undefined binds every interface, as Node does. */
  host: string | undefined;
  jwt: {
    secret: string;
    issuer: string;
    /** Allow-list: a token whose `alg` is not here is refused. */
    algorithms: Algorithm[];
    /** Leeway for `exp` against clock skew between issuer and us. */
    clockToleranceSeconds: number;
    /** Longer bearer tokens are refused before any parsing. */
    maxTokenBytes: number;
  };
  /** Operator key for Unblacklist; undefined disables operator actions. */
  adminKey: string | undefined;
  store:
    | { kind: "redis"; url: string; keyPrefix: string; timeoutMs: number }
    | { kind: "sqlite"; path: string; timeoutMs: number };
}

/** A configuration problem, reported at start-up instead of a stack trace. */
export class ConfigError extends Error {
  override name = "ConfigError";
}

type Env = Readonly<Record<string, string | undefined>>;

/** Reads and validates the configuration from `env` (normally `process.env`). */
export function loadConfig(env: Env = process.env): Config {
  const production = env.NODE_ENV === "production";
  const secret = nonEmpty(env, "JWT_SECRET") ?? DEFAULT_JWT_SECRET;
  if (production && secret === DEFAULT_JWT_SECRET) {
    throw new ConfigError(
      "JWT_SECRET: NODE_ENV=production refuses the default secret; set JWT_SECRET to the secret your issuer signs with",
    );
  }
  const timeoutMs = integer(env, "STORE_TIMEOUT_MS", 500, 1, 60_000);
  const redisUrl = nonEmpty(env, "REDIS_URL");
  if (redisUrl !== undefined && !/^rediss?:\/\//.test(redisUrl)) {
    throw new ConfigError(`REDIS_URL: expected redis://host:port or rediss://..., got "${redisUrl}"`);
  }
  return {
    port: integer(env, "PORT", 35000, 0, 65535),
    host: nonEmpty(env, "HOST"),
    jwt: {
      secret,
      issuer: nonEmpty(env, "JWT_ISSUER") ?? DEFAULT_JWT_ISSUER,
      algorithms: algorithms(env),
      clockToleranceSeconds: integer(env, "JWT_CLOCK_TOLERANCE_SECONDS", 5, 0, 3600),
      maxTokenBytes: integer(env, "MAX_TOKEN_BYTES", 8192, 64, 65536),
    },
    adminKey: nonEmpty(env, "ADMIN_KEY"),
    store:
      redisUrl !== undefined
        ? { kind: "redis", url: redisUrl, keyPrefix: env.REDIS_KEY_PREFIX ?? "tbl:", timeoutMs }
        : { kind: "sqlite", path: nonEmpty(env, "SQLITE_PATH") ?? "./data/tokens.db", timeoutMs },
  };
}

function nonEmpty(env: Env, name: string): string | undefined {
  const value = env[name];
  return value === undefined || value.trim() === "" ? undefined : value;
}

function integer(env: Env, name: string, fallback: number, min: number, max: number): number {
  const raw = nonEmpty(env, name);
  if (raw === undefined) return fallback;
  if (!/^\d+$/.test(raw.trim())) {
    throw new ConfigError(`${name}: expected a whole number from ${min} to ${max}, got "${raw}"`);
  }
  const value = Number(raw.trim());
  if (value < min || value > max) {
    throw new ConfigError(`${name}: expected a whole number from ${min} to ${max}, got ${value}`);
  }
  return value;
}

function algorithms(env: Env): Algorithm[] {
  const raw = nonEmpty(env, "JWT_ALGORITHMS");
  if (raw === undefined) return ["HS256"];
  const list = raw.split(",").map((a) => a.trim()).filter((a) => a !== "");
  for (const alg of list) {
    if (!(SUPPORTED_ALGORITHMS as readonly string[]).includes(alg)) {
      throw new ConfigError(
        `JWT_ALGORITHMS: "${alg}" is not supported; choose from ${SUPPORTED_ALGORITHMS.join(", ")}`,
      );
    }
  }
  if (list.length === 0) throw new ConfigError("JWT_ALGORITHMS: name at least one algorithm");
  return list as Algorithm[];
}
