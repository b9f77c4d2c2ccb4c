import type { KeyObject } from "node:crypto";
import jwt from "jsonwebtoken";
import type { JwtConfig } from "../config.js";
import { fingerprint } from "./fingerprint.js";
import type { KeySource, TokenHeader } from "./key-source.js";
import { TokenRejected } from "./token-rejected.js";

/** Claims of a verified token; `exp` is always present. */
export type Claims = Record<string, unknown> & { exp: number };

/** A token that passed every check, with what the store needs to know. */
export interface VerifiedToken {
  token: string;
  claims: Claims;
  /** See {@link fingerprint}. */
  fingerprint: string;
  /** When a revocation of this token may be forgotten: `exp` plus the clock tolerance. */
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
 * `TokenRejected` with a message safe to send; nothing here touches a store,
 * so unverified claims never reach one.
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

/** Builds a verifier over a key source. */
export function createVerifier(options: VerifierOptions, keys: KeySource): Verifier {
  const allowed = new Set<string>(options.algorithms);
  const verifyOptions: jwt.VerifyOptions & { complete?: false } = {
    algorithms: options.algorithms,
    issuer: options.issuer,
    clockTolerance: options.clockToleranceSeconds,
  };
  if (options.audience !== undefined) verifyOptions.audience = options.audience as [string, ...string[]];
  const toleranceMs = options.clockToleranceSeconds * 1000;

  return (token) => {
    try {
      const header = parseHeader(token);
      if (!allowed.has(header.alg)) {
        throw new TokenRejected(
          header.alg.toLowerCase() === "none"
            ? `Token is unsigned (alg none): accepted are ${options.algorithms.join(", ")}`
            : `Token algorithm is not allowed: accepted are ${options.algorithms.join(", ")}`,
        );
      }
      const key = keys.keyFor(header);
      // Most key sources answer synchronously; only a JWKS refetch is awaited.
      if (key instanceof Promise) return key.then((k) => finish(token, k));
      return Promise.resolve(finish(token, key));
    } catch (err) {
      return Promise.reject(err);
    }
  };

  function finish(token: string, key: KeyObject): VerifiedToken {
    let payload: unknown;
    try {
      payload = jwt.verify(token, key, verifyOptions);
    } catch (err) {
      throw new TokenRejected(describe(err, options));
    }
    if (typeof payload !== "object" || payload === null || Array.isArray(payload)) {
      throw new TokenRejected("Token payload must be a JSON object");
    }
    const claims = payload as Record<string, unknown>;
    const exp = claims.exp;
    if (exp === undefined) throw new TokenRejected("Token has no exp claim: tokens without an expiry are not accepted");
    if (typeof exp !== "number" || !Number.isFinite(exp) || exp > MAX_EXP_SECONDS) {
      throw new TokenRejected("Token exp is out of range: it must be a number of seconds before year 10000");
    }
    if (claims.iat !== undefined && (typeof claims.iat !== "number" || !Number.isFinite(claims.iat))) {
      throw new TokenRejected("Token has a malformed exp, iat or nbf claim: they must be numbers");
    }
    if (nestingExceeds(claims, MAX_CLAIM_DEPTH)) {
      throw new TokenRejected(`Token claims are nested more than ${MAX_CLAIM_DEPTH} levels deep`);
    }
    for (const name of options.requiredClaims) {
      if (claims[name] === undefined) throw new TokenRejected(`Token lacks the required claim ${name}`);
    }
    const iat = claims.iat as number | undefined;
    if (iat !== undefined && iat * 1000 > Date.now() + toleranceMs) throw new TokenRejected("Token iat is in the future");
    if (options.maxLifetimeSeconds !== undefined) {
      // Without iat a token's lifetime is unbounded, and a jti or subject
      // revocation could expire while the token is still valid.
      if (iat === undefined) {
        throw new TokenRejected(
          `Token has no iat claim: it is required while token lifetime is limited (JWT_MAX_LIFETIME_SECONDS=${options.maxLifetimeSeconds})`,
        );
      }
      if (exp - iat > options.maxLifetimeSeconds) {
        throw new TokenRejected(`Token lifetime exceeds the allowed ${options.maxLifetimeSeconds} seconds`);
      }
    }
    return {
      token,
      claims: claims as Claims,
      fingerprint: fingerprint(token),
      revocationExpiresAtMs: exp * 1000 + toleranceMs,
      issuer: typeof claims.iss === "string" ? claims.iss : "",
      jti: claimText(claims.jti),
      subject: claimText(claims.sub),
      // Whole milliseconds, so `iat * 1000` float error cannot move a token across a cutoff.
      issuedAtMs: iat === undefined ? 0 : Math.round(iat * 1000),
    };
  }
}

/** A string claim, or a number one as its decimal text (some issuers write numeric `sub`); otherwise undefined. */
function claimText(value: unknown): string | undefined {
  if (typeof value === "string") return value === "" ? undefined : value;
  if (typeof value === "number" && Number.isFinite(value)) return String(value);
  return undefined;
}

const MALFORMED = "Token is malformed: expected a JWT (header.payload.signature)";

/** Reads the JOSE header without trusting it: only to pick the algorithm check and the key. */
function parseHeader(token: string): TokenHeader {
  const firstDot = token.indexOf(".");
  const lastDot = token.lastIndexOf(".");
  if (firstDot <= 0 || lastDot === firstDot || token.indexOf(".", firstDot + 1) !== lastDot) {
    throw new TokenRejected(MALFORMED);
  }
  const encoded = token.slice(0, firstDot);
  if (!/^[A-Za-z0-9_-]+$/.test(encoded)) throw new TokenRejected(MALFORMED);
  let header: unknown;
  try {
    header = JSON.parse(Buffer.from(encoded, "base64url").toString("utf8"));
  } catch {
    throw new TokenRejected(MALFORMED);
  }
  if (typeof header !== "object" || header === null || Array.isArray(header)) throw new TokenRejected(MALFORMED);
  const { alg, kid, crit } = header as Record<string, unknown>;
  if (typeof alg !== "string") throw new TokenRejected("Token header has no alg");
  if (kid !== undefined && typeof kid !== "string") throw new TokenRejected("Token header kid must be a string");
  if (crit !== undefined) {
    throw new TokenRejected("Token header lists critical extensions (crit) this service does not support");
  }
  return { alg, kid };
}

function describe(err: unknown, options: VerifierOptions): string {
  if (err instanceof jwt.TokenExpiredError) return "Token has expired";
  if (err instanceof jwt.NotBeforeError) return "Token is not valid yet (nbf)";
  if (err instanceof jwt.JsonWebTokenError) {
    const message = err.message;
    if (message === "invalid signature") return "Token signature is invalid";
    if (message === "jwt signature is required") return "Token signature is missing";
    if (message.startsWith("jwt issuer invalid")) return `Token issuer is not ${options.issuer}`;
    if (message.startsWith("jwt audience invalid")) return `Token audience is not ${options.audience?.join(" or ")}`;
    if (/^invalid (exp|iat|nbf) value|must be number/.test(message)) {
      return "Token has a malformed exp, iat or nbf claim: they must be numbers";
    }
    if (message.startsWith("secretOrPublicKey must be")) return "Token algorithm does not match the configured key";
    return MALFORMED;
  }
  // jsonwebtoken throws a plain Error when the key type cannot serve the alg.
  if (err instanceof Error && err.message.startsWith('"alg" parameter')) {
    return "Token algorithm does not match the configured key";
  }
  return MALFORMED;
}
