import type { JwtConfig } from "../config.js";
import { fingerprint } from "./fingerprint.js";
import { decodeObject, parseCompactJws, verifySignature } from "./jws.js";
import type { KeySource, TokenHeader } from "./key-source.js";
import { TokenRejected } from "./token-rejected.js";
import { VerifiedTokenCache } from "./verified-cache.js";
import { issuedAtMs, revocationExpiresAtMs, validFromMs, validUntilMs } from "./validity.js";

/** Claims of a verified token; `exp` is always present. Frozen, nested values too: remembered tokens share them (see {@link freezeClaims}). */
export type Claims = Record<string, unknown> & { exp: number };

/** Freezes claims and every object and array in them, so every holder of a verified token sees the same claims. */
export function freezeClaims<T>(value: T): T {
  if (typeof value === "object" && value !== null && !Object.isFrozen(value)) {
    Object.freeze(value);
    for (const child of Object.values(value)) freezeClaims(child);
  }
  return value;
}

/** A token that passed every check, with what the store needs to know. */
export interface VerifiedToken {
  token: string;
  claims: Claims;
  /** See {@link fingerprint}. */
  fingerprint: string;
  /** When a revocation of this token may be forgotten: after the last instant it verifies (see validity.ts). */
  revocationExpiresAtMs: number;
  /** `iss` ("" without one: the verifier only lets it through when no issuer is required). */
  issuer: string;
  /** `jti` as text, when the token has a string or numeric one. */
  jti: string | undefined;
  /** `sub` as text, when the token has a string or numeric one. */
  subject: string | undefined;
  /** `iat` in whole epoch ms, keeping a fractional `iat`'s milliseconds; 0 (the epoch) without `iat`. */
  issuedAtMs: number;
}

/**
 * Checks a bearer token: allowed algorithm, signature, issuer, audience,
 * expiry, not-before and the configured extra rules. Rejections are
 * `TokenRejected` with a reason and a message safe to send; nothing here
 * touches a store, so unverified claims never reach one.
 */
export type Verifier = (token: string) => Promise<VerifiedToken>;

/** Latest `exp` accepted: the end of year 9999. Larger values are nonsense, or an attack on TTL arithmetic. */
const MAX_EXP_SECONDS = 253_402_300_799;

/**
 * Deepest nesting of claims accepted. Claims are returned as a
 * google.protobuf.Struct, and protobuf decoders stop at about 100 message
 * levels (3 per JSON level): deeper claims would make every client fail to
 * read the response.
 */
const MAX_CLAIM_DEPTH = 20;

/** Whether any claim is an object or array: most tokens' claims are flat, and need no walk. */
function hasNestedValues(claims: Record<string, unknown>): boolean {
  for (const key in claims) {
    const value = claims[key];
    if (typeof value === "object" && value !== null) return true;
  }
  return false;
}

function nestingExceeds(value: unknown, depthLeft: number): boolean {
  if (typeof value !== "object" || value === null) return false;
  if (depthLeft === 0) return true;
  for (const child of Array.isArray(value) ? value : Object.values(value)) {
    if (nestingExceeds(child, depthLeft - 1)) return true;
  }
  return false;
}

/** What the verifier needs of the configuration. */
export type VerifierOptions = Omit<JwtConfig, "key" | "maxTokenBytes">;

/**
 * Builds a verifier over a key source. With `options.cacheSize` above 0, a
 * token that verified is remembered (see {@link VerifiedTokenCache}) and
 * answered from memory while it is within its validity window.
 */
export function createVerifier(options: VerifierOptions, keys: KeySource): Verifier {
  const allowed = new Set<string>(options.algorithms);
  const audiences = options.audience === undefined ? undefined : new Set(options.audience);
  const toleranceMs = options.clockToleranceSeconds * 1000;
  const malformedTime = () => new TokenRejected("TOKEN_MALFORMED", "Token has a malformed exp, iat or nbf claim: they must be numbers");
  const cache = options.cacheSize > 0 ? new VerifiedTokenCache(options.cacheSize) : undefined;

  return (token) => {
    try {
      let remember: Remembering | undefined;
      if (cache !== undefined) {
        const key = cache.keyOf(token);
        const keysVersion = keys.version;
        const known = cache.get(key, token, keysVersion, Date.now());
        if (known !== undefined) return Promise.resolve(known);
        remember = { cache, key, keysVersion };
      }
      const jws = parseCompactJws(token);
      const header = headerOf(jws.header);
      if (!allowed.has(header.alg)) {
        throw new TokenRejected(
          "ALGORITHM_NOT_ALLOWED",
          header.alg.toLowerCase() === "none"
            ? `Token is unsigned (alg none): accepted are ${options.algorithms.join(", ")}`
            : `Token algorithm is not allowed: accepted are ${options.algorithms.join(", ")}`,
        );
      }
      const key = keys.keyFor(header);
      // Most key sources answer synchronously; only a JWKS refetch is awaited.
      if (key instanceof Promise) {
        return key.then((k) => {
          verifySignature(header.alg, k, jws);
          return checkClaims(token, decodeObject(jws.payload), remember);
        });
      }
      verifySignature(header.alg, key, jws);
      return Promise.resolve(checkClaims(token, decodeObject(jws.payload), remember));
    } catch (err) {
      return Promise.reject(err);
    }
  };

  /**
   * The claim rules, in the order a caller can fix them: shape, time, issuer,
   * audience, then the configured extras. A token that passes is remembered
   * when `remember` says where.
   */
  function checkClaims(token: string, claims: Record<string, unknown>, remember: Remembering | undefined): VerifiedToken {
    const { exp, nbf, iat } = claims;
    if (exp === undefined) throw new TokenRejected("CLAIM_MISSING", "Token has no exp claim: tokens without an expiry are not accepted");
    if (typeof exp !== "number" || (nbf !== undefined && typeof nbf !== "number") || (iat !== undefined && typeof iat !== "number")) {
      throw malformedTime();
    }
    if (!Number.isFinite(exp) || exp > MAX_EXP_SECONDS) {
      throw new TokenRejected("TOKEN_MALFORMED", "Token exp is out of range: it must be a number of seconds before year 10000");
    }
    if ((nbf !== undefined && !Number.isFinite(nbf)) || (iat !== undefined && !Number.isFinite(iat))) throw malformedTime();
    const now = Date.now();
    if (now >= validUntilMs(exp, toleranceMs)) throw new TokenRejected("TOKEN_EXPIRED", "Token has expired");
    if (nbf !== undefined && now < validFromMs(nbf, toleranceMs))
      throw new TokenRejected("TOKEN_NOT_YET_VALID", "Token is not valid yet (nbf)");
    if (iat !== undefined && iat * 1000 > now + toleranceMs) throw new TokenRejected("TOKEN_NOT_YET_VALID", "Token iat is in the future");
    if (claims.iss !== options.issuer) throw new TokenRejected("ISSUER_INVALID", `Token issuer is not ${options.issuer}`);
    if (audiences !== undefined && !audienceMatches(claims.aud, audiences)) {
      throw new TokenRejected("AUDIENCE_INVALID", `Token audience is not ${options.audience!.join(" or ")}`);
    }
    if (hasNestedValues(claims) && nestingExceeds(claims, MAX_CLAIM_DEPTH)) {
      throw new TokenRejected("TOKEN_MALFORMED", `Token claims are nested more than ${MAX_CLAIM_DEPTH} levels deep`);
    }
    for (const name of options.requiredClaims) {
      if (claims[name] === undefined) throw new TokenRejected("CLAIM_MISSING", `Token lacks the required claim ${name}`);
    }
    if (options.maxLifetimeSeconds !== undefined) {
      // A limit is only a limit on tokens that say when they were issued.
      if (iat === undefined) {
        throw new TokenRejected(
          "CLAIM_MISSING",
          `Token has no iat claim: it is required while token lifetime is limited (JWT_MAX_LIFETIME_SECONDS=${options.maxLifetimeSeconds})`,
        );
      }
      if (exp - iat > options.maxLifetimeSeconds) {
        throw new TokenRejected("LIFETIME_EXCEEDED", `Token lifetime exceeds the allowed ${options.maxLifetimeSeconds} seconds`);
      }
    }
    const verified: VerifiedToken = {
      token,
      claims: freezeClaims(claims) as Claims,
      fingerprint: fingerprint(token),
      revocationExpiresAtMs: revocationExpiresAtMs(exp, toleranceMs),
      issuer: typeof claims.iss === "string" ? claims.iss : "",
      jti: claimText(claims.jti),
      subject: claimText(claims.sub),
      issuedAtMs: issuedAtMs(iat as number | undefined),
    };
    if (remember !== undefined) {
      // The window the time rules above accept it in: from nbf and iat (less the tolerance) until exp (plus it).
      const from = Math.max(
        nbf === undefined ? -Infinity : validFromMs(nbf, toleranceMs),
        iat === undefined ? -Infinity : iat * 1000 - toleranceMs,
      );
      remember.cache.set(remember.key, verified, remember.keysVersion, from, validUntilMs(exp, toleranceMs));
    }
    return verified;
  }
}

/** Where a token being verified is to be remembered: the cache, its key there, and the keys' version when verification began. */
interface Remembering {
  cache: VerifiedTokenCache;
  key: string;
  keysVersion: number;
}

/** `aud` is a string or an array of strings (RFC 7519 4.1.3); one of them must be accepted. */
function audienceMatches(aud: unknown, accepted: ReadonlySet<string>): boolean {
  if (typeof aud === "string") return accepted.has(aud);
  return Array.isArray(aud) && aud.some((value) => typeof value === "string" && accepted.has(value));
}

/** A string claim, or a number one as its decimal text (some issuers write numeric `sub`); otherwise undefined. */
function claimText(value: unknown): string | undefined {
  if (typeof value === "string") return value === "" ? undefined : value;
  if (typeof value === "number" && Number.isFinite(value)) return String(value);
  return undefined;
}

/** Reads the JOSE header without trusting it: only to pick the algorithm check and the key. */
function headerOf(header: Record<string, unknown>): TokenHeader {
  const { alg, kid, crit } = header;
  if (typeof alg !== "string") throw new TokenRejected("TOKEN_MALFORMED", "Token header has no alg");
  if (kid !== undefined && typeof kid !== "string") throw new TokenRejected("TOKEN_MALFORMED", "Token header kid must be a string");
  if (crit !== undefined) {
    throw new TokenRejected("TOKEN_MALFORMED", "Token header lists critical extensions (crit) this service does not support");
  }
  return { alg, kid };
}
