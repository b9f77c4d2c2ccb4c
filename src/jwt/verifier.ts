import { createSecretKey, type KeyObject } from "node:crypto";
import jwt from "jsonwebtoken";
import type { Algorithm } from "../config.js";
import { fingerprint } from "./fingerprint.js";
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
}

/** What a token must satisfy. */
export interface VerifierOptions {
  secret: string;
  issuer: string;
  algorithms: Algorithm[];
  clockToleranceSeconds: number;
}

/** Checks signature, algorithm, issuer and expiry of a bearer token. */
export type Verifier = (token: string) => VerifiedToken;

/**
 * Builds a verifier. The HMAC key is made into a `KeyObject` once here:
 * verifying with a string secret costs about 50 times more per call.
 */
export function createVerifier(options: VerifierOptions): Verifier {
  const key: KeyObject = createSecretKey(Buffer.from(options.secret, "utf8"));
  const verifyOptions: jwt.VerifyOptions & { complete?: false } = {
    algorithms: options.algorithms,
    issuer: options.issuer,
    clockTolerance: options.clockToleranceSeconds,
  };
  const toleranceMs = options.clockToleranceSeconds * 1000;
  return (token) => {
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
    if (typeof claims.exp !== "number" || !Number.isFinite(claims.exp)) {
      throw new TokenRejected("Token has no exp claim: tokens without an expiry are not accepted");
    }
    return {
      token,
      claims: claims as Claims,
      fingerprint: fingerprint(token),
      revocationExpiresAtMs: claims.exp * 1000 + toleranceMs,
    };
  };
}

function describe(err: unknown, options: VerifierOptions): string {
  if (err instanceof jwt.TokenExpiredError) return "Token has expired";
  if (err instanceof jwt.NotBeforeError) return "Token is not valid yet (nbf)";
  if (err instanceof jwt.JsonWebTokenError) {
    const message = err.message;
    if (message === "invalid signature") return "Token signature is invalid";
    if (message === "invalid algorithm") {
      return `Token algorithm is not allowed: accepted are ${options.algorithms.join(", ")}`;
    }
    if (message.startsWith("jwt issuer invalid")) return `Token issuer is not ${options.issuer}`;
    if (message === "jwt signature is required") return "Token is unsigned: accepted are " + options.algorithms.join(", ");
    if (message.startsWith("invalid exp value") || message.startsWith("invalid iat value")) {
      return "Token has a malformed exp or iat claim: they must be numbers";
    }
    if (message === "jwt malformed" || message === "invalid token" || message.startsWith("Unexpected token")) {
      return "Token is malformed: expected a JWT (header.payload.signature)";
    }
    return "Token is invalid";
  }
  return "Token is malformed: expected a JWT (header.payload.signature)";
}
