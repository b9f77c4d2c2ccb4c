import { request } from "node:http";
import fc from "fast-check";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { TokenService } from "../gen/tokens/v1/token_service_pb.js";
import { parseBearer } from "../src/jwt/bearer.js";
import { secretKeySource } from "../src/jwt/key-source.js";
import { TokenRejected } from "../src/jwt/token-rejected.js";
import { createVerifier } from "../src/jwt/verifier.js";
import { matchRoute, restRoutes } from "../src/server/rest-routes.js";
import { matchOf } from "../src/store/revocation-store.js";
import { startService, type TestService } from "./helpers/service.js";
import { ISSUER, SECRET, mint } from "./helpers/tokens.js";

/** Whatever the input, the only failure allowed is a TokenRejected. */
function onlyRejections(action: () => unknown): void {
  try {
    action();
  } catch (err) {
    if (!(err instanceof TokenRejected)) throw err;
  }
}

const headerLike = fc.oneof(
  fc.string({ unit: "binary", maxLength: 300 }),
  fc
    .tuple(fc.constantFrom("Bearer", "bearer", "BEARER", "Basic", "", "Bearer\t"), fc.string({ maxLength: 200 }))
    .map(([s, t]) => `${s} ${t}`),
  fc.array(fc.base64String(), { maxLength: 5 }).map((parts) => `Bearer ${parts.join(".")}`),
);

const tokenLike = fc.oneof(
  fc.string({ maxLength: 200 }),
  fc.array(fc.string({ maxLength: 60 }), { minLength: 1, maxLength: 5 }).map((parts) => parts.join(".")),
  fc
    .tuple(fc.json(), fc.json(), fc.base64String())
    .map(([h, p, s]) => `${Buffer.from(h).toString("base64url")}.${Buffer.from(p).toString("base64url")}.${s}`),
  fc.constant(mint()).map((t) => t.slice(0, -1)),
);

describe("bearer parser and verifier, on random input", () => {
  it("parseBearer returns a token of bearer characters, or refuses", () => {
    fc.assert(
      fc.property(headerLike, (header) => {
        onlyRejections(() => {
          const token = parseBearer(header, 8192);
          expect(token).toMatch(/^[A-Za-z0-9\-._~+/]+=*$/);
          expect(token.length).toBeLessThanOrEqual(8192);
        });
      }),
      { numRuns: 2000 },
    );
  });

  it("the verifier refuses every forged token with a TokenRejected", async () => {
    const verify = createVerifier(
      {
        algorithms: ["HS256"],
        issuer: ISSUER,
        audience: undefined,
        requiredClaims: [],
        maxLifetimeSeconds: undefined,
        clockToleranceSeconds: 5,
        cacheSize: 10_000,
      },
      secretKeySource(SECRET),
    );
    await fc.assert(
      fc.asyncProperty(tokenLike, async (token) => {
        const err = await verify(token).then(
          () => new Error(`accepted ${token}`),
          (e: unknown) => e,
        );
        expect(err).toBeInstanceOf(TokenRejected);
      }),
      { numRuns: 1000 },
    );
  });
});

describe("REST transcoder, on random requests", () => {
  const routes = restRoutes(TokenService);
  const method = fc.constantFrom("GET", "POST", "PUT", "DELETE", "PATCH", "OPTIONS", "HEAD", "BREW");
  const path = fc.oneof(
    fc.constantFrom("/info", "/blacklist", "/", "//", "/info/", "/%", "/%zz", "/info?x=%", "/blacklist?token=a&token=b"),
    fc.webPath(),
    fc.stringMatching(/^\/[\x21-\x7e]{0,40}$/),
  );

  it("matchRoute never throws", () => {
    fc.assert(
      fc.property(method, path, (m, p) => {
        const match = matchRoute(routes, m, p.split("?")[0]!);
        expect(["found", "not-found", "method-not-allowed"]).toContain(match.kind);
      }),
      { numRuns: 2000 },
    );
  });

  let service: TestService;
  beforeAll(async () => {
    service = await startService();
  });
  afterAll(() => service.close());

  const body = fc.oneof(
    fc.constant(""),
    fc.json({ maxDepth: 3 }),
    fc.string({ maxLength: 100 }),
    fc.uint8Array({ maxLength: 100 }).map((bytes) => Buffer.from(bytes).toString("latin1")),
  );

  it("answers every request with JSON and a status below 500, over a real socket", async () => {
    const token = mint();
    await fc.assert(
      fc.asyncProperty(method, path, body, fc.boolean(), async (m, p, b, withToken) => {
        const { status, text } = await send(service.port, m, p, b, withToken ? `Bearer ${token}` : undefined);
        expect(status).toBeLessThan(500);
        if (m !== "HEAD") expect(() => JSON.parse(text) as unknown).not.toThrow();
      }),
      { numRuns: 300 },
    );
    // Still serving (a fresh token: the random POSTs may have revoked the first).
    expect((await fetch(`${service.baseUrl}/info`, { headers: { authorization: `Bearer ${mint()}` } })).status).toBe(200);
  });
});

function send(port: number, method: string, path: string, body: string, authorization?: string) {
  return new Promise<{ status: number; text: string }>((resolve, reject) => {
    const headers: Record<string, string> = { "content-length": String(Buffer.byteLength(body, "latin1")) };
    if (authorization !== undefined) headers.authorization = authorization;
    const req = request({ host: "127.0.0.1", port, method, path, headers, agent: false }, (res) => {
      let text = "";
      res.setEncoding("utf8");
      res.on("data", (d: string) => (text += d));
      res.on("end", () => resolve({ status: res.statusCode ?? 0, text }));
    });
    req.on("error", reject);
    req.end(body, "latin1");
  });
}

describe("the subject cutoff rule", () => {
  const verify = createVerifier(
    {
      algorithms: ["HS256"],
      issuer: ISSUER,
      audience: undefined,
      requiredClaims: [],
      maxLifetimeSeconds: 3600,
      clockToleranceSeconds: 5,
      cacheSize: 10_000,
    },
    secretKeySource(SECRET),
  );

  it("revokes a token iff its iat, to the millisecond, is before the cutoff, even within one second", async () => {
    const now = Date.now();
    await fc.assert(
      fc.asyncProperty(
        fc.integer({ min: now - 1_000_000, max: now - 10_000 }),
        fc.integer({ min: -999, max: 999 }),
        async (cutoffMs, deltaMs) => {
          const issuedAtMs = cutoffMs + deltaMs;
          const verified = await verify(mint({ iat: issuedAtMs / 1000 }, { expiresInSeconds: 3000 }));
          expect(verified.issuedAtMs).toBe(issuedAtMs);
          const match = matchOf(null, null, String(cutoffMs), verified.issuedAtMs);
          expect(match !== undefined).toBe(deltaMs < 0);
        },
      ),
      { numRuns: 300 },
    );
  });
});
