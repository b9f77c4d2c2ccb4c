import { createServer as createH2cServer } from "node:http2";
import { createServer as createHttpServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { timestampFromMs } from "@bufbuild/protobuf/wkt";
import { Code, ConnectError, createClient, type Client } from "@connectrpc/connect";
import { connectNodeAdapter, createConnectTransport, createGrpcTransport } from "@connectrpc/connect-node";
import fc from "fast-check";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { TokenService, WatchRevocationsResponse_SnapshotReason as SnapshotReason } from "../gen/tokens/v1/token_service_pb.js";
import { createTokenChecker, tokenCheckInterceptor, tokenCheckMiddleware, verifiedToken, verifiedTokenOf } from "../src/client/index.js";
import { fingerprint } from "../src/jwt/fingerprint.js";
import { entryKey, type EntryId } from "../src/store/revocation-store.js";
import { errorInfoOf } from "./helpers/clients.js";
import { eventually } from "./helpers/eventually.js";
import { FeedReader } from "./helpers/feed-reader.js";
import { parsePrometheus, sampleValue } from "./helpers/prometheus.js";
import { PERSISTENT, startRedis, type TestRedis } from "./helpers/redis-server.js";
import { startCluster, type TestCluster } from "./helpers/redis-topologies.js";
import { ADMIN_KEY, startService, type TestService } from "./helpers/service.js";
import { ISSUER, SECRET, mint } from "./helpers/tokens.js";

const FEED_KEY = "test-feed-key-0123456789abcdef";
const admin = { "x-admin-key": ADMIN_KEY };
const tokenClient = (baseUrl: string): Client<typeof TokenService> =>
  createClient(TokenService, createConnectTransport({ baseUrl, httpVersion: "2" }));

/** Drains one WatchRevocations call until it fails or ends; returns the error. */
async function firstError(call: AsyncIterable<unknown>): Promise<ConnectError | undefined> {
  try {
    for await (const _ of call) return undefined;
  } catch (err) {
    return ConnectError.from(err);
  }
  return undefined;
}

describe("WatchRevocations access", () => {
  let service: TestService;
  beforeAll(async () => {
    service = await startService({ FEED_KEY });
  });
  afterAll(async () => {
    await service.close();
  });

  it.each([
    ["no key", {}],
    ["a wrong feed key", { "x-feed-key": `${FEED_KEY}x` }],
    ["the admin key in x-feed-key while FEED_KEY is set", { "x-feed-key": ADMIN_KEY }],
    ["the feed key in x-admin-key", { "x-admin-key": FEED_KEY }],
  ])("refuses %s with PERMISSION_DENIED and FEED_KEY_REQUIRED, on Connect and on gRPC", async (_case, headers) => {
    const overConnect = await firstError(tokenClient(service.baseUrl).watchRevocations({}, { headers }));
    expect(overConnect?.code).toBe(Code.PermissionDenied);
    expect(errorInfoOf(overConnect!).reason).toBe("FEED_KEY_REQUIRED");
    const grpc = createClient(TokenService, createGrpcTransport({ baseUrl: service.baseUrl }));
    const overGrpc = await firstError(grpc.watchRevocations({}, { headers }));
    expect(overGrpc?.code).toBe(Code.PermissionDenied);
    expect(errorInfoOf(overGrpc!).reason).toBe("FEED_KEY_REQUIRED");
  });

  it.each([
    ["x-feed-key", FEED_KEY],
    ["x-admin-key", ADMIN_KEY],
  ])("opens with %s", async (header, key) => {
    const reader = new FeedReader(key, header);
    reader.open(service.baseUrl);
    expect(await eventually(async () => reader.heartbeats > 0)).toBe(true);
    expect(reader.starts).toEqual([SnapshotReason.NO_CURSOR]);
    await reader.close();
  });

  it("refuses a cursor it never handed out with INVALID_ARGUMENT", async () => {
    for (const cursor of ["abc", "1,2", "-1", "0-0", "9".repeat(30)]) {
      const error = await firstError(tokenClient(service.baseUrl).watchRevocations({ cursor }, { headers: { "x-feed-key": FEED_KEY } }));
      expect(error?.code, cursor).toBe(Code.InvalidArgument);
      expect(errorInfoOf(error!), cursor).toEqual({ reason: "ARGUMENT_INVALID", metadata: { field: "cursor" } });
    }
  });

  it("carries fingerprints, never a token", async () => {
    const token = mint();
    await tokenClient(service.baseUrl).blacklist({}, { headers: { authorization: `Bearer ${token}` } });
    const reader = new FeedReader(FEED_KEY);
    reader.open(service.baseUrl);
    expect(await eventually(async () => reader.held.has(fingerprint(token)))).toBe(true);
    await reader.close();
    for (const key of reader.held.keys()) expect(key).not.toContain(token.split(".")[1]!);
  });
});

/** One random change, through one of two instances. */
type Op =
  | { via: 0 | 1; kind: "revoke-token"; token: number; shortLived: boolean }
  | { via: 0 | 1; kind: "restore-token"; token: number }
  | { via: 0 | 1; kind: "revoke-jti" | "restore-jti"; jti: number }
  | { via: 0 | 1; kind: "revoke-subject"; subject: number; cutoffOffsetMs: number }
  | { via: 0 | 1; kind: "restore-subject"; subject: number };

const via = fc.constantFrom(0 as const, 1 as const);
const op: fc.Arbitrary<Op> = fc.oneof(
  fc.record({ via, kind: fc.constant("revoke-token" as const), token: fc.nat(5), shortLived: fc.boolean() }),
  fc.record({ via, kind: fc.constant("restore-token" as const), token: fc.nat(5) }),
  fc.record({ via, kind: fc.constantFrom("revoke-jti" as const, "restore-jti" as const), jti: fc.nat(3) }),
  fc.record({
    via,
    kind: fc.constant("revoke-subject" as const),
    subject: fc.nat(2),
    cutoffOffsetMs: fc.integer({ min: -60_000, max: 0 }),
  }),
  fc.record({ via, kind: fc.constant("restore-subject" as const), subject: fc.nat(2) }),
);

/**
 * The property: after any sequence of changes made through two instances,
 * a feed reader on each (one of them reconnecting half-way, to the other
 * instance, with its cursor) holds exactly the entries the store holds.
 */
function feedMatchesStore(name: string, env: () => Record<string, string>) {
  describe(`the feed equals the store after random changes through two instances (${name})`, () => {
    let a: TestService;
    let b: TestService;
    beforeAll(async () => {
      // Entries of short-lived tokens expire during a run: no clock tolerance, and a 2 s lifetime limit.
      const common = { FEED_KEY, JWT_CLOCK_TOLERANCE_SECONDS: "0", ...env() };
      a = await startService(common);
      b = await startService(common);
    });
    afterAll(async () => {
      await a?.close();
      await b?.close();
    });

    it("snapshot + changes = the store's entries (property, 15 runs)", async () => {
      await fc.assert(
        fc.asyncProperty(fc.array(op, { minLength: 5, maxLength: 25 }), async (ops) => {
          const run = crypto.randomUUID();
          const tokens = Array.from({ length: 6 }, (_, i) => mint({ sub: `${run}-t${i}` }));
          const shortTokens = Array.from({ length: 6 }, (_, i) => mint({ sub: `${run}-s${i}` }, { expiresInSeconds: 1 }));
          const clients = [tokenClient(a.baseUrl), tokenClient(b.baseUrl)];
          const onA = new FeedReader(FEED_KEY);
          const moving = new FeedReader(FEED_KEY);
          onA.open(a.baseUrl);
          moving.open(b.baseUrl);
          const touched = new Map<string, EntryId>();
          const touch = (id: EntryId) => touched.set(entryKey(id), id);
          for (const [i, step] of ops.entries()) {
            if (i === Math.floor(ops.length / 2)) {
              await moving.close();
              moving.open(a.baseUrl); // resumes from its cursor on the other instance
            }
            const client = clients[step.via]!;
            switch (step.kind) {
              case "revoke-token": {
                const token = (step.shortLived ? shortTokens : tokens)[step.token]!;
                touch({ scope: "token", fingerprint: fingerprint(token), placedWith: placementOf(token) });
                await client.blacklist({ token }, { headers: admin }).catch(() => {}); // a short-lived token may have expired
                break;
              }
              case "restore-token":
                touch({ scope: "token", fingerprint: fingerprint(tokens[step.token]!), placedWith: placementOf(tokens[step.token]!) });
                await client.unblacklist({ token: tokens[step.token]! }, { headers: admin });
                break;
              case "revoke-jti":
              case "restore-jti": {
                const jti = `${run}-j${step.jti}`;
                touch({ scope: "jti", issuer: ISSUER, jti });
                if (step.kind === "revoke-jti") await client.revokeJti({ jti }, { headers: admin });
                else await client.restoreJti({ jti }, { headers: admin });
                break;
              }
              case "revoke-subject": {
                const subject = `${run}-u${step.subject}`;
                touch({ scope: "subject", issuer: ISSUER, subject });
                const issuedBefore = timestampFromMs(Date.now() + step.cutoffOffsetMs);
                await client.revokeSubject({ subject, issuedBefore }, { headers: admin });
                break;
              }
              case "restore-subject": {
                const subject = `${run}-u${step.subject}`;
                touch({ scope: "subject", issuer: ISSUER, subject });
                await client.restoreSubject({ subject }, { headers: admin });
                break;
              }
            }
          }
          // What the store holds for every key the run touched, asked through its own lookup.
          let truth = new Map<string, number | undefined>();
          const readTruth = async () => {
            truth = new Map();
            for (const [key, id] of touched) {
              const entry = await a.app.store.lookup(id);
              if (entry !== undefined) truth.set(key, entry.issuedBeforeMs);
            }
          };
          const held = (reader: FeedReader) =>
            new Map([...reader.live()].filter(([key]) => touched.has(key)).map(([key, entry]) => [key, entry.issuedBeforeMs]));
          const settled = await eventually(async () => {
            const now = Date.now();
            // An entry expiring this very moment may be gone from one side and not the other yet.
            const expiringNow = (reader: FeedReader) =>
              [...reader.held].some(([key, e]) => touched.has(key) && e.expiresAtMs !== undefined && Math.abs(e.expiresAtMs - now) < 1500);
            if (expiringNow(onA) || expiringNow(moving)) return false;
            await readTruth();
            return sameEntries(held(onA), truth) && sameEntries(held(moving), truth);
          }, 15_000);
          await onA.close();
          await moving.close();
          expect(moving.starts[0]).toBe(SnapshotReason.NO_CURSOR);
          expect(moving.starts.slice(1)).toEqual(["resumed"]);
          if (!settled) {
            // Say what differs.
            expect(Object.fromEntries(held(onA))).toEqual(Object.fromEntries(truth));
            expect(Object.fromEntries(held(moving))).toEqual(Object.fromEntries(truth));
          }
        }),
        { numRuns: 15 },
      );
    }, 180_000);
  });
}

/** Where the service places a token's entry (EntryId.placedWith): with its jti's entry, else its subject's. */
function placementOf(token: string): string | undefined {
  const { jti, sub } = JSON.parse(Buffer.from(token.split(".")[1]!, "base64url").toString()) as { jti?: string; sub?: string };
  if (jti !== undefined) return entryKey({ scope: "jti", issuer: ISSUER, jti });
  return sub === undefined ? undefined : entryKey({ scope: "subject", issuer: ISSUER, subject: sub });
}

function sameEntries(a: Map<string, number | undefined>, b: Map<string, number | undefined>): boolean {
  if (a.size !== b.size) return false;
  for (const [key, cutoff] of a) if (!b.has(key) || b.get(key) !== cutoff) return false;
  return true;
}

const shared = { dir: "" };
feedMatchesStore("SQLite file shared by two instances", () => ({ SQLITE_PATH: `${shared.dir}/tokens.db` }));

let redis: TestRedis;
let cluster: TestCluster;
beforeAll(async () => {
  const { mkdtempSync } = await import("node:fs");
  const { tmpdir } = await import("node:os");
  const { join } = await import("node:path");
  shared.dir = mkdtempSync(join(tmpdir(), "tb-feed-"));
  [redis, cluster] = await Promise.all([startRedis(), startCluster()]);
}, 60_000);
afterAll(async () => {
  await Promise.all([redis?.stop(), cluster?.stop()]);
});
feedMatchesStore("one Redis", () => ({ REDIS_URL: redis.url }));
feedMatchesStore("Redis Cluster", () => cluster.env);

describe("cursors", () => {
  let service: TestService;
  beforeAll(async () => {
    service = await startService({ FEED_KEY, REDIS_URL: redis.url });
  });
  afterAll(async () => {
    await service.close();
  });

  it("a cursor from before an instance started resumes from the store's log", async () => {
    const reader = new FeedReader(FEED_KEY);
    reader.open(service.baseUrl);
    expect(await eventually(async () => reader.heartbeats > 0)).toBe(true);
    await reader.close();
    const client = tokenClient(service.baseUrl);
    const token = mint();
    await client.blacklist({}, { headers: { authorization: `Bearer ${token}` } });
    const later = await startService({ FEED_KEY, REDIS_URL: redis.url });
    try {
      reader.open(later.baseUrl);
      expect(await eventually(async () => reader.held.has(fingerprint(token)))).toBe(true);
      expect(reader.starts).toEqual([SnapshotReason.NO_CURSOR, "resumed"]);
      await reader.close();
    } finally {
      await later.close();
    }
  });

  it.each([
    ["Redis", () => ({ FEED_KEY, REDIS_URL: redis.url }), "99999999999999-0"],
    ["SQLite", () => ({ FEED_KEY }), "999999999"],
  ])(
    "a well-formed cursor past the end of the log (a restored backup, another deployment) gets a fresh snapshot on %s",
    async (_store, env, cursor) => {
      const own = await startService(env());
      try {
        const token = mint();
        await tokenClient(own.baseUrl).blacklist({}, { headers: { authorization: `Bearer ${token}` } });
        const reader = new FeedReader(FEED_KEY);
        reader.cursor = cursor;
        reader.open(own.baseUrl);
        expect(await eventually(async () => reader.held.has(fingerprint(token)))).toBe(true);
        expect(reader.starts).toEqual([SnapshotReason.CURSOR_TOO_OLD]);
        await reader.close();
      } finally {
        await own.close();
      }
    },
  );

  it("a cursor whose changes the log no longer holds gets a fresh snapshot, saying why", async () => {
    // A stream capped at one event (Redis trims it to about a hundred).
    const env = { FEED_KEY, REDIS_URL: redis.url, REDIS_KEY_PREFIX: `capped-${crypto.randomUUID()}:`, HISTORY_MAX_EVENTS: "1" };
    const capped = await startService(env);
    try {
      const reader = new FeedReader(FEED_KEY);
      reader.open(capped.baseUrl);
      expect(await eventually(async () => reader.heartbeats > 0)).toBe(true);
      await reader.close();
      const client = tokenClient(capped.baseUrl);
      const tokens = Array.from({ length: 300 }, () => mint());
      for (const token of tokens) await client.blacklist({}, { headers: { authorization: `Bearer ${token}` } });
      const later = await startService(env);
      try {
        reader.open(later.baseUrl);
        expect(await eventually(async () => tokens.every((token) => reader.held.has(fingerprint(token))))).toBe(true);
        expect(reader.starts).toEqual([SnapshotReason.NO_CURSOR, SnapshotReason.CURSOR_TOO_OLD]);
        await reader.close();
      } finally {
        await later.close();
      }
    } finally {
      await capped.close();
    }
  });

  it("a cursor still held resumes with only what was missed", async () => {
    const reader = new FeedReader(FEED_KEY);
    reader.open(service.baseUrl);
    expect(await eventually(async () => reader.heartbeats > 0)).toBe(true);
    await reader.close();
    const before = reader.messages;
    const client = tokenClient(service.baseUrl);
    const missed = [mint(), mint(), mint()];
    for (const token of missed) await client.blacklist({}, { headers: { authorization: `Bearer ${token}` } });
    reader.open(service.baseUrl);
    expect(await eventually(async () => missed.every((token) => reader.held.has(fingerprint(token))))).toBe(true);
    await reader.close();
    expect(reader.starts).toEqual([SnapshotReason.NO_CURSOR, "resumed"]);
    // resumed + 3 changes, and heartbeats: no snapshot entries.
    expect(reader.messages - before - reader.heartbeats).toBeLessThanOrEqual(4 + reader.heartbeats);
  });
});

describe("REVOCATION_CACHE=mirror", () => {
  let writer: TestService;
  let mirror: TestService;
  let ownRedis: TestRedis;
  beforeAll(async () => {
    ownRedis = await startRedis(PERSISTENT); // restarted after an outage, it must come back with its data
    writer = await startService({ REDIS_URL: ownRedis.url });
    mirror = await startService({
      REDIS_URL: ownRedis.url,
      REVOCATION_CACHE: "mirror",
      MIRROR_MAX_STALENESS_MS: "2500",
      STORE_TIMEOUT_MS: "300",
    });
  });
  afterAll(async () => {
    await writer?.close();
    await mirror?.close();
    await ownRedis?.stop();
  });

  it("refuses a token revoked through another instance once the feed delivers it, and its own revocations at once", async () => {
    const token = mint();
    const info = () => tokenClient(mirror.baseUrl).info({}, { headers: { authorization: `Bearer ${token}` } });
    expect((await info()).success).toBe(true);
    await tokenClient(writer.baseUrl).blacklist({}, { headers: { authorization: `Bearer ${token}` } });
    expect(
      await eventually(
        async () =>
          (await info().then(
            () => "valid",
            (e) => ConnectError.from(e).code,
          )) === Code.Unauthenticated,
        5000,
      ),
    ).toBe(true);
    const own = mint();
    await tokenClient(mirror.baseUrl).blacklist({}, { headers: { authorization: `Bearer ${own}` } });
    const error = await tokenClient(mirror.baseUrl)
      .info({}, { headers: { authorization: `Bearer ${own}` } })
      .catch((e) => ConnectError.from(e));
    expect(error).toBeInstanceOf(ConnectError);
    expect((error as ConnectError).rawMessage).toBe("Token is blacklisted");
  });

  it("says how stale the mirror is, how many entries it holds and how many streams watch it, in /metrics", async () => {
    const metrics = async () => parsePrometheus(await (await fetch(`${mirror.baseUrl}/metrics`)).text());
    // The lag has a sample once the mirror has loaded.
    expect(await eventually(async () => (await metrics()).some((sample) => sample.name === "token_blacklist_feed_lag_seconds"))).toBe(true);
    const before = await metrics();
    expect(sampleValue(before, "token_blacklist_feed_lag_seconds")).toBeLessThan(2.5);
    const entries = sampleValue(before, "token_blacklist_feed_entries");
    await tokenClient(writer.baseUrl).blacklist({}, { headers: { authorization: `Bearer ${mint()}` } });
    expect(await eventually(async () => sampleValue(await metrics(), "token_blacklist_feed_entries") === entries + 1)).toBe(true);
    const reader = new FeedReader(ADMIN_KEY, "x-admin-key");
    reader.open(mirror.baseUrl);
    expect(await eventually(async () => sampleValue(await metrics(), "token_blacklist_feed_watchers") === 1)).toBe(true);
    await reader.close();
    expect(await eventually(async () => sampleValue(await metrics(), "token_blacklist_feed_watchers") === 0)).toBe(true);
  });

  it("answers from memory while the store is down, until the staleness bound; then UNAVAILABLE", async () => {
    const valid = mint();
    const revoked = mint();
    await tokenClient(writer.baseUrl).blacklist({}, { headers: { authorization: `Bearer ${revoked}` } });
    const codeOf = (token: string) =>
      tokenClient(mirror.baseUrl)
        .info({}, { headers: { authorization: `Bearer ${token}` } })
        .then(
          () => "valid",
          (e) => Code[ConnectError.from(e).code],
        );
    expect(await eventually(async () => (await codeOf(revoked)) === "Unauthenticated", 5000)).toBe(true);
    await ownRedis.kill();
    try {
      expect(await codeOf(valid)).toBe("valid");
      expect(await codeOf(revoked)).toBe("Unauthenticated");
      expect(await eventually(async () => (await codeOf(valid)) === "Unavailable", 8000)).toBe(true);
      expect(await codeOf(revoked)).not.toBe("valid");
    } finally {
      await ownRedis.restart();
    }
    expect(await eventually(async () => (await codeOf(valid)) === "valid", 10_000)).toBe(true);
  });
});

describe("token-blacklist/client", () => {
  let service: TestService;
  beforeAll(async () => {
    service = await startService({ FEED_KEY, REDIS_URL: redis.url });
  });
  afterAll(async () => {
    await service?.close();
  });
  const jwt = { secret: SECRET, issuer: ISSUER };

  it("answers as Info does: valid with claims, revoked with Info's message, invalid with the verifier's", async () => {
    const checker = await createTokenChecker({ baseUrl: service.baseUrl, feedKey: FEED_KEY, jwt });
    try {
      await checker.ready();
      const client = tokenClient(service.baseUrl);
      const token = mint({ sub: `c-${crypto.randomUUID()}` });
      const verdict = await checker.check(token);
      expect(verdict).toMatchObject({ valid: true, info: "Token is valid", claims: { sub: expect.any(String) } });
      await client.blacklist({}, { headers: { authorization: `Bearer ${token}` } });
      expect(await eventually(async () => !(await checker.check(token)).valid, 5000)).toBe(true);
      const asInfo = await client.info({}, { headers: { authorization: `Bearer ${token}` } }).catch((e) => ConnectError.from(e));
      expect(await checker.check(token)).toEqual({
        valid: false,
        code: "unauthenticated",
        message: (asInfo as ConnectError).rawMessage,
        ...errorInfoOf(asInfo as ConnectError),
      });
      expect(errorInfoOf(asInfo as ConnectError)).toEqual({ reason: "TOKEN_REVOKED", metadata: { scope: "REVOCATION_SCOPE_TOKEN" } });
      const wrong = mint({}, { secret: "not-the-secret" });
      const wrongInfo = await client.info({}, { headers: { authorization: `Bearer ${wrong}` } }).catch((e) => ConnectError.from(e));
      expect(await checker.check(wrong)).toEqual({
        valid: false,
        code: "unauthenticated",
        message: (wrongInfo as ConnectError).rawMessage,
        reason: "SIGNATURE_INVALID",
        metadata: {},
      });
      expect(errorInfoOf(wrongInfo as ConnectError).reason).toBe("SIGNATURE_INVALID");
      const subject = `s-${crypto.randomUUID()}`;
      const early = mint({ sub: subject });
      await client.revokeSubject({ subject, issuedBefore: timestampFromMs(Date.now() + 1000) }, { headers: admin });
      expect(await eventually(async () => !(await checker.check(early)).valid, 5000)).toBe(true);
      expect(await checker.check(early)).toMatchObject({ message: expect.stringMatching(/^Subject revoked at /) });
    } finally {
      await checker.close();
    }
  });

  it("fails closed once the feed has been down longer than maxStalenessMs", async () => {
    const own = await startService({ FEED_KEY, REDIS_URL: redis.url });
    const checker = await createTokenChecker({ baseUrl: own.baseUrl, feedKey: FEED_KEY, jwt, maxStalenessMs: 1500 });
    try {
      await checker.ready();
      const token = mint();
      expect(await eventually(async () => (await checker.check(token)).valid, 5000)).toBe(true);
      await own.close();
      expect(await eventually(async () => (await checker.check(token)).valid === false, 8000)).toBe(true);
      expect(await checker.check(token)).toMatchObject({
        valid: false,
        code: "unavailable",
        message: expect.stringMatching(/stale/),
        reason: "REVOCATIONS_STALE",
      });
      expect(checker.stalenessMs()).toBeGreaterThan(1500);
    } finally {
      await checker.close();
    }
  });

  it('with whenStale: "ask-service", asks Info while it has no mirror (here: a feed key the service refuses)', async () => {
    const checker = await createTokenChecker({ baseUrl: service.baseUrl, feedKey: "wrong", jwt, whenStale: "ask-service" });
    try {
      const token = mint();
      expect(await checker.check(token)).toMatchObject({ valid: true });
      await tokenClient(service.baseUrl).blacklist({}, { headers: { authorization: `Bearer ${token}` } });
      expect(await checker.check(token)).toEqual({
        valid: false,
        code: "unauthenticated",
        message: "Token is blacklisted",
        reason: "TOKEN_REVOKED",
        metadata: { scope: "REVOCATION_SCOPE_TOKEN" },
      });
      expect(checker.stalenessMs()).toBe(Number.POSITIVE_INFINITY);
    } finally {
      await checker.close();
    }
  });

  it("guards a connect-node service with its interceptor, and a node:http one with its middleware", async () => {
    const checker = await createTokenChecker({ baseUrl: service.baseUrl, feedKey: FEED_KEY, jwt });
    await checker.ready();
    // A Connect service of the consumer's own (TokenService's Info, implemented by the consumer).
    const guarded = createH2cServer(
      connectNodeAdapter({
        interceptors: [tokenCheckInterceptor(checker)],
        routes: (router) =>
          router.rpc(TokenService.method.info, async (_req, ctx) => ({
            success: true,
            info: `hello ${String(ctx.values.get(verifiedToken)?.claims.sub)}`,
          })),
      }),
    );
    const plain: Server = createHttpServer((req, res) =>
      tokenCheckMiddleware(checker)(req, res, () => res.end(`hello ${String(verifiedTokenOf(req)?.claims.sub)}`)),
    );
    await Promise.all([
      new Promise<void>((r) => guarded.listen(0, "127.0.0.1", r)),
      new Promise<void>((r) => plain.listen(0, "127.0.0.1", r)),
    ]);
    try {
      const own = tokenClient(`http://127.0.0.1:${(guarded.address() as AddressInfo).port}`);
      const plainUrl = `http://127.0.0.1:${(plain.address() as AddressInfo).port}/`;
      const token = mint({ sub: "carol" });
      expect((await own.info({}, { headers: { authorization: `Bearer ${token}` } })).info).toBe("hello carol");
      expect(await (await fetch(plainUrl, { headers: { authorization: `Bearer ${token}` } })).text()).toBe("hello carol");
      await tokenClient(service.baseUrl).blacklist({}, { headers: { authorization: `Bearer ${token}` } });
      expect(await eventually(async () => !(await checker.check(token)).valid, 5000)).toBe(true);
      const refused = await own.info({}, { headers: { authorization: `Bearer ${token}` } }).catch((e) => ConnectError.from(e));
      expect(refused).toMatchObject({ code: Code.Unauthenticated, rawMessage: "Token is blacklisted" });
      expect(errorInfoOf(refused as ConnectError)).toEqual({ reason: "TOKEN_REVOKED", metadata: { scope: "REVOCATION_SCOPE_TOKEN" } });
      const response = await fetch(plainUrl, { headers: { authorization: `Bearer ${token}` } });
      expect(response.status).toBe(401);
      expect(response.headers.get("www-authenticate")).toContain('error="invalid_token"');
      expect(await response.json()).toEqual({
        success: false,
        info: "Token is blacklisted",
        code: "unauthenticated",
        reason: "TOKEN_REVOKED",
        metadata: { scope: "REVOCATION_SCOPE_TOKEN" },
      });
      expect((await fetch(plainUrl)).status).toBe(401);
    } finally {
      guarded.close();
      plain.close();
      await checker.close();
    }
  });
});

describe("Redis entries written before the feed existed", () => {
  it("are indexed once at start-up, so the snapshot has them, with their cutoffs and expiries", async () => {
    const { openRedisStore } = await import("../src/store/redis-store.js");
    const prefix = `legacy-${crypto.randomUUID()}:`;
    const fp = fingerprint(mint());
    const jtiKey = entryKey({ scope: "jti", issuer: ISSUER, jti: "old-jti" });
    const subjectKey = entryKey({ scope: "subject", issuer: ISSUER, subject: "old-bob" });
    // What an earlier version wrote: entry keys, no index.
    await redis.command("SET", prefix + fp, "1", "PX", "600000");
    await redis.command("SET", prefix + jtiKey, "1");
    await redis.command("SET", prefix + subjectKey, "1700000000000");
    const store = await openRedisStore({
      topology: { mode: "single", url: redis.url },
      keyPrefix: prefix,
      timeoutMs: 1000,
      historyMaxEvents: 1000,
    });
    try {
      const entries = new Map(await store.log.entries());
      expect([...entries.keys()].sort()).toEqual([fp, jtiKey, subjectKey].sort());
      expect(entries.get(subjectKey)).toEqual({ issuedBeforeMs: 1_700_000_000_000, expiresAtMs: undefined });
      expect(entries.get(jtiKey)?.expiresAtMs).toBeUndefined();
      expect(entries.get(fp)?.expiresAtMs).toBeGreaterThan(Date.now() + 590_000);
    } finally {
      await store.close();
    }
  });
});
