import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startRedis, type TestRedis } from "./helpers/redis-server.js";
import { ADMIN_KEY, startService, type TestService } from "./helpers/service.js";
import { bearer, grpcJsCaller, restCall, type GrpcCaller, type Outcome } from "./helpers/clients.js";
import { mint } from "./helpers/tokens.js";

const admin = { "x-admin-key": ADMIN_KEY };
const iso = (ms: number) => new Date(ms).toISOString();
/** A subject no other test uses. */
const someone = () => `user-${crypto.randomUUID()}`;

let redis: TestRedis;
beforeAll(async () => {
  redis = await startRedis();
});
afterAll(async () => {
  await redis.stop();
});

/** Every operator RPC, as a REST request and as a gRPC call. */
const OPERATOR_CALLS: Array<{ rpc: string; rest: [string, string, unknown?]; grpc: object }> = [
  { rpc: "RevokeJti", rest: ["POST", "/jtis/j-1/revocation", {}], grpc: { jti: "j-1" } },
  { rpc: "RestoreJti", rest: ["DELETE", "/jtis/j-1/revocation"], grpc: { jti: "j-1" } },
  { rpc: "GetJtiRevocation", rest: ["GET", "/jtis/j-1/revocation"], grpc: { jti: "j-1" } },
  { rpc: "RevokeSubject", rest: ["POST", "/subjects/alice/revocation", {}], grpc: { subject: "alice" } },
  { rpc: "RestoreSubject", rest: ["DELETE", "/subjects/alice/revocation"], grpc: { subject: "alice" } },
  { rpc: "GetSubjectRevocation", rest: ["GET", "/subjects/alice/revocation"], grpc: { subject: "alice" } },
  { rpc: "InspectToken", rest: ["POST", "/tokens/inspect", { token: "a.b.c" }], grpc: { token: "a.b.c" } },
  { rpc: "History", rest: ["GET", "/history"], grpc: {} },
  { rpc: "Unblacklist", rest: ["DELETE", "/blacklist", { token: "a.b.c" }], grpc: { token: "a.b.c" } },
  { rpc: "Blacklist", rest: ["POST", "/blacklist", { token: "a.b.c" }], grpc: { token: "a.b.c" } },
];

describe("operator RPCs refuse callers without the admin key", () => {
  let service: TestService;
  let disabled: TestService;
  let grpc: GrpcCaller;
  let grpcDisabled: GrpcCaller;
  beforeAll(async () => {
    service = await startService();
    disabled = await startService({ ADMIN_KEY: undefined });
    grpc = grpcJsCaller(service.port);
    grpcDisabled = grpcJsCaller(disabled.port);
  });
  afterAll(async () => {
    grpc.close();
    grpcDisabled.close();
    await service.close();
    await disabled.close();
  });

  const holder = () => bearer(mint()); // a valid token, but no operator key
  describe.each(OPERATOR_CALLS)("$rpc", ({ rpc, rest: [method, path, body], grpc: request }) => {
    it.each([
      ["no key", () => holder()],
      ["a wrong key", () => ({ ...holder(), "x-admin-key": `${ADMIN_KEY}x` })],
      ["an empty key", () => ({ ...holder(), "x-admin-key": "" })],
    ])("with %s: 403 on REST, PERMISSION_DENIED on gRPC", async (_case, headers) => {
      const overRest = await restCall(service.baseUrl, method, path, headers(), body);
      expect(overRest).toMatchObject({ ok: false, status: 403, code: "permission_denied" });
      expect((overRest as { message: string }).message).toMatch(/x-admin-key/);
      const overGrpc = await grpc.call(rpc, request, headers());
      expect(overGrpc).toMatchObject({ ok: false, code: "permission_denied" });
    });

    it("says how to enable it when the server has no ADMIN_KEY", async () => {
      const overRest = await restCall(disabled.baseUrl, method, path, { ...holder(), ...admin }, body);
      expect(overRest).toMatchObject({ ok: false, status: 403, code: "permission_denied" });
      expect((overRest as { message: string }).message).toMatch(/disabled: set ADMIN_KEY/);
      expect(await grpcDisabled.call(rpc, request, { ...holder(), ...admin })).toMatchObject({ ok: false, code: "permission_denied" });
    });
  });
});

/** A 30-day lifetime limit, opted into, so jti and subject entries have an end (without one they are kept until lifted). */
const LIMITED = { JWT_MAX_LIFETIME_SECONDS: String(30 * 86400) };

describe.each([
  { store: "sqlite", env: (): Record<string, string> => ({ ...LIMITED }) },
  {
    store: "redis",
    env: (): Record<string, string> => ({ ...LIMITED, REDIS_URL: redis.url, REDIS_KEY_PREFIX: `ops-${crypto.randomUUID()}:` }),
  },
])("revocation scopes through the API, on $store, with JWT_MAX_LIFETIME_SECONDS", ({ env }) => {
  let service: TestService;
  let grpc: GrpcCaller;
  const rest = (method: string, path: string, body?: unknown, headers: Record<string, string> = admin) =>
    restCall(service.baseUrl, method, path, headers, body);
  const info = (token: string) => grpc.call("Info", {}, bearer(token));
  beforeAll(async () => {
    service = await startService(env());
    grpc = grpcJsCaller(service.port);
  });
  afterAll(async () => {
    grpc.close();
    await service.close();
  });

  it("revokes every token with a jti, and restores it", async () => {
    const jti = crypto.randomUUID();
    const [token, twin, other] = [mint({ jti }), mint({ jti, sub: "bob" }), mint()];
    expect((await info(token)).ok).toBe(true);
    const revoked = await rest("POST", `/jtis/${jti}/revocation`, { reason: "token leaked in a log" });
    expect(revoked).toMatchObject({ ok: true, body: { success: true, changed: true, info: "jti revoked" } });
    const revocation = (revoked as { body: { revocation: Record<string, unknown> } }).body.revocation;
    expect(revocation).toMatchObject({ scope: "REVOCATION_SCOPE_JTI", issuer: "https://www.discogs.com/", jti, revoked: true });
    // Kept for the maximum token lifetime (30 days here) and the clock tolerance, then forgotten.
    const expiresIn = Date.parse(revocation.expires_at as string) - Date.now();
    expect(expiresIn).toBeGreaterThan(30 * 86400_000 - 60_000);
    expect(expiresIn).toBeLessThan(30 * 86400_000 + 60_000);

    expect(await info(token)).toMatchObject({ ok: false, code: "unauthenticated", message: "jti revoked" });
    expect(await info(twin)).toMatchObject({ ok: false, message: "jti revoked" });
    expect((await info(other)).ok).toBe(true);
    expect(await rest("POST", `/jtis/${jti}/revocation`)).toMatchObject({ body: { changed: false, info: "jti was already revoked" } });
    expect(await grpc.call("GetJtiRevocation", { jti }, admin)).toMatchObject({ ok: true, body: { info: "jti revoked" } });

    expect(await grpc.call("RestoreJti", { jti }, admin)).toMatchObject({ ok: true, body: { changed: true, info: "jti restored" } });
    expect((await info(token)).ok).toBe(true);
    expect(await rest("GET", `/jtis/${jti}/revocation`)).toMatchObject({
      ok: true,
      body: { info: "jti is not revoked", revocation: { revoked: false } },
    });
    expect(await rest("DELETE", `/jtis/${jti}/revocation`)).toMatchObject({ body: { changed: false, info: "jti was not revoked" } });
  });

  it("scopes a jti to an issuer", async () => {
    const jti = crypto.randomUUID();
    await rest("POST", `/jtis/${jti}/revocation`, { issuer: "https://elsewhere.example/" });
    expect((await info(mint({ jti }))).ok).toBe(true);
  });

  it("revokes a subject's tokens issued before now, and not those issued after", async () => {
    const subject = someone();
    const before = mint({ sub: subject, iat: Date.now() / 1000 - 60 });
    const bystander = mint({ sub: someone(), iat: Date.now() / 1000 - 60 });
    const revoked = await grpc.call("RevokeSubject", { subject, reason: "account compromised" }, admin);
    expect(revoked).toMatchObject({ ok: true, body: { changed: true } });
    const body = (revoked as { body: { info: string; revocation: { issuedBefore: { seconds: string; nanos: number } } } }).body;
    const cutoffMs = Number(body.revocation.issuedBefore.seconds) * 1000 + body.revocation.issuedBefore.nanos / 1e6;
    expect(Math.abs(cutoffMs - Date.now())).toBeLessThan(5000);
    expect(body.info).toBe(`Subject revoked at ${iso(cutoffMs)}`);

    expect(await info(before)).toMatchObject({ ok: false, code: "unauthenticated", message: `Subject revoked at ${iso(cutoffMs)}` });
    expect((await info(bystander)).ok).toBe(true);
    // Logging in again after the cutoff works: an iat with milliseconds past it.
    const after = mint({ sub: subject, iat: (cutoffMs + 5) / 1000 });
    expect((await info(after)).ok).toBe(true);

    const state = await rest("GET", `/subjects/${subject}/revocation`);
    expect(state).toMatchObject({ ok: true, body: { info: `Subject revoked at ${iso(cutoffMs)}` } });
    // A google.protobuf.Timestamp in JSON: RFC 3339 with 0, 3, 6 or 9 fractional digits (none on a whole second).
    const issuedBefore = (state as { body: { revocation: { issued_before: string } } }).body.revocation.issued_before;
    expect(issuedBefore).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{3})?Z$/);
    expect(Date.parse(issuedBefore)).toBe(cutoffMs);

    expect(await rest("DELETE", `/subjects/${subject}/revocation`, undefined)).toMatchObject({
      body: { changed: true, info: "Subject restored" },
    });
    expect((await info(before)).ok).toBe(true);
  });

  it("decides a token issued in the cutoff's own second by its milliseconds", async () => {
    const subject = someone();
    const second = Math.floor(Date.now() / 1000) - 30;
    const cutoffMs = second * 1000 + 500;
    const revoked = await rest("POST", `/subjects/${subject}/revocation`, { issued_before: iso(cutoffMs) });
    expect(revoked).toMatchObject({ ok: true, body: { changed: true, info: `Subject revoked at ${iso(cutoffMs)}` } });
    const issuedAt = (ms: number) => mint({ sub: subject, iat: ms / 1000 });
    // Just before the cutoff, in the same second: revoked.
    expect(await info(issuedAt(cutoffMs - 1))).toMatchObject({ ok: false, message: `Subject revoked at ${iso(cutoffMs)}` });
    // Just after, in the same second: valid.
    expect((await info(issuedAt(cutoffMs + 1))).ok).toBe(true);
    // At the cutoff exactly: not issued before it, so valid.
    expect((await info(issuedAt(cutoffMs))).ok).toBe(true);
    // A whole-second iat stands for the start of its second: before a cutoff later in that second.
    expect((await info(issuedAt(second * 1000))).ok).toBe(false);
  });

  it("moves a cutoff later, never earlier, and refuses one in the future", async () => {
    const subject = someone();
    const now = Date.now();
    await rest("POST", `/subjects/${subject}/revocation`, { issued_before: iso(now - 60_000) });
    const earlier = await rest("POST", `/subjects/${subject}/revocation`, { issued_before: iso(now - 120_000) });
    expect(earlier).toMatchObject({ ok: true, body: { changed: false } });
    expect((earlier as { body: { info: string } }).body.info).toMatch(/already in force/);
    expect((await info(mint({ sub: subject, iat: (now - 90_000) / 1000 }))).ok).toBe(false);
    expect((await info(mint({ sub: subject, iat: (now - 30_000) / 1000 }))).ok).toBe(true);
    expect(await rest("POST", `/subjects/${subject}/revocation`, { issued_before: iso(now - 10_000) })).toMatchObject({
      body: { changed: true },
    });
    expect((await info(mint({ sub: subject, iat: (now - 30_000) / 1000 }))).ok).toBe(false);

    const future = await rest("POST", `/subjects/${subject}/revocation`, { issued_before: iso(Date.now() + 3_600_000) });
    expect(future).toMatchObject({ ok: false, status: 400, code: "invalid_argument" });
    expect((future as { message: string }).message).toMatch(/in the future/);
    // A cutoff so old that every token issued before it has expired revokes nothing.
    const stale = await rest("POST", `/subjects/${someone()}/revocation`, { issued_before: iso(Date.now() - 40 * 86400_000) });
    expect(stale).toMatchObject({ ok: true, body: { changed: false, revocation: { revoked: false } } });
    expect((stale as { body: { info: string } }).body.info).toMatch(/nothing to revoke/);
  });

  it("takes any subject in the path, percent-encoded", async () => {
    const subject = `team/${someone()} ü`;
    const token = mint({ sub: subject, iat: Date.now() / 1000 - 10 });
    expect(await rest("POST", `/subjects/${encodeURIComponent(subject)}/revocation`)).toMatchObject({ ok: true, body: { changed: true } });
    expect((await info(token)).ok).toBe(false);
    expect(await grpc.call("GetSubjectRevocation", { subject }, admin)).toMatchObject({
      ok: true,
      body: { revocation: { subject, revoked: true } },
    });
  });

  it.each([
    ["a 5000-character jti", "POST", `/jtis/${"j".repeat(5000)}/revocation`, {}],
    ["a reason over 1024 characters", "POST", "/jtis/x/revocation", { reason: "r".repeat(1025) }],
    ["a malformed cutoff", "POST", "/subjects/x/revocation", { issued_before: "yesterday" }],
    ["a cutoff before 1970", "POST", "/subjects/x/revocation", { issued_before: "0001-01-01T00:00:00Z" }],
    ["a cutoff in year 9999", "POST", "/subjects/x/revocation", { issued_before: "9999-12-31T23:59:59Z" }],
    ["a cutoff as an object", "POST", "/subjects/x/revocation", { issued_before: { seconds: "1e30" } }],
    ["a subject in the body that is not a string", "POST", "/subjects/x/revocation", { reason: 42 }],
    ["a negative page size", "GET", "/history?page_size=-1", undefined],
    ["a page size that is not a number", "GET", "/history?page_size=ten", undefined],
    ["a token that is not a string", "POST", "/tokens/inspect", { token: ["a", "b"] }],
    ["an over-long token to inspect", "POST", "/tokens/inspect", { token: "a".repeat(9000) }],
  ])("refuses %s with 400", async (_case, method, path, body) => {
    expect(await rest(method, path, body)).toMatchObject({ ok: false, status: 400, code: "invalid_argument" });
  });

  it("refuses an empty jti or subject over gRPC, where no path can hold it", async () => {
    for (const [rpc, request] of [
      ["RevokeJti", { jti: "" }],
      ["RevokeSubject", { subject: "" }],
      ["GetSubjectRevocation", {}],
    ] as const) {
      expect(await grpc.call(rpc, request, admin)).toMatchObject({
        ok: false,
        code: "invalid_argument",
        message: expect.stringMatching(/is required/),
      });
    }
  });

  it("lets an operator revoke and restore a token they hold, and a holder only their own", async () => {
    const token = mint({ sub: "held" });
    const revoked = await rest("POST", "/blacklist", { token, reason: "found in a paste" });
    expect(revoked).toMatchObject({ ok: true, body: { newly_blacklisted: true } });
    expect(await info(token)).toMatchObject({ ok: false, message: "Token is blacklisted" });
    // Someone else's token in the body, with only a bearer token: refused.
    const other = mint();
    expect(await rest("POST", "/blacklist", { token: other }, bearer(mint()))).toMatchObject({ status: 403 });
    expect((await info(other)).ok).toBe(true);
    // A token that does not verify is a bad argument, not a bad credential.
    expect(await rest("POST", "/blacklist", { token: mint({}, { expiresInSeconds: -60 }) })).toMatchObject({
      status: 400,
      code: "invalid_argument",
      message: "token: Token has expired",
    });
    expect(await grpc.call("Unblacklist", { token }, admin)).toMatchObject({
      ok: true,
      body: { wasBlacklisted: true, revokedBy: "REVOCATION_SCOPE_UNSPECIFIED" },
    });
    expect((await info(token)).ok).toBe(true);
  });

  it("says when a token being blacklisted was already revoked by its jti", async () => {
    const jti = crypto.randomUUID();
    const token = mint({ jti });
    await rest("POST", `/jtis/${jti}/revocation`);
    const revoked = await grpc.call("Blacklist", {}, bearer(token));
    expect(revoked).toMatchObject({
      ok: true,
      body: { newlyBlacklisted: true, revokedBy: "REVOCATION_SCOPE_JTI", info: "Token blacklisted; it was already revoked: jti revoked" },
    });
    expect(await rest("POST", "/blacklist", undefined, bearer(mint()))).toMatchObject({
      body: { revoked_by: "REVOCATION_SCOPE_UNSPECIFIED", info: "Token blacklisted" },
    });
  });

  it("says when a restored token is still revoked by its subject", async () => {
    const subject = someone();
    const token = mint({ sub: subject, iat: Date.now() / 1000 - 10 });
    await rest("POST", "/blacklist", { token });
    await rest("POST", `/subjects/${subject}/revocation`);
    const restored = await rest("DELETE", "/blacklist", { token });
    expect(restored).toMatchObject({ ok: true, body: { was_blacklisted: true, revoked_by: "REVOCATION_SCOPE_SUBJECT" } });
    expect((restored as { body: { info: string } }).body.info).toMatch(/^Token unblacklisted; it is still revoked: Subject revoked at /);
  });

  it("inspects a token: valid, revoked and by what, or why it does not verify", async () => {
    const jti = crypto.randomUUID();
    const token = mint({ jti });
    expect(await rest("POST", "/tokens/inspect", { token })).toMatchObject({
      ok: true,
      body: { valid: true, verified: true, info: "Token is valid", revoked_by: "REVOCATION_SCOPE_UNSPECIFIED", decoded_token: { jti } },
    });
    await rest("POST", `/jtis/${jti}/revocation`);
    expect(await grpc.call("InspectToken", { token }, admin)).toMatchObject({
      ok: true,
      body: { valid: false, verified: true, info: "jti revoked", revokedBy: "REVOCATION_SCOPE_JTI" },
    });
    const garbage = await rest("POST", "/tokens/inspect", { token: "not-a-jwt" });
    expect(garbage).toMatchObject({ ok: true, body: { valid: false, verified: false } });
    expect((garbage as { body: { info: string } }).body.info).toMatch(/malformed/);
    expect(await rest("POST", "/tokens/inspect", {})).toMatchObject({ status: 400, message: "token is required" });
  });

  it("pages through the history, newest first, with who did what and why, and never a token", async () => {
    const token = mint({ sub: "historian" });
    const subject = someone();
    await grpc.call("Blacklist", {}, bearer(token)); // by its holder
    await rest("POST", `/subjects/${subject}/revocation`, { reason: "offboarded" });
    await rest("DELETE", `/subjects/${subject}/revocation`, undefined);
    const first = await rest("GET", "/history?page_size=2");
    expect(first.ok).toBe(true);
    const page = (first as { body: { events: Array<Record<string, unknown>>; next_page_token: string } }).body;
    expect(page.events.map((e) => [e.action, e.scope, e.actor, e.subject])).toEqual([
      ["AUDIT_ACTION_RESTORE", "REVOCATION_SCOPE_SUBJECT", "AUDIT_ACTOR_ADMIN", subject],
      ["AUDIT_ACTION_REVOKE", "REVOCATION_SCOPE_SUBJECT", "AUDIT_ACTOR_ADMIN", subject],
    ]);
    expect(page.events[1]).toMatchObject({ reason: "offboarded", issuer: "https://www.discogs.com/" });
    expect(page.next_page_token).not.toBe("");
    const second = await rest("GET", `/history?page_size=1&page_token=${encodeURIComponent(page.next_page_token)}`);
    const older = (second as { body: { events: Array<Record<string, unknown>> } }).body.events;
    expect(older[0]).toMatchObject({
      action: "AUDIT_ACTION_REVOKE",
      scope: "REVOCATION_SCOPE_TOKEN",
      actor: "AUDIT_ACTOR_SELF",
      subject: "historian",
    });
    expect(older[0]!.fingerprint).toMatch(/^[A-Za-z0-9_-]{43}$/);

    const all = JSON.stringify(await grpc.call("History", { pageSize: 1000 }, admin));
    const [, payload, signature] = token.split(".") as [string, string, string];
    for (const part of [payload, signature]) expect(all).not.toContain(part);
    expect(await rest("GET", "/history?page_token=bogus")).toMatchObject({ status: 400, code: "invalid_argument" });
    expect(await rest("GET", "/history?page_size=5000")).toMatchObject({ status: 400, code: "invalid_argument" });
  });
});

describe.each([
  { store: "redis", env: (): Record<string, string> => ({ REDIS_URL: redis.url, REDIS_KEY_PREFIX: `race-${crypto.randomUUID()}:` }) },
  {
    store: "sqlite",
    env: (): Record<string, string> => ({ SQLITE_PATH: `${process.env.TMPDIR ?? "/tmp"}/tb-race-${crypto.randomUUID()}.db` }),
  },
])("two instances on one $store store", ({ env }) => {
  let first: TestService;
  let second: TestService;
  beforeAll(async () => {
    const shared = env();
    first = await startService(shared);
    second = await startService(shared);
  });
  afterAll(async () => {
    await first.close();
    await second.close();
  });

  it.each([
    ["jti", () => `/jtis/${crypto.randomUUID()}/revocation`],
    ["subject", () => `/subjects/${someone()}/revocation`],
  ])("end concurrent revokes and restores of one %s in the state the history explains", async (scope, makePath) => {
    const path = makePath();
    const name = decodeURIComponent(path.split("/")[2]!);
    // Waves of racing calls: a revoke and a restore through each instance at once.
    const outcomes: Outcome[] = [];
    for (let wave = 0; wave < 10; wave++) {
      const racing = [first, second].flatMap((target) => [
        restCall(target.baseUrl, "POST", path, admin, {}),
        restCall(target.baseUrl, "DELETE", path, admin),
      ]);
      outcomes.push(...(await Promise.all(racing)));
    }
    expect(outcomes.every((o) => o.ok)).toBe(true);
    const changes = outcomes.filter((o) => o.ok && o.body.changed === true).length;

    const history = await restCall(first.baseUrl, "GET", "/history?page_size=1000", admin);
    type Event = { jti: string; subject: string; action: string; issued_before?: string };
    const events = (history as { body: { events: Event[] } }).body.events
      .filter((e) => (scope === "jti" ? e.jti : e.subject) === name)
      .reverse();
    // Every change, and only changes, is in the history, in the order they took effect.
    expect(events).toHaveLength(changes);
    expect(changes).toBeGreaterThan(1);
    // A jti can only flip; a subject may also move its cutoff later (revoke after revoke).
    if (scope === "jti") for (let i = 1; i < events.length; i++) expect(events[i]!.action).not.toBe(events[i - 1]!.action);
    const state = await restCall(second.baseUrl, "GET", path, admin);
    const revocation = (state as { body: { revocation: { revoked: boolean; issued_before?: string } } }).body.revocation;
    const last = events.at(-1)!;
    expect(revocation.revoked).toBe(last.action === "AUDIT_ACTION_REVOKE");
    if (revocation.revoked && scope === "subject") expect(revocation.issued_before).toBe(last.issued_before);
  });
});

describe("one Info is one Redis command, whatever scopes are in force", () => {
  it("counts commands with INFO commandstats", async () => {
    const service = await startService({ REDIS_URL: redis.url, REDIS_KEY_PREFIX: `count-${crypto.randomUUID()}:` });
    const grpc = grpcJsCaller(service.port);
    try {
      const subject = someone();
      const jti = crypto.randomUUID();
      // Entries in every scope, none matching the token checked below.
      await restCall(service.baseUrl, "POST", `/subjects/${subject}/revocation`, admin, { issued_before: iso(Date.now() - 60_000) });
      await restCall(service.baseUrl, "POST", `/jtis/${crypto.randomUUID()}/revocation`, admin);
      await restCall(service.baseUrl, "POST", "/blacklist", admin, { token: mint() });
      const token = mint({ sub: subject, jti, iat: Date.now() / 1000 });
      const stats = async () => {
        const text = (await redis.command("INFO", "commandstats")) as string;
        const calls = new Map<string, number>();
        for (const [, name, n] of text.matchAll(/^cmdstat_([a-z|]+):calls=(\d+)/gm)) calls.set(name!, Number(n));
        return calls;
      };
      const before = await stats();
      const N = 25;
      for (let i = 0; i < N; i++) expect((await grpc.call("Info", {}, bearer(token))).ok).toBe(true);
      const after = await stats();
      const delta = (name: string) => (after.get(name) ?? 0) - (before.get(name) ?? 0);
      const total = [...after.keys()].filter((name) => name !== "info").reduce((sum, name) => sum + delta(name), 0);
      expect(delta("mget")).toBe(N);
      expect(total).toBe(N);
    } finally {
      grpc.close();
      await service.close();
    }
  });
});
