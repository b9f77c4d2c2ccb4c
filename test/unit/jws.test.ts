import { createSecretKey, generateKeyPairSync, type KeyObject } from "node:crypto";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import fc from "fast-check";
import jwt from "jsonwebtoken";
import { describe, expect, it } from "vitest";
import { keyFits, parseCompactJws, signHmac, verifySignature } from "../../src/jwt/jws.js";
import { publicKeyFileSource, unusableKeyReason } from "../../src/jwt/key-source.js";
import { TokenRejected } from "../../src/jwt/token-rejected.js";

/**
 * The signature check is node:crypto called directly. jsonwebtoken, the
 * library it replaced, is the reference: for every algorithm, on well-formed
 * and tampered tokens alike, both must agree on "the signature verifies".
 */
const rsa = generateKeyPairSync("rsa", { modulusLength: 2048 });
const p256 = generateKeyPairSync("ec", { namedCurve: "P-256" });
const p384 = generateKeyPairSync("ec", { namedCurve: "P-384" });
const p521 = generateKeyPairSync("ec", { namedCurve: "P-521" });
const secret = "a-test-secret-of-some-length";
const secretKey = createSecretKey(Buffer.from(secret));

const signers: Record<string, { sign: KeyObject | string; verify: KeyObject }> = {
  HS256: { sign: secret, verify: secretKey },
  HS384: { sign: secret, verify: secretKey },
  HS512: { sign: secret, verify: secretKey },
  RS256: { sign: rsa.privateKey, verify: rsa.publicKey },
  RS384: { sign: rsa.privateKey, verify: rsa.publicKey },
  RS512: { sign: rsa.privateKey, verify: rsa.publicKey },
  PS256: { sign: rsa.privateKey, verify: rsa.publicKey },
  PS384: { sign: rsa.privateKey, verify: rsa.publicKey },
  PS512: { sign: rsa.privateKey, verify: rsa.publicKey },
  ES256: { sign: p256.privateKey, verify: p256.publicKey },
  ES384: { sign: p384.privateKey, verify: p384.publicKey },
  ES512: { sign: p521.privateKey, verify: p521.publicKey },
};
const algorithms = Object.keys(signers) as jwt.Algorithm[];

const ours = (token: string, alg: string, key: KeyObject): boolean => {
  try {
    verifySignature(alg, key, parseCompactJws(token));
    return true;
  } catch (err) {
    expect(err).toBeInstanceOf(TokenRejected);
    return false;
  }
};
const reference = (token: string, alg: jwt.Algorithm, key: KeyObject): boolean => {
  try {
    jwt.verify(token, alg.startsWith("HS") ? secret : key, { algorithms: [alg], ignoreExpiration: true });
    return true;
  } catch {
    return false;
  }
};

/** One character of a segment replaced by another base64url character. */
const tamper = (token: string, segment: number, at: number, by: string): string => {
  const parts = token.split(".");
  const part = parts[segment]!;
  const i = at % part.length;
  parts[segment] = part.slice(0, i) + by + part.slice(i + 1);
  return parts.join(".");
};

describe("JWS signature verification", () => {
  it.each(algorithms)("accepts a %s token signed by the matching key, as jsonwebtoken does", (alg) => {
    const token = jwt.sign({ sub: "x", n: 1 }, signers[alg]!.sign, { algorithm: alg });
    expect(ours(token, alg, signers[alg]!.verify)).toBe(true);
    expect(reference(token, alg, signers[alg]!.verify)).toBe(true);
  });

  it("agrees with jsonwebtoken on random tampered tokens, for every algorithm", () => {
    const base64url = fc.constantFrom(..."ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_");
    fc.assert(
      fc.property(
        fc.constantFrom(...algorithms),
        // Not the time claims: jsonwebtoken.sign throws on a non-numeric exp, nbf or iat before there is a token to compare.
        fc.dictionary(
          fc.stringMatching(/^[a-z]{1,8}$/).filter((name) => !["exp", "nbf", "iat"].includes(name)),
          fc.oneof(fc.string(), fc.integer(), fc.boolean()),
          { maxKeys: 4 },
        ),
        fc.integer({ min: 0, max: 2 }),
        fc.nat(),
        base64url,
        (alg, claims, segment, at, by) => {
          const token = tamper(jwt.sign({ ...claims, v: 1 }, signers[alg]!.sign, { algorithm: alg }), segment, at, by);
          // A tampered header may no longer parse: only compare tokens both sides read as JWS.
          let header: Record<string, unknown>;
          try {
            header = parseCompactJws(token).header;
          } catch {
            return;
          }
          if (header.alg !== alg) return;
          expect(ours(token, alg, signers[alg]!.verify)).toBe(reference(token, alg, signers[alg]!.verify));
        },
      ),
      { numRuns: 400 },
    );
  });

  it("refuses a token signed for one algorithm and presented under another of the same family", () => {
    const token = jwt.sign({ sub: "x" }, rsa.privateKey, { algorithm: "RS256" });
    const relabelled = `${Buffer.from(JSON.stringify({ alg: "PS256" })).toString("base64url")}.${token.split(".").slice(1).join(".")}`;
    expect(ours(relabelled, "PS256", rsa.publicKey)).toBe(false);
  });

  it("refuses a key that cannot serve the algorithm: an RSA key for ES256, P-384 for ES256, a public key for HS256", () => {
    expect(keyFits("ES256", rsa.publicKey)).toBe(false);
    expect(keyFits("ES256", p384.publicKey)).toBe(false);
    expect(keyFits("HS256", rsa.publicKey)).toBe(false);
    expect(keyFits("RS256", secretKey)).toBe(false);
    const token = jwt.sign({ sub: "x" }, p384.privateKey, { algorithm: "ES384" });
    expect(() => verifySignature("ES256", p256.publicKey, parseCompactJws(token))).toThrow(/signature is invalid/);
    expect(() => verifySignature("ES384", rsa.publicKey, parseCompactJws(token))).toThrow(/does not match the configured key/);
  });

  it("refuses an empty signature segment and a non-base64url one", () => {
    const token = jwt.sign({ sub: "x" }, secret, { algorithm: "HS256" });
    const unsigned = token.slice(0, token.lastIndexOf(".") + 1);
    expect(() => verifySignature("HS256", secretKey, parseCompactJws(unsigned))).toThrow(/signature is missing/);
    expect(() => parseCompactJws(`${unsigned}abc+def`)).toThrow(/malformed/);
  });

  it("signs HMAC development tokens that jsonwebtoken verifies", () => {
    const token = signHmac("HS384", secretKey, { typ: "JWT" }, { sub: "dev", exp: 2e9 });
    expect(jwt.verify(token, secret, { algorithms: ["HS384"] })).toMatchObject({ sub: "dev" });
    expect(ours(token, "HS384", secretKey)).toBe(true);
  });
});

describe("public keys a verifier will use", () => {
  it("refuses RSA keys shorter than 2048 bits and keys that verify no JWS algorithm", () => {
    expect(unusableKeyReason(generateKeyPairSync("rsa", { modulusLength: 1024 }).publicKey)).toMatch(/1024 bits, shorter than 2048/);
    expect(unusableKeyReason(generateKeyPairSync("ed25519").publicKey)).toMatch(/ed25519 key, which verifies none/);
    expect(unusableKeyReason(rsa.publicKey)).toBeUndefined();
    expect(unusableKeyReason(p521.publicKey)).toBeUndefined();
  });

  it("names JWT_PUBLIC_KEY_FILE when the file holds a short RSA key", () => {
    const dir = mkdtempSync(join(tmpdir(), "tb-short-key-"));
    try {
      const path = join(dir, "short.pem");
      writeFileSync(path, generateKeyPairSync("rsa", { modulusLength: 1024 }).publicKey.export({ type: "spki", format: "pem" }));
      expect(() => publicKeyFileSource(path)).toThrow(/JWT_PUBLIC_KEY_FILE: .*short\.pem holds an RSA key of 1024 bits, shorter than 2048/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
