import { inspect } from "node:util";
import { createSecretKey } from "node:crypto";
import fc from "fast-check";
import { afterEach, describe, expect, it, vi } from "vitest";
import { type KeySource, secretKeySource } from "../../src/jwt/key-source.js";
import { TokenRejected } from "../../src/jwt/token-rejected.js";
import { VerifiedTokenCache } from "../../src/jwt/verified-cache.js";
import { createVerifier, type Verifier, type VerifierOptions } from "../../src/jwt/verifier.js";
import { ISSUER, SECRET, signRaw } from "../helpers/tokens.js";

/**
 * The verified-token cache (JWT_CACHE_SIZE) must never change a verdict: a
 * token remembered at one instant is answered at another exactly as a fresh
 * verification would answer it, a changed signature is a miss, a key change
 * forgets, and the cache holds no token.
 */
afterEach(() => vi.useRealTimers());

const NOW = Date.UTC(2026, 10, 30, 12, 0, 0);
const options = (cacheSize: number, toleranceSeconds = 5): VerifierOptions => ({
  algorithms: ["HS256"],
  issuer: ISSUER,
  audience: undefined,
  requiredClaims: [],
  maxLifetimeSeconds: undefined,
  clockToleranceSeconds: toleranceSeconds,
  cacheSize,
});

/** The verdict at `atMs`: the verified token's fields, or the rejection's reason. */
async function verdictAt(verify: Verifier, token: string, atMs: number): Promise<unknown> {
  vi.useFakeTimers({ toFake: ["Date"], now: atMs });
  try {
    const { token: _token, ...verified } = await verify(token);
    return verified;
  } catch (err) {
    if (err instanceof TokenRejected) return err.reason;
    throw err;
  } finally {
    vi.useRealTimers();
  }
}

describe("the verified-token cache", () => {
  it("answers at any instant as a fresh verification does, whenever the token was first seen (fractional exp, nbf, iat)", async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.double({ min: -20, max: 20, noNaN: true }), // exp, seconds from NOW
        fc.option(fc.double({ min: -20, max: 20, noNaN: true }), { nil: undefined }), // nbf
        fc.option(fc.double({ min: -20, max: 20, noNaN: true }), { nil: undefined }), // iat
        fc.integer({ min: 0, max: 5 }), // tolerance
        fc.integer({ min: -30_000, max: 30_000 }), // first seen, ms from NOW
        fc.integer({ min: -30_000, max: 30_000 }), // asked again
        async (exp, nbf, iat, tolerance, firstMs, againMs) => {
          const claims = {
            exp: NOW / 1000 + exp,
            ...(nbf === undefined ? {} : { nbf: NOW / 1000 + nbf }),
            ...(iat === undefined ? {} : { iat: NOW / 1000 + iat }),
          };
          const token = signRaw({ alg: "HS256" }, { iss: ISSUER, sub: "alice", ...claims });
          const fresh = createVerifier(options(0, tolerance), secretKeySource(SECRET));
          if (typeof (await verdictAt(fresh, token, NOW + firstMs)) === "string") return; // refused when first seen: nothing remembered
          // Asked again at a random instant, and at every millisecond around each edge of the window.
          const edges = [
            claims.exp * 1000 + tolerance * 1000,
            ...[claims.nbf, claims.iat].filter((t) => t !== undefined).map((t) => t * 1000 - tolerance * 1000),
          ];
          const instants = [NOW + againMs, ...edges.flatMap((edge) => [-2, -1, 0, 1, 2].map((d) => Math.round(edge) + d))];
          for (const at of instants) {
            const cached = createVerifier(options(100, tolerance), secretKeySource(SECRET));
            await verdictAt(cached, token, NOW + firstMs);
            expect(await verdictAt(cached, token, at)).toEqual(await verdictAt(fresh, token, at));
          }
        },
      ),
      { numRuns: 1000 },
    );
  });

  it("verifies a token whose signature changed in full: same signing input, another signature, refused", async () => {
    const verify = createVerifier(options(100), secretKeySource(SECRET));
    const token = signRaw({ alg: "HS256" }, { iss: ISSUER, sub: "alice", exp: Date.now() / 1000 + 60 });
    await verify(token);
    const forged = `${token.slice(0, token.lastIndexOf(".") + 1)}${signRaw({ alg: "HS256" }, { other: 1 }).split(".")[2]}`;
    await expect(verify(forged)).rejects.toMatchObject({ reason: "SIGNATURE_INVALID" });
    await expect(verify(token)).resolves.toMatchObject({ subject: "alice" });
  });

  it("forgets what it holds when the keys change", async () => {
    let key = createSecretKey(Buffer.from(SECRET));
    let version = 0;
    const keys: KeySource = {
      keyFor: () => key,
      get version() {
        return version;
      },
      close: () => {},
    };
    const verify = createVerifier(options(100), keys);
    const token = signRaw({ alg: "HS256" }, { iss: ISSUER, exp: Date.now() / 1000 + 60 });
    await expect(verify(token)).resolves.toBeDefined();
    key = createSecretKey(Buffer.from("another secret"));
    version++;
    await expect(verify(token)).rejects.toMatchObject({ reason: "SIGNATURE_INVALID" });
  });

  it("hands out frozen claims with the cache off too", async () => {
    const verify = createVerifier(options(0), secretKeySource(SECRET));
    const { claims } = await verify(signRaw({ alg: "HS256" }, { iss: ISSUER, roles: [{ name: "reader" }], exp: Date.now() / 1000 + 60 }));
    expect(Object.isFrozen(claims) && Object.isFrozen(claims.roles) && Object.isFrozen((claims.roles as object[])[0])).toBe(true);
  });

  it("shares frozen claims, stays within its bound, and holds no token", async () => {
    const cache = new VerifiedTokenCache(3);
    const verify = createVerifier(options(3), secretKeySource(SECRET));
    const tokens = Array.from({ length: 5 }, (_, i) =>
      signRaw({ alg: "HS256" }, { iss: ISSUER, sub: `user-${i}`, roles: ["reader"], exp: Date.now() / 1000 + 60 }),
    );
    for (const token of tokens) {
      const verified = await verify(token);
      cache.set(cache.keyOf(token), verified, 0, 0, Number.MAX_SAFE_INTEGER);
    }
    expect(cache.size).toBe(3);
    // The oldest went first; the newest are answered from memory, with the caller's token put back.
    expect(cache.get(cache.keyOf(tokens[0]!), tokens[0]!, 0, Date.now())).toBeUndefined();
    const again = cache.get(cache.keyOf(tokens[4]!), tokens[4]!, 0, Date.now())!;
    expect(again).toMatchObject({ token: tokens[4], subject: "user-4" });
    expect(Object.isFrozen(again.claims) && Object.isFrozen(again.claims.roles)).toBe(true);
    const held = inspect(cache, { depth: 10 });
    for (const token of tokens) {
      for (const part of token.split(".")) expect(held).not.toContain(part);
    }
  });
});
