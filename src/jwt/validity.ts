/**
 * The one rule for when a token is accepted, in whole milliseconds. The
 * verifier accepts a token exactly while `validFromMs <= now < validUntilMs`,
 * and a revocation of it is kept until `revocationExpiresAtMs`, which is later:
 * so no instant exists at which the verifier accepts a token whose
 * revocation is already gone, whatever fractions `exp` and `nbf` carry.
 */

/** Extra life for revocation entries beyond acceptance: covers the clock difference between this service and Redis, which expires keys by its own clock. */
export const REVOCATION_SLACK_MS = 1000;

/** First instant (epoch ms, exclusive) at which a token with this `exp` is refused. */
export function validUntilMs(exp: number, toleranceMs: number): number {
  return Math.ceil(exp * 1000) + toleranceMs;
}

/** First instant (epoch ms) at which a token with this `nbf` is accepted. */
export function validFromMs(nbf: number, toleranceMs: number): number {
  return Math.floor(nbf * 1000) - toleranceMs;
}

/** When a revocation of a token with this `exp` may be forgotten: after its last accepted instant, plus {@link REVOCATION_SLACK_MS}. */
export function revocationExpiresAtMs(exp: number, toleranceMs: number): number {
  return validUntilMs(exp, toleranceMs) + REVOCATION_SLACK_MS;
}

/** `iat` in whole epoch ms, rounded, so `iat * 1000` float error cannot move a token across a subject cutoff; 0 (the epoch) without `iat`. */
export function issuedAtMs(iat: number | undefined): number {
  return iat === undefined ? 0 : Math.round(iat * 1000);
}

/**
 * When a jti revocation made at `revokedAtMs` may be forgotten. A token
 * carrying that jti existed by then, so its `iat` is at most the revocation
 * plus the clock tolerance; with a lifetime limit it verifies at most
 * `maxLifetimeSeconds` (and the tolerance) after that. Without a limit, a
 * token may verify until year 9999: the entry is kept until lifted (undefined).
 */
export function jtiRevocationExpiresAtMs(
  revokedAtMs: number,
  maxLifetimeSeconds: number | undefined,
  toleranceMs: number,
): number | undefined {
  if (maxLifetimeSeconds === undefined) return undefined;
  return revokedAtMs + maxLifetimeSeconds * 1000 + 2 * toleranceMs + REVOCATION_SLACK_MS;
}

/**
 * When a subject cutoff may be forgotten: the tokens it revokes were issued
 * before `cutoffMs`, so with a lifetime limit the last of them stops
 * verifying `maxLifetimeSeconds` (and the tolerance) after it. Without a
 * limit (or for tokens without `iat`, which count as issued at the epoch and
 * so are revoked by every cutoff) nothing bounds them: kept until lifted.
 */
export function subjectRevocationExpiresAtMs(
  cutoffMs: number,
  maxLifetimeSeconds: number | undefined,
  toleranceMs: number,
): number | undefined {
  if (maxLifetimeSeconds === undefined) return undefined;
  return cutoffMs + maxLifetimeSeconds * 1000 + toleranceMs + REVOCATION_SLACK_MS;
}
