import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { bearer, grpcJsClient, restCall, restHttp1Client, type Outcome, type TokenClient } from "./helpers/clients.js";
import { PERSISTENT, startRedis, type TestRedis } from "./helpers/redis-server.js";
import { ADMIN_KEY, startService, type TestService } from "./helpers/service.js";
import { mint } from "./helpers/tokens.js";
import { eventually } from "./helpers/eventually.js";

const STORE_TIMEOUT_MS = 300;
/** The deadline a caller may count on: the store deadline plus room for a loaded 2-core machine. */
const ANSWER_WITHIN_MS = STORE_TIMEOUT_MS + 1500;

interface Timed {
  outcome: Outcome;
  ms: number;
}

async function timed(call: Promise<Outcome>): Promise<Timed> {
  const started = Date.now();
  const outcome = await call;
  return { outcome, ms: Date.now() - started };
}

describe("fail closed (the default)", () => {
  let redis: TestRedis;
  let service: TestService;
  let rest: TokenClient;
  let grpc: TokenClient;

  beforeAll(async () => {
    // AOF with fsync on every write: what an acknowledged revocation needs to survive a crash.
    redis = await startRedis(PERSISTENT);
    service = await startService({ REDIS_URL: redis.url, STORE_TIMEOUT_MS: String(STORE_TIMEOUT_MS) });
    rest = restHttp1Client(service.baseUrl);
    grpc = grpcJsClient(service.port);
  });
  afterAll(async () => {
    grpc.close();
    await service.close();
    await redis.stop();
  });

  it("Redis killed mid-traffic: every answer is correct or UNAVAILABLE, in time, and no revoked token is ever valid; then it recovers and the revocations are still there", async () => {
    const revoked = Array.from({ length: 5 }, (_, i) => mint({ sub: `revoked-${i}` }));
    const valid = Array.from({ length: 5 }, (_, i) => mint({ sub: `valid-${i}` }));
    for (const token of revoked) expect((await rest.blacklist(bearer(token))).ok).toBe(true);
    // And a subject, whose older tokens are all revoked.
    const offboarded = mint({ sub: "offboarded", iat: Date.now() / 1000 - 60 });
    const admin = { "x-admin-key": ADMIN_KEY };
    expect((await restCall(service.baseUrl, "POST", "/subjects/offboarded/revocation", admin, { reason: "left" })).ok).toBe(true);

    const answers: Array<Timed & { revoked: boolean }> = [];
    const round = async () => {
      const calls = [...revoked, ...valid].flatMap((token, i) =>
        [rest, grpc].map(async (client) => ({ ...(await timed(client.info(bearer(token)))), revoked: i < revoked.length })),
      );
      answers.push(...(await Promise.all(calls)));
    };

    for (let i = 0; i < 5; i++) await round();
    const traffic = (async () => {
      for (let i = 0; i < 10; i++) await round();
    })();
    await redis.kill(); // while the rounds above are in flight
    await traffic;
    for (let i = 0; i < 3; i++) await round(); // fully down now

    const unavailable = answers.filter((a) => !a.outcome.ok && a.outcome.code === "unavailable");
    expect(unavailable.length).toBeGreaterThanOrEqual(3 * 20);
    for (const answer of answers) {
      expect(answer.ms).toBeLessThan(ANSWER_WITHIN_MS);
      if (answer.revoked) {
        expect(answer.outcome.ok).toBe(false);
        if (!answer.outcome.ok) expect(["unauthenticated", "unavailable"]).toContain(answer.outcome.code);
      } else if (!answer.outcome.ok) {
        expect(answer.outcome.code).toBe("unavailable");
      }
    }

    // Writes report failure instead of a success that was not stored.
    expect(await rest.blacklist(bearer(mint()))).toMatchObject({ ok: false, status: 503, code: "unavailable" });
    expect(await grpc.unblacklist(bearer(revoked[0]!, { "x-admin-key": "test-admin-key-0123456789" }))).toMatchObject({
      ok: false,
      code: "unavailable",
    });

    // So do the operator RPCs: a 503 with a message, in time, never a 500 or a guess.
    const operatorCalls: Array<[string, string, unknown?]> = [
      ["POST", "/jtis/j-1/revocation", {}],
      ["DELETE", "/jtis/j-1/revocation"],
      ["GET", "/jtis/j-1/revocation"],
      ["POST", "/subjects/someone/revocation", {}],
      ["DELETE", "/subjects/someone/revocation"],
      ["GET", "/subjects/someone/revocation"],
      ["POST", "/tokens/inspect", { token: valid[0]! }],
      ["GET", "/history"],
    ];
    for (const [method, path, body] of operatorCalls) {
      const answer = await timed(restCall(service.baseUrl, method, path, admin, body));
      expect(answer.outcome, `${method} ${path}`).toMatchObject({ ok: false, status: 503, code: "unavailable" });
      expect(answer.ms).toBeLessThan(ANSWER_WITHIN_MS);
    }

    await redis.restart();
    expect(await eventually(async () => (await rest.info(bearer(valid[0]!))).ok)).toBe(true);
    expect(await grpc.info(bearer(offboarded))).toMatchObject({
      ok: false,
      code: "unauthenticated",
      message: expect.stringMatching(/^Subject revoked at/),
    });
    const history = await restCall(service.baseUrl, "GET", "/history?page_size=100", admin);
    expect(JSON.stringify(history)).toContain('"reason":"left"');
    // Acknowledged before the crash, so still in force after Redis restarts from its AOF.
    for (const token of revoked) {
      expect(await grpc.info(bearer(token))).toMatchObject({ ok: false, code: "unauthenticated", message: "Token is blacklisted" });
    }
  });

  it("counts store errors in /metrics", async () => {
    const text = await (await fetch(`${service.baseUrl}/metrics`)).text();
    const errors = /^token_blacklist_store_errors_total\{operation="check"\} (\d+)$/m.exec(text);
    expect(Number(errors?.[1])).toBeGreaterThan(0);
    expect(text).toMatch(/^token_blacklist_fail_open_total 0$/m);
  });
});

describe("FAIL_OPEN=true", () => {
  let redis: TestRedis;
  let service: TestService;
  afterEach(async () => {
    await service.close();
    await redis.stop();
  });

  it("answers valid without a check while the store is down, says so, counts it, and still refuses writes", async () => {
    redis = await startRedis();
    service = await startService({ REDIS_URL: redis.url, STORE_TIMEOUT_MS: String(STORE_TIMEOUT_MS), FAIL_OPEN: "true" });
    const rest = restHttp1Client(service.baseUrl);
    const token = mint();
    expect((await rest.info(bearer(token))).ok).toBe(true);
    await redis.kill();

    const answer = await rest.info(bearer(token));
    expect(answer).toMatchObject({ ok: true, status: 200 });
    if (answer.ok) expect(answer.body.info).toMatch(/revocation NOT checked/);
    expect(await rest.blacklist(bearer(token))).toMatchObject({ ok: false, code: "unavailable" });
    // Verification still applies: fail-open never admits a bad token.
    expect(await rest.info(bearer("garbage"))).toMatchObject({ ok: false, code: "unauthenticated" });

    const text = await (await fetch(`${service.baseUrl}/metrics`)).text();
    expect(text).toMatch(/^token_blacklist_fail_open_total 1$/m);
  });
});
