import { generateKeyPairSync, type KeyObject } from "node:crypto";
import { createServer, type Server } from "node:http";
import jwt from "jsonwebtoken";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { bearer, grpcJsClient, restHttp1Client, type TokenClient } from "./helpers/clients.js";
import { startService, type TestService } from "./helpers/service.js";
import { ISSUER, ecdsaOtherS } from "./helpers/tokens.js";
import { eventually } from "./helpers/eventually.js";

/** An issuer's JWKS endpoint, served by the test over loopback; keys can rotate. */
interface Issuer {
  url: string;
  requests: number;
  keys: Map<string, { privateKey: KeyObject; publicKey: KeyObject }>;
  add(kid: string): void;
  remove(kid: string): void;
  sign(kid: string, claims?: Record<string, unknown>): string;
  close(): Promise<void>;
}

async function startIssuer(): Promise<Issuer> {
  const keys = new Map<string, { privateKey: KeyObject; publicKey: KeyObject }>();
  let server: Server;
  const issuer: Issuer = {
    url: "",
    requests: 0,
    keys,
    add: (kid) => keys.set(kid, generateKeyPairSync("ec", { namedCurve: "P-256" })),
    remove: (kid) => void keys.delete(kid),
    sign: (kid, claims = {}) =>
      jwt.sign({ sub: "alice", jti: crypto.randomUUID(), ...claims }, keys.get(kid)!.privateKey, {
        algorithm: "ES256",
        keyid: kid,
        issuer: ISSUER,
        expiresIn: 3600,
      }),
    close: () => new Promise((resolve) => server.close(() => resolve())),
  };
  server = createServer((_req, res) => {
    issuer.requests++;
    const jwks = {
      keys: [
        ...[...keys].map(([kid, pair]) => ({ ...pair.publicKey.export({ format: "jwk" }), kid, use: "sig", alg: "ES256" })),
        // A symmetric key in a JWKS must never be used: anyone can read it.
        { kty: "oct", kid: "secret", k: Buffer.from("discogs").toString("base64url") },
      ],
    };
    res.writeHead(200, { "content-type": "application/json" });
    res.end(JSON.stringify(jwks));
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  issuer.url = `http://127.0.0.1:${(server.address() as { port: number }).port}/.well-known/jwks.json`;
  return issuer;
}

let issuer: Issuer;
let service: TestService;
let rest: TokenClient;
let grpc: TokenClient;

beforeAll(async () => {
  issuer = await startIssuer();
  issuer.add("k1");
  service = await startService({
    JWT_JWKS_URL: issuer.url,
    JWT_ALGORITHMS: "ES256",
    JWT_JWKS_REFRESH_SECONDS: "3600",
    JWT_JWKS_MIN_REFETCH_SECONDS: "1",
  });
  rest = restHttp1Client(service.baseUrl);
  grpc = grpcJsClient(service.port);
});
afterAll(async () => {
  grpc.close();
  await service.close();
  await issuer.close();
});

describe("ES256 keys from a JWKS URL", () => {
  it("accepts a token whose kid is in the key set, on REST and gRPC", async () => {
    for (const client of [rest, grpc]) expect((await client.info(bearer(issuer.sign("k1")))).ok).toBe(true);
  });

  it("never uses a symmetric key from the JWKS (an HS256 token with kid 'secret' is refused)", async () => {
    const forged = jwt.sign({ sub: "mallory" }, "discogs", { algorithm: "HS256", keyid: "secret", issuer: ISSUER, expiresIn: 60 });
    expect(await rest.info(bearer(forged))).toMatchObject({
      ok: false,
      code: "unauthenticated",
      message: expect.stringMatching(/not allowed/),
    });
  });

  it("refuses an unknown kid, and refetches at most once per JWT_JWKS_MIN_REFETCH_SECONDS however many arrive", async () => {
    const before = issuer.requests;
    const forged = jwt.sign({ sub: "mallory" }, generateKeyPairSync("ec", { namedCurve: "P-256" }).privateKey, {
      algorithm: "ES256",
      keyid: "made-up",
      issuer: ISSUER,
      expiresIn: 60,
    });
    const outcomes = await Promise.all(Array.from({ length: 50 }, () => rest.info(bearer(forged))));
    for (const outcome of outcomes) {
      expect(outcome).toMatchObject({ ok: false, code: "unauthenticated", reason: "KEY_NOT_FOUND", message: expect.stringMatching(/kid/) });
    }
    expect(issuer.requests - before).toBeLessThanOrEqual(1);
  });

  it("picks up a rotated-in key and drops a rotated-out one", async () => {
    issuer.add("k2");
    const fresh = issuer.sign("k2");
    // k2 is unknown until a refetch, which an unknown kid triggers (rate-limited to 1 s here).
    expect(await eventually(async () => (await rest.info(bearer(fresh))).ok)).toBe(true);

    const old = issuer.sign("k1");
    expect((await rest.info(bearer(old))).ok).toBe(true);
    issuer.remove("k1");
    issuer.add("k3");
    // A k3 token forces a refetch; the new key set no longer holds k1.
    expect(await eventually(async () => (await rest.info(bearer(issuer.sign("k3")))).ok)).toBe(true);
    expect(await rest.info(bearer(old))).toMatchObject({ ok: false, code: "unauthenticated", message: expect.stringMatching(/kid/) });
  });

  it("still refuses a revoked ES256 token re-signed as (r, n-s)", async () => {
    const kid = [...issuer.keys.keys()][0]!;
    const token = issuer.sign(kid, { sub: "malleable" });
    const twin = ecdsaOtherS(token);
    expect(twin).not.toBe(token);
    expect((await rest.info(bearer(twin))).ok).toBe(true); // the other form verifies...
    expect((await rest.blacklist(bearer(token))).ok).toBe(true);
    for (const client of [rest, grpc]) {
      // ...and is the same token, so it is revoked too.
      expect(await client.info(bearer(twin))).toMatchObject({ ok: false, code: "unauthenticated", message: "Token is blacklisted" });
    }
  });
});

describe("JWKS outages", () => {
  it("refuses to start when the first fetch fails, naming JWT_JWKS_URL", async () => {
    await expect(startService({ JWT_JWKS_URL: "http://127.0.0.1:1/jwks.json", JWT_ALGORITHMS: "ES256" })).rejects.toThrow(
      /JWT_JWKS_URL: cannot fetch/,
    );
  });

  it("keeps the last good keys when the endpoint goes away later", async () => {
    const other = await startIssuer();
    other.add("only");
    const svc = await startService({ JWT_JWKS_URL: other.url, JWT_ALGORITHMS: "ES256", JWT_JWKS_MIN_REFETCH_SECONDS: "0" });
    const client = restHttp1Client(svc.baseUrl);
    try {
      const token = other.sign("only");
      await other.close();
      expect((await client.info(bearer(token))).ok).toBe(true);
      // An unknown kid now needs a fetch that cannot succeed: UNAVAILABLE, not "valid" and not a 500.
      const unknown = jwt.sign({ sub: "x" }, generateKeyPairSync("ec", { namedCurve: "P-256" }).privateKey, {
        algorithm: "ES256",
        keyid: "new",
        issuer: ISSUER,
        expiresIn: 60,
      });
      expect(await client.info(bearer(unknown))).toMatchObject({ ok: false, status: 503, code: "unavailable", reason: "KEYS_UNAVAILABLE" });
    } finally {
      await svc.close();
    }
  });
});
