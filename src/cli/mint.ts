import { createSecretKey } from "node:crypto";
import { ConfigError, type JwtConfig } from "../config.js";
import { signHmac } from "../jwt/jws.js";

/** What `mint` puts in a development token. */
export interface MintOptions {
  sub: string;
  ttlSeconds: number;
  /** Extra claims; values that parse as JSON are used as such ("3" -> 3, "true" -> true). */
  claims: Record<string, unknown>;
}

/**
 * Signs a development token with the configured HMAC secret and issuer, so it
 * passes the service's checks. Refuses when the service verifies public keys:
 * minting those needs the issuer's private key, which this tool never holds.
 */
export function mintToken(config: JwtConfig, options: MintOptions): string {
  if (config.key.kind !== "secret") {
    throw new ConfigError("mint signs with JWT_SECRET; this configuration verifies public keys, so tokens must come from their issuer");
  }
  const algorithm = config.algorithms[0] as "HS256" | "HS384" | "HS512";
  const iat = Math.floor(Date.now() / 1000);
  const payload: Record<string, unknown> = { ...options.claims, sub: options.sub, iat, exp: iat + options.ttlSeconds, iss: config.issuer };
  if (config.audience !== undefined && payload.aud === undefined) payload.aud = config.audience[0];
  return signHmac(algorithm, createSecretKey(Buffer.from(config.key.secret, "utf8")), { typ: "JWT" }, payload);
}

/** Parses "3600", "90s", "15m", "12h" or "7d" into seconds. */
export function parseDuration(text: string): number {
  const match = /^(\d+)\s*([smhd]?)$/.exec(text.trim());
  if (match === null) throw new Error(`--ttl: expected a duration like 3600, 15m, 12h or 7d, got "${text}"`);
  const unit = { "": 1, s: 1, m: 60, h: 3600, d: 86400 }[match[2] as "" | "s" | "m" | "h" | "d"];
  const seconds = Number(match[1]) * unit;
  if (seconds <= 0) throw new Error("--ttl: must be positive");
  return seconds;
}

/** Parses repeated `--claim key=value` options. */
export function parseClaims(pairs: readonly string[]): Record<string, unknown> {
  const claims: Record<string, unknown> = {};
  for (const pair of pairs) {
    const eq = pair.indexOf("=");
    if (eq <= 0) throw new Error(`--claim: expected key=value, got "${pair}"`);
    const value = pair.slice(eq + 1);
    let parsed: unknown = value;
    try {
      parsed = JSON.parse(value);
    } catch {
      // a plain string
    }
    claims[pair.slice(0, eq)] = parsed;
  }
  return claims;
}
