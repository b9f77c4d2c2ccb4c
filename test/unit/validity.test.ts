import fc from "fast-check";
import { afterEach, describe, expect, it, vi } from "vitest";
import { secretKeySource } from "../../src/jwt/key-source.js";
import { TokenRejected } from "../../src/jwt/token-rejected.js";
import { jtiRevocationExpiresAtMs, subjectRevocationExpiresAtMs } from "../../src/jwt/validity.js";
import { createVerifier, type VerifiedToken } from "../../src/jwt/verifier.js";
import { matchOf } from "../../src/store/revocation-store.js";
import { ISSUER, SECRET, signRaw } from "../helpers/tokens.js";

/**
 * The rule that ties verification to revocation storage: no instant exists at
 * which the verifier accepts a token while the entry that revokes it is gone.
 * The clock is set per case (vitest's fake Date), the verifier is the real one.
 */
afterEach(() => vi.useRealTimers());

const NOW = Date.UTC(2026, 10, 30, 12, 0, 0);
const keys = secretKeySource(SECRET);

/** Verifies `claims` (signed HS256) at the instant `atMs`; undefined when refused. */
async function verifyAt(
  atMs: number,
  claims: Record<string, unknown>,
  options: { maxLifetimeSeconds: number | undefined; toleranceSeconds: number },
) {
  vi.useFakeTimers({ toFake: ["Date"], now: atMs });
  const verify = createVerifier(
    {
      algorithms: ["HS256"],
      issuer: ISSUER,
      audience: undefined,
      requiredClaims: [],
      maxLifetimeSeconds: options.maxLifetimeSeconds,
      clockToleranceSeconds: options.toleranceSeconds,
      cacheSize: 0,
    },
    keys,
  );
  try {
    return await verify(signRaw({ alg: "HS256" }, { iss: ISSUER, ...claims }));
  } catch (err) {
    if (err instanceof TokenRejected) return undefined;
    throw err;
  } finally {
    vi.useRealTimers();
  }
}

/** A share from `min` to `max` in thousandths, spread evenly (fast-check's doubles crowd near 0 and the bounds). */
const share = (min: number, max: number) => fc.integer({ min: Math.round(min * 1000), max: Math.round(max * 1000) }).map((n) => n / 1000);

const live = (expiresAtMs: number | undefined, atMs: number) => expiresAtMs === undefined || atMs < expiresAtMs;

describe("a token revocation outlives every instant the token verifies", () => {
  it("for fractional exp and nbf and any clock tolerance", async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.double({ min: -30, max: 30, noNaN: true }), // exp, seconds from NOW
        fc.integer({ min: 0, max: 10 }), // tolerance
        fc.integer({ min: -45_000, max: 45_000 }), // the instant checked, ms from NOW
        async (expOffset, toleranceSeconds, atOffset) => {
          const exp = NOW / 1000 + expOffset;
          const verified = await verifyAt(NOW + atOffset, { exp }, { maxLifetimeSeconds: undefined, toleranceSeconds });
          if (verified === undefined) return;
          // The token entry is live (Redis keeps a key through its expiry ms; SQLite `expires_at_ms > now`).
          expect(NOW + atOffset).toBeLessThan(verified.revocationExpiresAtMs);
        },
      ),
      { numRuns: 2000 },
    );
  });

  it("accepts right up to exp + tolerance, to the millisecond, and refuses after", async () => {
    const exp = NOW / 1000 + 0.25; // a fractional exp, 250 ms past a whole second
    const options = { maxLifetimeSeconds: undefined, toleranceSeconds: 2 };
    expect(await verifyAt(NOW + 2249, { exp }, options)).toBeDefined();
    expect(await verifyAt(NOW + 2250, { exp }, options)).toBeUndefined();
  });
});

describe("jti and subject revocations outlive every token they revoke", () => {
  const scenario = fc.record({
    // undefined: no lifetime limit (the default); otherwise JWT_MAX_LIFETIME_SECONDS.
    maxLifetimeSeconds: fc.option(fc.integer({ min: 1, max: 3 * 86400 }), { nil: undefined }),
    toleranceSeconds: fc.integer({ min: 0, max: 60 }),
    // The token: iat (absent in some cases), lifetime, both fractional; seconds relative to NOW.
    // iat, as a share of the lifetime scale before NOW (negative: a little in the future).
    iatAgo: fc.option(share(-0.001, 1.1), { nil: undefined }),
    // Lifetime as a share of the limit (past 1: refused when limited), or of 5 days without one.
    lifetimeShare: share(0, 1.05),
    expWithoutIat: fc.double({ min: -60, max: 10 * 86400, noNaN: true }),
    // The operator's cutoff (ms before NOW), and when the check runs, as a share of the token's remaining life.
    cutoffShare: share(0, 1.1),
    checkedShare: share(0, 1.02),
  });

  it("for random iat, exp, cutoff and lifetime limits, tokens with and without iat", async () => {
    let revokedChecks = 0;
    await fc.assert(
      fc.asyncProperty(scenario, async (s) => {
        const scale = s.maxLifetimeSeconds ?? 5 * 86400;
        const iat = s.iatAgo === undefined ? undefined : NOW / 1000 - s.iatAgo * scale;
        const exp = iat === undefined ? NOW / 1000 + s.expWithoutIat : iat + s.lifetimeShare * scale;
        const claims = { sub: "alice", jti: "j-1", exp, ...(iat === undefined ? {} : { iat }) };
        const toleranceMs = s.toleranceSeconds * 1000;
        // The revocation is made at NOW: a subject cutoff at or before it, and the jti revoked then.
        const cutoffMs = NOW - Math.round(s.cutoffShare * scale * 1000);
        const checkedAt = NOW + Math.round(s.checkedShare * Math.max(0, exp * 1000 + toleranceMs - NOW));
        const verified: VerifiedToken | undefined = await verifyAt(checkedAt, claims, s);
        if (verified === undefined) return;

        // Subject: a token that could have been issued before the cutoff (no iat counts as the epoch) is revoked...
        const issuedBeforeCutoff = iat === undefined || Math.round(iat * 1000) < cutoffMs;
        if (issuedBeforeCutoff) {
          expect(matchOf(null, null, String(cutoffMs), verified.issuedAtMs)).toEqual({ scope: "subject", issuedBeforeMs: cutoffMs });
          // ...for as long as it verifies.
          expect(live(subjectRevocationExpiresAtMs(cutoffMs, s.maxLifetimeSeconds, toleranceMs), checkedAt)).toBe(true);
          revokedChecks++;
        }
        // jti: a token that existed when its jti was revoked (iat by then, give or take the tolerance).
        if (iat === undefined || iat * 1000 <= NOW + toleranceMs) {
          expect(live(jtiRevocationExpiresAtMs(NOW, s.maxLifetimeSeconds, toleranceMs), checkedAt)).toBe(true);
        }
      }),
      { numRuns: 3000 },
    );
    expect(revokedChecks).toBeGreaterThan(300); // the property exercised its interesting half
  });

  it("keeps jti and subject entries until lifted when lifetimes are unbounded, the default", () => {
    expect(jtiRevocationExpiresAtMs(NOW, undefined, 5000)).toBeUndefined();
    expect(subjectRevocationExpiresAtMs(NOW, undefined, 5000)).toBeUndefined();
  });

  it("verifies the original service's token on the defaults: no iat, exp nine years ahead", async () => {
    const verified = await verifyAt(NOW, { sub: "1001", exp: 2053218952 }, { maxLifetimeSeconds: undefined, toleranceSeconds: 5 });
    expect(verified?.issuedAtMs).toBe(0);
    // With a limit asked for, the same token is refused and the message names the variable.
    expect(await verifyAt(NOW, { sub: "1001", exp: 2053218952 }, { maxLifetimeSeconds: 2592000, toleranceSeconds: 5 })).toBeUndefined();
  });
});
