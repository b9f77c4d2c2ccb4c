import { createHash } from "node:crypto";
import type { VerifiedToken } from "./verifier.js";

/** What the cache keeps of a verified token: everything but the token itself, and the window it verifies in. */
interface Remembered {
  verified: Omit<VerifiedToken, "token">;
  /** The key source's `version` it was verified under: a key change forgets it. */
  keysVersion: number;
  /** It verifies while `validFromMs <= now < validUntilMs` (nbf, iat and exp, with the tolerance). */
  validFromMs: number;
  validUntilMs: number;
}

/**
 * Tokens that passed verification, so one presented again (a session calls
 * many APIs with one token) skips the signature, the JSON and the claim
 * rules. Kept by SHA-256 of the whole token, signature included: a token with
 * any byte changed is a miss and is verified in full, and the cache holds no
 * token, only that hash, the claims and the fingerprint. Time still counts on
 * every use (a remembered token past its `exp` is verified again, and refused
 * there with the usual message), and a change of keys (a JWKS refresh that
 * changed the set) forgets everything. Bounded: past `maxEntries` the oldest
 * entry goes.
 */
export class VerifiedTokenCache {
  private readonly entries = new Map<string, Remembered>();

  constructor(private readonly maxEntries: number) {}

  /** The cache key of a token. */
  keyOf(token: string): string {
    return createHash("sha256").update(token).digest("base64url");
  }

  /** The verified token remembered under `key`, for `token`, if it still verifies at `nowMs` under keys `keysVersion`. */
  get(key: string, token: string, keysVersion: number, nowMs: number): VerifiedToken | undefined {
    const entry = this.entries.get(key);
    if (entry === undefined) return undefined;
    if (entry.keysVersion !== keysVersion || nowMs < entry.validFromMs || nowMs >= entry.validUntilMs) {
      this.entries.delete(key);
      return undefined;
    }
    const { claims, fingerprint, revocationExpiresAtMs, issuer, jti, subject, issuedAtMs } = entry.verified;
    return { token, claims, fingerprint, revocationExpiresAtMs, issuer, jti, subject, issuedAtMs };
  }

  /** Remembers a token that just verified (its claims frozen: the verifier freezes every token's). */
  set(key: string, verified: VerifiedToken, keysVersion: number, validFromMs: number, validUntilMs: number): void {
    if (this.maxEntries === 0) return;
    if (this.entries.size >= this.maxEntries && !this.entries.has(key)) this.entries.delete(this.entries.keys().next().value!);
    const { token: _token, ...rest } = verified;
    this.entries.set(key, { verified: rest, keysVersion, validFromMs, validUntilMs });
  }

  /** Entries held. */
  get size(): number {
    return this.entries.size;
  }
}
