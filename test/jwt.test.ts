import { describe, expect, it } from "vitest";
import { parseBearer } from "../src/jwt/bearer.js";
import { fingerprint } from "../src/jwt/fingerprint.js";
import { TokenRejected } from "../src/jwt/token-rejected.js";
import { createVerifier } from "../src/jwt/verifier.js";
import { ISSUER, SECRET, mint, rawToken, signRaw } from "./helpers/tokens.js";

const verify = createVerifier({ secret: SECRET, issuer: ISSUER, algorithms: ["HS256"], clockToleranceSeconds: 5 });

function rejection(action: () => unknown): string {
  try {
    action();
  } catch (err) {
    expect(err).toBeInstanceOf(TokenRejected);
    return (err as Error).message;
  }
  throw new Error("expected a TokenRejected");
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
    ["Bearer " + "a".repeat(9000), /too long/],
  ])("refuses %#: %j", (header, message) => {
    expect(rejection(() => parseBearer(header, 8192))).toMatch(message);
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
  it("returns claims, fingerprint and the revocation's lifetime", () => {
    const token = mint({ sub: "bob", role: "user" });
    const verified = verify(token);
    expect(verified.claims).toMatchObject({ sub: "bob", role: "user", iss: ISSUER });
    expect(verified.fingerprint).toBe(fingerprint(token));
    expect(verified.revocationExpiresAtMs).toBe(verified.claims.exp * 1000 + 5000);
  });

  it.each([
    ["a wrong secret", () => mint({}, { secret: "other" }), /signature is invalid/],
    ["a wrong issuer", () => mint({}, { issuer: "https://evil.example/" }), /issuer is not https:\/\/www.discogs.com\//],
    ["no issuer", () => mint({}, { issuer: null }), /issuer/],
    ["an expired token", () => mint({}, { expiresInSeconds: -60 }), /expired/],
    ["no exp", () => mint({}, { expiresInSeconds: null }), /no exp claim/],
    ["a forged signature", () => rawToken({ alg: "HS256" }, { exp: 9e9, iss: ISSUER }), /signature is invalid/],
    ["exp as a string", () => signRaw({ alg: "HS256" }, { exp: "tomorrow", iss: ISSUER }), /malformed exp/],
    ["a huge exp", () => signRaw({ alg: "HS256" }, { exp: 1e400, iss: ISSUER }), /exp/],
    ["alg none", () => rawToken({ alg: "none" }, { exp: 9e9, iss: ISSUER }, ""), /unsigned|not allowed|malformed/],
    ["an algorithm outside the allow-list", () => mint({}, { algorithm: "HS512" }), /not allowed: accepted are HS256/],
    ["two segments", () => "abc.def", /malformed/],
    ["garbage", () => "not-a-jwt", /malformed/],
    // jsonwebtoken reads a non-object payload as a string, which then has no issuer.
    ["a payload that is not JSON", () => signRaw({ alg: "HS256" }, "{{{"), /issuer|JSON object/],
    ["a payload that is a string", () => signRaw({ alg: "HS256" }, '"hello"'), /issuer|JSON object/],
    ["a payload that is an array", () => signRaw({ alg: "HS256" }, [1, 2]), /issuer|JSON object/],
  ])("refuses %s", (_name, make, message) => {
    expect(rejection(() => verify(make()))).toMatch(message);
  });

  it("accepts a token expired by less than the clock tolerance", () => {
    expect(() => verify(mint({}, { expiresInSeconds: -2 }))).not.toThrow();
  });

  it("honours a configured allow-list of several algorithms", () => {
    const both = createVerifier({ secret: SECRET, issuer: ISSUER, algorithms: ["HS256", "HS512"], clockToleranceSeconds: 0 });
    expect(both(mint({}, { algorithm: "HS512" })).claims.sub).toBe("alice");
  });
});
