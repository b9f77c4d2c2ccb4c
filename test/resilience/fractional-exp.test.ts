import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startRedis, type TestRedis } from "../helpers/redis-server.js";
import { ISSUER, signRaw } from "../helpers/tokens.js";
import { getInfo, startTarget, type Target } from "./target.js";

// Issue 12, case 10: a revoked token whose exp has a fraction is never valid again before it expires.

const TOLERANCE_SECONDS = 1;

let redis: TestRedis;
beforeAll(async () => {
  redis = await startRedis();
});
afterAll(() => redis?.stop());

/** Revokes a token expiring at a fractional second, then asks about it back to back until well past its expiry; resolves with how often it was accepted. */
async function acceptancesAfterRevocation(target: Target): Promise<{ acceptances: number; asked: number }> {
  const exp = Date.now() / 1000 + 1.5 + Math.random() / 2; // e.g. 1764483605.8317
  const token = signRaw({ alg: "HS256", typ: "JWT" }, { sub: "alice", jti: crypto.randomUUID(), iss: ISSUER, exp });
  const revoked = await fetch(`${target.baseUrl}/blacklist`, { method: "POST", headers: { authorization: `Bearer ${token}` } });
  expect(revoked.status).toBe(200);
  let acceptances = 0;
  let asked = 0;
  // Past the last instant the verifier could accept it, and the second the old rule left open.
  const until = (exp + TOLERANCE_SECONDS + 1.5) * 1000;
  while (Date.now() < until) {
    if ((await getInfo(target.port, token)).status === 200) acceptances++;
    asked++;
  }
  return { acceptances, asked };
}

describe.each([
  ["SQLite", () => ({})],
  ["Redis", () => ({ REDIS_URL: redis.url, REDIS_KEY_PREFIX: `frac-${Date.now()}:` })],
])("revoked token with a fractional exp on %s", (_store, env) => {
  let target: Target;
  beforeAll(async () => {
    target = await startTarget({ JWT_CLOCK_TOLERANCE_SECONDS: String(TOLERANCE_SECONDS), ...env() });
  });
  afterAll(() => target?.close());

  it("is accepted 0 times from its revocation until after it expires (3 tokens)", async () => {
    const runs = await Promise.all([0, 1, 2].map(() => acceptancesAfterRevocation(target)));
    console.log(`fractional exp on ${_store}: ${runs.map((r) => `${r.acceptances} of ${r.asked}`).join(", ")} answers were "valid"`);
    for (const run of runs) {
      expect(run.asked).toBeGreaterThan(100);
      expect(run.acceptances).toBe(0);
    }
  });
});
