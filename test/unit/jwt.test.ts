import { generateKeyPairSync, type KeyObject } from "node:crypto";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import jwt from "jsonwebtoken";
import { afterAll, describe, expect, it } from "vitest";
import { parseBearer } from "../../src/jwt/bearer.js";
import { fingerprint } from "../../src/jwt/fingerprint.js";
import { TokenRejected, type RejectionReason } from "../../src/jwt/token-rejected.js";
import { publicKeyFileSource, secretKeySource, type KeySource } from "../../src/jwt/key-source.js";
import { createVerifier, type VerifierOptions } from "../../src/jwt/verifier.js";
import { ISSUER, SECRET, mint, rawToken, signRaw } from "../helpers/tokens.js";

const defaults: VerifierOptions = {
  algorithms: ["HS256"],
  issuer: ISSUER,
  audience: undefined,
  requiredClaims: [],
  maxLifetimeSeconds: undefined,
  clockToleranceSeconds: 5,
  cacheSize: 10_000,
};
const verifierWith = (options: Partial<VerifierOptions> = {}, keys: KeySource = secretKeySource(SECRET)) =>
  createVerifier({ ...defaults, ...options }, keys);
const verify = verifierWith();

function syncRejection(action: () => unknown): string {
  try {
    action();
  } catch (err) {
    expect(err).toBeInstanceOf(TokenRejected);
    return (err as Error).message;
  }
  throw new Error("expected a TokenRejected");
}

async function rejection(action: () => Promise<unknown>): Promise<string> {
  const err = await action().then(
    () => new Error("expected a TokenRejected"),
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(TokenRejected);
  return (err as Error).message;
}

describe("parseBearer", () => {
  it.each([
    ["Bearer abc.def.ghi", "abc.def.ghi"],
    ["bearer abc.def.ghi", "abc.def.ghi"],
    ["BEARER abc.def.ghi", "abc.def.ghi"],
    ["Bearer   abc.def.ghi  ", "abc.def.ghi"],
  ])("accepts %j", (header, token) => {
    expect(parseBearer(header, 8192)).toBe(token);
  });

  it.each([
    [null, /Missing Authorization header/],
    ["", /Missing Authorization header/],
    ["abc.def.ghi", /Bearer scheme/],
    ["Basic dXNlcjpwYXNz", /Bearer scheme/],
    ["Token abc.def.ghi", /Bearer scheme/],
    ["Bearer", /exactly one token/],
    ["Bearer ", /exactly one token/],
    ["Bearer a.b.c d.e.f", /exactly one token/],
    ["Bearer a.b.c,d.e.f", /exactly one token/],
    ["Bearer ünïcode", /exactly one token/],
    [`Bearer ${"a".repeat(9000)}`, /too long/],
  ])("refuses %#: %j", (header, message) => {
    expect(syncRejection(() => parseBearer(header, 8192))).toMatch(message);
  });
});

describe("fingerprint", () => {
  it("ignores the signature segment, which is malleable", () => {
    expect(fingerprint("aGVhZA.Ym9keQ.c2ln")).toBe(fingerprint("aGVhZA.Ym9keQ.c2lo"));
    expect(fingerprint("aGVhZA.Ym9keQ.c2ln")).not.toBe(fingerprint("aGVhZA.Ym9keR.c2ln"));
  });

  it("is a SHA-256 in base64url and contains nothing of the token", () => {
    const token = mint();
    const fp = fingerprint(token);
    expect(fp).toMatch(/^[A-Za-z0-9_-]{43}$/);
    for (const part of token.split(".")) expect(fp).not.toContain(part.slice(0, 12));
  });
});

describe("verifier", () => {
  it("returns claims, fingerprint and the revocation's lifetime", async () => {
    const token = mint({ sub: "bob", role: "user" });
    const verified = await verify(token);
    expect(verified.claims).toMatchObject({ sub: "bob", role: "user", iss: ISSUER });
    expect(verified.fingerprint).toBe(fingerprint(token));
    // Kept a second past the last instant the token verifies (exp + tolerance): see validity.ts.
    expect(verified.revocationExpiresAtMs).toBe(verified.claims.exp * 1000 + 5000 + 1000);
  });

  it.each<[string, () => string, RegExp, RejectionReason]>([
    ["a wrong secret", () => mint({}, { secret: "other" }), /signature is invalid/, "SIGNATURE_INVALID"],
    ["a wrong issuer", () => mint({}, { issuer: "https://evil.example/" }), /issuer is not https:\/\/www.discogs.com\//, "ISSUER_INVALID"],
    ["no issuer", () => mint({}, { issuer: null }), /issuer/, "ISSUER_INVALID"],
    ["an expired token", () => mint({}, { expiresInSeconds: -60 }), /expired/, "TOKEN_EXPIRED"],
    ["no exp", () => mint({}, { expiresInSeconds: null }), /no exp claim/, "CLAIM_MISSING"],
    ["a forged signature", () => rawToken({ alg: "HS256" }, { exp: 9e9, iss: ISSUER }), /signature is invalid/, "SIGNATURE_INVALID"],
    ["exp as a string", () => signRaw({ alg: "HS256" }, { exp: "tomorrow", iss: ISSUER }), /malformed exp/, "TOKEN_MALFORMED"],
    [
      "a huge exp",
      () => signRaw({ alg: "HS256" }, '{"exp":1e400,"iss":"https://www.discogs.com/"}'),
      /exp is out of range/,
      "TOKEN_MALFORMED",
    ],
    ["an exp past year 9999", () => signRaw({ alg: "HS256" }, { exp: 1e15, iss: ISSUER }), /exp is out of range/, "TOKEN_MALFORMED"],
    ["a crit header", () => signRaw({ alg: "HS256", crit: ["exp"] }, { exp: 9e9, iss: ISSUER }), /critical extensions/, "TOKEN_MALFORMED"],
    ["a header without alg", () => signRaw({ typ: "JWT" }, { exp: 9e9, iss: ISSUER }), /no alg/, "TOKEN_MALFORMED"],
    ["alg none", () => rawToken({ alg: "none" }, { exp: 9e9, iss: ISSUER }, ""), /unsigned \(alg none\)/, "ALGORITHM_NOT_ALLOWED"],
    [
      "an algorithm outside the allow-list",
      () => mint({}, { algorithm: "HS512" }),
      /not allowed: accepted are HS256/,
      "ALGORITHM_NOT_ALLOWED",
    ],
    ["two segments", () => "abc.def", /malformed/, "TOKEN_MALFORMED"],
    ["garbage", () => "not-a-jwt", /malformed/, "TOKEN_MALFORMED"],
    ["a payload that is not JSON", () => signRaw({ alg: "HS256" }, "{{{"), /malformed/, "TOKEN_MALFORMED"],
    ["a payload that is a string", () => signRaw({ alg: "HS256" }, '"hello"'), /malformed/, "TOKEN_MALFORMED"],
    ["a payload that is an array", () => signRaw({ alg: "HS256" }, [1, 2]), /malformed/, "TOKEN_MALFORMED"],
  ])("refuses %s, saying why in words and as a reason", async (_name, make, message, reason) => {
    const err = await verify(make()).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(TokenRejected);
    expect((err as TokenRejected).message).toMatch(message);
    expect((err as TokenRejected).reason).toBe(reason);
  });

  it("accepts a token expired by less than the clock tolerance", async () => {
    await expect(verify(mint({}, { expiresInSeconds: -2 }))).resolves.toBeDefined();
  });

  it("honours a configured allow-list of several algorithms", async () => {
    const both = verifierWith({ algorithms: ["HS256", "HS512"], clockToleranceSeconds: 0 });
    expect((await both(mint({}, { algorithm: "HS512" }))).claims.sub).toBe("alice");
  });

  it("checks the audience when one is configured", async () => {
    const withAudience = verifierWith({ audience: ["api-a", "api-b"] });
    expect((await withAudience(mint({ aud: "api-b" }))).claims.aud).toBe("api-b");
    expect((await withAudience(mint({ aud: ["other", "api-a"] }))).claims.sub).toBe("alice");
    expect(await rejection(() => withAudience(mint({ aud: "other" })))).toMatch(/audience is not api-a or api-b/);
    expect(await rejection(() => withAudience(mint()))).toMatch(/audience/);
  });

  it("checks required claims and the maximum lifetime", async () => {
    const strict = verifierWith({ requiredClaims: ["sub", "scope"], maxLifetimeSeconds: 3600 });
    expect(await rejection(() => strict(mint({}, {})))).toMatch(/lacks the required claim scope/);
    expect((await strict(mint({ scope: "read" }, { expiresInSeconds: 3600 }))).claims.scope).toBe("read");
    expect(await rejection(() => strict(mint({ scope: "read" }, { expiresInSeconds: 7200 })))).toMatch(
      /lifetime exceeds the allowed 3600 seconds/,
    );
    // Without iat the lifetime is unbounded, and jti and subject revocations could expire before the token.
    const noIat = signRaw({ alg: "HS256" }, { scope: "x", sub: "a", iss: ISSUER, exp: Math.floor(Date.now() / 1000) + 60 });
    expect(await rejection(() => strict(noIat))).toMatch(/no iat claim: it is required while token lifetime is limited/);
    // With no limit (JWT_MAX_LIFETIME_SECONDS=0), iat is optional and counts as the epoch.
    const unlimited = verifierWith({ maxLifetimeSeconds: undefined });
    expect((await unlimited(noIat)).issuedAtMs).toBe(0);
  });

  it("refuses a token issued in the future, beyond the clock tolerance", async () => {
    const seconds = Math.floor(Date.now() / 1000);
    expect(await rejection(() => verify(mint({ iat: seconds + 600 })))).toMatch(/iat is in the future/);
    await expect(verify(mint({ iat: seconds + 2 }))).resolves.toBeDefined();
  });

  it("reads the revocation scopes: issuer, jti, subject, and iat to the millisecond", async () => {
    const iat = Date.now() / 1000 - 10.123;
    const verified = await verify(mint({ iat, jti: "j-1", sub: "alice" }));
    expect(verified).toMatchObject({ issuer: ISSUER, jti: "j-1", subject: "alice" });
    expect(verified.issuedAtMs).toBe(Math.round(iat * 1000));
    // Numeric sub and jti are read as their text; other shapes are no scope at all.
    expect(await verify(mint({ sub: 42, jti: 7 }))).toMatchObject({ subject: "42", jti: "7" });
    expect(await verify(mint({ sub: { id: 1 }, jti: "" }))).toMatchObject({ subject: undefined, jti: undefined });
  });

  it("refuses a token that is not valid yet", async () => {
    const future = Math.floor(Date.now() / 1000) + 600;
    expect(await rejection(() => verify(mint({ nbf: future })))).toMatch(/not valid yet/);
  });
});

describe("public-key algorithms (JWT_PUBLIC_KEY_FILE)", () => {
  const rsa = generateKeyPairSync("rsa", { modulusLength: 2048 });
  const p256 = generateKeyPairSync("ec", { namedCurve: "P-256" });
  const p384 = generateKeyPairSync("ec", { namedCurve: "P-384" });
  const dir = mkdtempSync(join(tmpdir(), "tb-keys-"));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));
  const pemFile = (name: string, key: KeyObject) => {
    const path = join(dir, name);
    writeFileSync(path, key.export({ type: "spki", format: "pem" }));
    return path;
  };

  it.each([
    ["RS256", rsa],
    ["RS384", rsa],
    ["RS512", rsa],
    ["PS256", rsa],
    ["ES256", p256],
    ["ES384", p384],
  ] as const)("verifies %s with the matching public key, and refuses it when not allowed", async (alg, pair) => {
    const keys = publicKeyFileSource(pemFile(`${alg}.pem`, pair.publicKey));
    const token = jwt.sign({ sub: alg }, pair.privateKey, { algorithm: alg, issuer: ISSUER, expiresIn: 60 });
    expect((await verifierWith({ algorithms: [alg] }, keys)(token)).claims.sub).toBe(alg);
    const other = alg === "RS256" ? "PS256" : "RS256";
    expect(await rejection(() => verifierWith({ algorithms: [other] }, keys)(token))).toMatch(/not allowed/);
  });

  it("refuses an ES256 token against an RSA key, even when both algorithms are allowed", async () => {
    const keys = publicKeyFileSource(pemFile("rsa.pem", rsa.publicKey));
    const token = jwt.sign({ sub: "x" }, p256.privateKey, { algorithm: "ES256", issuer: ISSUER, expiresIn: 60 });
    expect(await rejection(() => verifierWith({ algorithms: ["RS256", "ES256"] }, keys)(token))).toMatch(
      /does not match the configured key/,
    );
  });

  it("names JWT_PUBLIC_KEY_FILE when the file holds no key", () => {
    const path = join(dir, "empty.pem");
    writeFileSync(path, "not a key");
    expect(() => publicKeyFileSource(path)).toThrow(/JWT_PUBLIC_KEY_FILE: cannot read a public key/);
  });
});
