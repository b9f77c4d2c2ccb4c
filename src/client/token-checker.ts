import { type Client, Code, ConnectError, createClient, type Transport } from "@connectrpc/connect";
import { createConnectTransport } from "@connectrpc/connect-node";
import { TokenService } from "../../gen/tokens/v1/token_service_pb.js";
import { ConfigError, loadJwtConfig } from "../config.js";
import type { KeySource } from "../jwt/key-source.js";
import { parseBearer } from "../jwt/bearer.js";
import { openKeySource } from "../jwt/open-key-source.js";
import { TokenRejected } from "../jwt/token-rejected.js";
import { type Claims, createVerifier, freezeClaims, type Verifier } from "../jwt/verifier.js";
import { createAuthentication } from "../service/authentication.js";
import { tokenRevoked } from "../service/revocation-view.js";
import { keysOf } from "../service/store-calls.js";
import { FeedSubscriber, type FeedState } from "./feed-subscriber.js";
import { ErrorReason, errorInfoOf, refusal, tokenRefused } from "../service/error-reasons.js";

/** The token rules: the service's JWT_* settings, under the same names in camelCase. */
export interface TokenCheckerJwtOptions {
  /** JWT_SECRET: the HMAC secret (HS256/384/512). Set one of secret, publicKeyFile and jwksUrl. */
  secret?: string;
  /** JWT_PUBLIC_KEY_FILE: a PEM public key or certificate. */
  publicKeyFile?: string;
  /** JWT_JWKS_URL: a JWKS endpoint. */
  jwksUrl?: string;
  /** JWT_ISSUER: required. */
  issuer: string;
  /** JWT_AUDIENCE */
  audience?: string | string[];
  /** JWT_ALGORITHMS: default HS256 with a secret, RS256 with a public key. */
  algorithms?: string[];
  /** JWT_REQUIRED_CLAIMS */
  requiredClaims?: string[];
  /** JWT_MAX_LIFETIME_SECONDS */
  maxLifetimeSeconds?: number;
  /** JWT_CLOCK_TOLERANCE_SECONDS (default 5) */
  clockToleranceSeconds?: number;
  /** MAX_TOKEN_BYTES (default 8192) */
  maxTokenBytes?: number;
  /** JWT_CACHE_SIZE (default 10,000; 0 turns it off): verified tokens remembered, so one checked again skips its signature. */
  cacheSize?: number;
}

/** Options for {@link createTokenChecker}. */
export interface TokenCheckerOptions {
  /** The service, e.g. `http://token-blacklist:35000`. */
  baseUrl: string;
  /** The service's FEED_KEY (or ADMIN_KEY). */
  feedKey: string;
  jwt: TokenCheckerJwtOptions;
  /** How stale the mirror may be before `check` stops trusting it (default 10,000 ms). */
  maxStalenessMs?: number;
  /** Past `maxStalenessMs` (or before the first snapshot): "fail-closed" (default) answers unavailable; "ask-service" calls Info. */
  whenStale?: "fail-closed" | "ask-service";
  /** The transport to the service; default: Connect over HTTP/2 (h2c for http://). */
  transport?: Transport;
  /** Told whenever the feed's state changes, with the mirror's staleness: for a metric or a log. */
  onFeedState?: (state: FeedState & { stalenessMs: number }) => void;
}

/** A verdict: as Info answers, decided in this process. */
export type CheckResult =
  | { valid: true; claims: Claims; fingerprint: string; info: string }
  | {
      valid: false;
      /** "unauthenticated": invalid, expired or revoked (HTTP 401); "unavailable": cannot tell now, retry (HTTP 503). */
      code: "unauthenticated" | "unavailable";
      /** The message Info would send. */
      message: string;
      /** The ErrorReason name Info would send (`TOKEN_REVOKED`, `TOKEN_EXPIRED`, ...; `REVOCATIONS_STALE` when the mirror is too old). */
      reason: string;
      /** The ErrorInfo metadata Info would send (`scope` of a revoked token). */
      metadata: Record<string, string>;
    };

/** The verdict a refusal stands for. */
function refused(error: ConnectError): CheckResult {
  const { reason, metadata } = errorInfoOf(error);
  const code = error.code === Code.Unauthenticated ? "unauthenticated" : "unavailable";
  return { valid: false, code, message: error.rawMessage, reason, metadata };
}

/** The refusal a negative verdict stands for, as Info sent it (its reason kept, known to this version or not): what the adapters answer. */
export function refusalOf(verdict: Extract<CheckResult, { valid: false }>): ConnectError {
  const code = verdict.code === "unavailable" ? Code.Unavailable : Code.Unauthenticated;
  return refusal(code, verdict.reason, verdict.message, verdict.metadata);
}

/** Checks tokens in-process against a mirror of the service's revocations. */
export interface TokenChecker {
  /** Verifies `token` (the JWT, without "Bearer ") and checks it against the mirror. */
  check(token: string): Promise<CheckResult>;
  /** The same for an `Authorization` header value (`Bearer <jwt>`); a missing or malformed header is unauthenticated, as on Info. */
  checkBearer(authorization: string | null | undefined): Promise<CheckResult>;
  /** Resolves once the first snapshot is loaded. */
  ready(): Promise<void>;
  /** Milliseconds since the mirror last held every change the service had; Infinity before the first snapshot. */
  stalenessMs(): number;
  /** Entries the mirror holds. */
  readonly size: number;
  /** Stops the feed and the key refreshes. */
  close(): Promise<void>;
}

/**
 * Creates a checker: it verifies tokens with the service's own verifier and
 * checks them against an in-memory mirror kept by WatchRevocations. While
 * the feed is down longer than `maxStalenessMs`, `check` fails closed (or
 * asks the service, with `whenStale: "ask-service"`).
 */
export async function createTokenChecker(options: TokenCheckerOptions): Promise<TokenChecker> {
  const jwt = jwtConfigOf(options.jwt);
  const keys: KeySource = await openKeySource(jwt.key);
  const { verify } = createAuthentication({ verifier: createVerifier(jwt, keys), adminKey: undefined, maxTokenBytes: jwt.maxTokenBytes });
  const maxStalenessMs = options.maxStalenessMs ?? 10_000;
  const transport = options.transport ?? createConnectTransport({ baseUrl: options.baseUrl, httpVersion: "2" });
  const client: Client<typeof TokenService> = createClient(TokenService, transport);
  const staleness = () => (feed.state.freshAtMs === undefined ? Number.POSITIVE_INFINITY : Math.max(0, Date.now() - feed.state.freshAtMs));
  const feed = new FeedSubscriber({
    client,
    feedKey: options.feedKey,
    onState: options.onFeedState === undefined ? undefined : (state) => options.onFeedState!({ ...state, stalenessMs: staleness() }),
  });

  const askService = async (token: string): Promise<CheckResult> => {
    try {
      const answer = await client.info({}, { headers: { authorization: `Bearer ${token}` } });
      return { valid: true, claims: freezeClaims(answer.decodedToken as unknown as Claims), fingerprint: "", info: answer.info };
    } catch (err) {
      return refused(ConnectError.from(err));
    }
  };

  const checker: TokenChecker = {
    async checkBearer(authorization) {
      let token: string;
      try {
        token = parseBearer(authorization, jwt.maxTokenBytes);
      } catch (err) {
        if (err instanceof TokenRejected) return refused(tokenRefused(err));
        throw err;
      }
      return checker.check(token);
    },
    async check(token) {
      let verified: Awaited<ReturnType<Verifier>>;
      try {
        verified = await verify(token); // the service's own check of a token given as an argument
      } catch (err) {
        if (err instanceof TokenRejected) return refused(tokenRefused(err));
        if (err instanceof ConnectError && err.code === Code.Unavailable) return refused(err);
        throw err;
      }
      const stale = staleness();
      if (stale > maxStalenessMs) {
        if (options.whenStale === "ask-service") return askService(token);
        const message =
          stale === Number.POSITIVE_INFINITY
            ? "Revocation mirror is not loaded yet; retry later"
            : `Revocation mirror is stale (${Math.round(stale)} ms behind, limit ${maxStalenessMs} ms); retry later`;
        return refused(refusal(Code.Unavailable, ErrorReason.REVOCATIONS_STALE, message));
      }
      const match = feed.set.check(keysOf(verified));
      if (match !== undefined) return refused(tokenRevoked(match));
      return { valid: true, claims: verified.claims, fingerprint: verified.fingerprint, info: "Token is valid" };
    },
    ready: () => feed.synced(),
    stalenessMs: staleness,
    get size() {
      return feed.set.size;
    },
    async close() {
      await feed.close();
      keys.close();
    },
  };
  return checker;
}

/** The service's JwtConfig for the checker's options, validated by the service's own rules. */
function jwtConfigOf(jwt: TokenCheckerJwtOptions) {
  const sources = [jwt.secret, jwt.publicKeyFile, jwt.jwksUrl].filter((value) => value !== undefined);
  if (sources.length !== 1) throw new ConfigError("jwt: set exactly one of secret, publicKeyFile and jwksUrl");
  if (jwt.issuer === undefined || jwt.issuer === "") throw new ConfigError("jwt.issuer: required");
  const list = (value: string | string[] | undefined) => (value === undefined ? undefined : [value].flat().join(","));
  const number = (value: number | undefined) => (value === undefined ? undefined : String(value));
  return loadJwtConfig({
    JWT_SECRET: jwt.secret,
    JWT_PUBLIC_KEY_FILE: jwt.publicKeyFile,
    JWT_JWKS_URL: jwt.jwksUrl,
    JWT_ISSUER: jwt.issuer,
    JWT_AUDIENCE: list(jwt.audience),
    JWT_ALGORITHMS: list(jwt.algorithms),
    JWT_REQUIRED_CLAIMS: list(jwt.requiredClaims),
    JWT_MAX_LIFETIME_SECONDS: number(jwt.maxLifetimeSeconds),
    JWT_CLOCK_TOLERANCE_SECONDS: number(jwt.clockToleranceSeconds),
    MAX_TOKEN_BYTES: number(jwt.maxTokenBytes),
    JWT_CACHE_SIZE: number(jwt.cacheSize),
  });
}
