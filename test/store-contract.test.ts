import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { RedisTopology } from "../src/config.js";
import { bucketOf, CLUSTER_BUCKETS } from "../src/store/redis-key-layout.js";
import { openRedisStore } from "../src/store/redis-store.js";
import {
  InvalidCursor,
  StoreUnavailable,
  entryKey,
  type AuditEvent,
  type EntryId,
  type RevocationStore,
  type TokenKeys,
} from "../src/store/revocation-store.js";
import { openSqliteStore } from "../src/store/sqlite-store.js";
import { rawCommand, PERSISTENT, startRedis, type TestRedis } from "./helpers/redis-server.js";
import { startCluster, startSentinelSet, type TestCluster, type TestSentinelSet } from "./helpers/redis-topologies.js";
import { eventually } from "./helpers/eventually.js";

/** One contract, every store: each implementation must pass all of it. */
interface StoreFactory {
  name: string;
  setup(): Promise<void>;
  open(): Promise<RevocationStore>;
  teardown(): Promise<void>;
}

let redis: TestRedis;
let sentinelSet: TestSentinelSet;
let cluster: TestCluster;
let sqliteDir: string;

const factories: StoreFactory[] = [
  {
    name: "redis",
    async setup() {
      redis = await startRedis();
    },
    open: () =>
      openRedisStore({ topology: { mode: "single", url: redis.url }, keyPrefix: "contract:", timeoutMs: 1000, historyMaxEvents: 100_000 }),
    teardown: () => redis.stop(),
  },
  {
    name: "redis sentinel (master, replica, 3 sentinels)",
    async setup() {
      sentinelSet = await startSentinelSet();
    },
    open: () =>
      openRedisStore({
        topology: {
          mode: "sentinel",
          sentinels: sentinelSet.sentinels.map((s) => ({ host: "127.0.0.1", port: s.port })),
          masterName: "mymaster",
          tls: false,
        },
        keyPrefix: "contract:",
        timeoutMs: 1000,
        historyMaxEvents: 100_000,
        waitReplicas: 1,
        // Generous: under CI's load a replica has been seen to take over 500 ms to confirm.
        waitTimeoutMs: 5000,
      }),
    teardown: () => sentinelSet.stop(),
  },
  {
    name: "redis cluster (3 masters, 3 replicas)",
    async setup() {
      cluster = await startCluster();
    },
    open: () =>
      openRedisStore({
        topology: { mode: "cluster", nodes: cluster.nodes.map((n) => ({ host: "127.0.0.1", port: n.port })), tls: false },
        keyPrefix: "contract:",
        timeoutMs: 1000,
        historyMaxEvents: 100_000,
        waitReplicas: 1,
        // Generous: under CI's load a replica has been seen to take over 500 ms to confirm.
        waitTimeoutMs: 5000,
      }),
    teardown: () => cluster.stop(),
  },
  {
    name: "sqlite",
    async setup() {
      sqliteDir = mkdtempSync(join(tmpdir(), "tb-contract-"));
    },
    open: async () => openSqliteStore({ path: join(sqliteDir, "tokens.db"), timeoutMs: 1000, sweepIntervalMs: 50 }),
    async teardown() {
      rmSync(sqliteDir, { recursive: true, force: true });
    },
  },
];

const fp = () => `fp-${crypto.randomUUID()}`;
const inOneHour = () => Date.now() + 3_600_000;
const ISS = "https://issuer.example/";

const tokenId = (fingerprint = fp()): EntryId => ({ scope: "token", fingerprint, placedWith: undefined });
const jtiId = (jti: string = crypto.randomUUID(), issuer = ISS): EntryId => ({ scope: "jti", issuer, jti });
const subjectId = (subject = `user-${crypto.randomUUID()}`, issuer = ISS): EntryId => ({ scope: "subject", issuer, subject });
const admin = { actor: "admin", reason: "" } as const;
const revokeFor = (expiresAtMs: number | undefined = inOneHour(), issuedBeforeMs?: number) => ({
  ...admin,
  expiresAtMs,
  ...(issuedBeforeMs === undefined ? {} : { issuedBeforeMs }),
});

/** What Info would check for a token with this fingerprint, jti and subject. */
function keysFor(token: { fingerprint?: string; jti?: EntryId; subject?: EntryId; issuedAtMs?: number }): TokenKeys {
  return {
    token: token.fingerprint ?? fp(),
    jti: token.jti === undefined ? undefined : entryKey(token.jti),
    subject: token.subject === undefined ? undefined : entryKey(token.subject),
    issuedAtMs: token.issuedAtMs ?? Date.now(),
  };
}

/** The events about one entry, oldest first. */
async function eventsAbout(store: RevocationStore, id: EntryId): Promise<AuditEvent[]> {
  const events: AuditEvent[] = [];
  let before: string | undefined;
  do {
    const page = await store.history(500, before);
    events.push(...page.events);
    before = page.next;
  } while (before !== undefined);
  const about = (e: AuditEvent) =>
    e.scope === id.scope &&
    (id.scope === "token"
      ? e.fingerprint === id.fingerprint
      : e.issuer === id.issuer && (id.scope === "jti" ? e.jti === id.jti : e.subject === id.subject));
  return events.filter(about).reverse();
}

describe.each(factories)("RevocationStore contract: $name", (factory) => {
  let store: RevocationStore;
  beforeAll(async () => {
    await factory.setup();
    store = await factory.open();
  });
  afterAll(async () => {
    await store.close();
    await factory.teardown();
  });

  describe("token scope", () => {
    it("does not know a fingerprint it was never told", async () => {
      expect(await store.check(keysFor({}))).toBeUndefined();
    });

    it("revokes, and says whether the revocation is new", async () => {
      const id = tokenId();
      const keys = keysFor({ fingerprint: entryKey(id) });
      expect((await store.revoke(id, revokeFor())).changed).toBe(true);
      expect(await store.check(keys)).toEqual({ scope: "token" });
      const again = await store.revoke(id, revokeFor());
      expect(again.changed).toBe(false);
      expect(again.event).toBeUndefined();
      expect(await store.check(keys)).toEqual({ scope: "token" });
    });

    it("restores, and says whether there was anything to restore", async () => {
      const id = tokenId();
      const keys = keysFor({ fingerprint: entryKey(id) });
      expect((await store.restore(id, admin)).changed).toBe(false);
      await store.revoke(id, revokeFor());
      expect((await store.restore(id, admin)).changed).toBe(true);
      expect(await store.check(keys)).toBeUndefined();
      expect((await store.restore(id, admin)).changed).toBe(false);
    });

    it("keeps revocations apart", async () => {
      const [a, b] = [tokenId(), tokenId()];
      await store.revoke(a, revokeFor());
      expect(await store.check(keysFor({ fingerprint: entryKey(b) }))).toBeUndefined();
      await store.restore(a, admin);
      await store.revoke(b, revokeFor());
      expect(await store.check(keysFor({ fingerprint: entryKey(a) }))).toBeUndefined();
      expect(await store.check(keysFor({ fingerprint: entryKey(b) }))).toEqual({ scope: "token" });
    });

    it("forgets a revocation once it expires, so storage does not grow", async () => {
      const id = tokenId();
      const keys = keysFor({ fingerprint: entryKey(id) });
      expect((await store.revoke(id, revokeFor(Date.now() + 150))).changed).toBe(true);
      expect(await store.check(keys)).toEqual({ scope: "token" });
      expect(await eventually(async () => (await store.check(keys)) === undefined)).toBe(true);
      // Once expired, revoking again is a new revocation.
      expect((await store.revoke(id, revokeFor())).changed).toBe(true);
    });

    it("stores nothing for an expiry already in the past", async () => {
      const id = tokenId();
      const result = await store.revoke(id, revokeFor(Date.now() - 1000));
      expect(result).toEqual({ changed: false, entry: undefined, event: undefined });
      expect(await store.check(keysFor({ fingerprint: entryKey(id) }))).toBeUndefined();
    });

    it("answers concurrent revocations of one key with exactly one change", async () => {
      const id = tokenId();
      const results = await Promise.all(Array.from({ length: 20 }, () => store.revoke(id, revokeFor())));
      expect(results.filter((r) => r.changed)).toHaveLength(1);
      expect(await eventsAbout(store, id)).toHaveLength(1);
    });
  });

  describe("jti scope", () => {
    it("revokes every token with the jti, by issuer, and restores it", async () => {
      const id = jtiId();
      const keys = keysFor({ jti: id });
      expect(await store.check(keys)).toBeUndefined();
      const revoked = await store.revoke(id, revokeFor());
      expect(revoked.changed).toBe(true);
      expect(revoked.entry?.expiresAtMs).toBeGreaterThan(Date.now());
      expect(await store.check(keys)).toEqual({ scope: "jti" });
      // The same jti from another issuer is another token.
      expect(await store.check(keysFor({ jti: jtiId(id.scope === "jti" ? id.jti : "", "https://other.example/") }))).toBeUndefined();
      expect((await store.revoke(id, revokeFor())).changed).toBe(false);
      expect((await store.restore(id, admin)).changed).toBe(true);
      expect(await store.check(keys)).toBeUndefined();
      expect((await store.restore(id, admin)).changed).toBe(false);
    });

    it("expires its entry, and keeps one without an expiry until it is lifted", async () => {
      const short = jtiId();
      await store.revoke(short, revokeFor(Date.now() + 150));
      expect(await eventually(async () => (await store.check(keysFor({ jti: short }))) === undefined)).toBe(true);
      expect(await store.lookup(short)).toBeUndefined();

      const forever = jtiId();
      const result = await store.revoke(forever, { ...admin, expiresAtMs: undefined });
      expect(result.entry).toEqual({ issuedBeforeMs: undefined, expiresAtMs: undefined });
      expect(await store.lookup(forever)).toEqual({ issuedBeforeMs: undefined, expiresAtMs: undefined });
      expect(await store.check(keysFor({ jti: forever }))).toEqual({ scope: "jti" });
      await store.restore(forever, admin);
      expect(await store.lookup(forever)).toBeUndefined();
    });
  });

  describe("subject scope", () => {
    it("revokes the subject's tokens issued before the cutoff, to the millisecond", async () => {
      const id = subjectId();
      const cutoff = Date.now() - 10_000;
      expect((await store.revoke(id, revokeFor(inOneHour(), cutoff))).changed).toBe(true);
      expect(await store.check(keysFor({ subject: id, issuedAtMs: cutoff - 1 }))).toEqual({ scope: "subject", issuedBeforeMs: cutoff });
      expect(await store.check(keysFor({ subject: id, issuedAtMs: cutoff }))).toBeUndefined();
      expect(await store.check(keysFor({ subject: id, issuedAtMs: cutoff + 1 }))).toBeUndefined();
      // No iat counts as the epoch: before any cutoff.
      expect(await store.check(keysFor({ subject: id, issuedAtMs: 0 }))).toEqual({ scope: "subject", issuedBeforeMs: cutoff });
      expect(await store.check(keysFor({ subject: subjectId(), issuedAtMs: 0 }))).toBeUndefined();
    });

    it("moves the cutoff later, never earlier", async () => {
      const id = subjectId();
      const first = Date.now() - 60_000;
      await store.revoke(id, revokeFor(inOneHour(), first));
      const earlier = await store.revoke(id, revokeFor(inOneHour(), first - 1000));
      expect(earlier.changed).toBe(false);
      expect(earlier.entry?.issuedBeforeMs).toBe(first);
      const same = await store.revoke(id, revokeFor(inOneHour(), first));
      expect(same.changed).toBe(false);
      const later = await store.revoke(id, revokeFor(inOneHour(), first + 30_000));
      expect(later.changed).toBe(true);
      expect(later.event?.issuedBeforeMs).toBe(first + 30_000);
      expect((await store.lookup(id))?.issuedBeforeMs).toBe(first + 30_000);
      expect(await store.check(keysFor({ subject: id, issuedAtMs: first + 10_000 }))).toEqual({
        scope: "subject",
        issuedBeforeMs: first + 30_000,
      });
      expect((await store.restore(id, admin)).changed).toBe(true);
      expect(await store.check(keysFor({ subject: id, issuedAtMs: 0 }))).toBeUndefined();
    });

    it("expires its entry", async () => {
      const id = subjectId();
      await store.revoke(id, revokeFor(Date.now() + 150, Date.now()));
      expect(await store.check(keysFor({ subject: id, issuedAtMs: 0 }))).toBeDefined();
      expect(await eventually(async () => (await store.check(keysFor({ subject: id, issuedAtMs: 0 }))) === undefined)).toBe(true);
      // An entry that would already have expired is not written.
      const stale = await store.revoke(subjectId(), revokeFor(Date.now() - 1, Date.now() - 10_000));
      expect(stale.changed).toBe(false);
    });
  });

  it("checks all three scopes in one call, token first, then jti, then subject", async () => {
    const jti = jtiId();
    const subject = subjectId();
    // A token entry goes with its jti's entry (EntryId.placedWith), as the service places it.
    const token = { ...tokenId(), placedWith: entryKey(jti) };
    const keys = keysFor({ fingerprint: entryKey(token), jti, subject, issuedAtMs: Date.now() - 5000 });
    await store.revoke(subject, revokeFor(inOneHour(), Date.now()));
    expect((await store.check(keys))?.scope).toBe("subject");
    await store.revoke(jti, revokeFor());
    expect((await store.check(keys))?.scope).toBe("jti");
    await store.revoke(token, revokeFor());
    expect((await store.check(keys))?.scope).toBe("token");
  });

  it("checks a subject cutoff for tokens of any jti and placement, and lifts it for all of them", async () => {
    // On a Cluster a check reads the subject from its copy in the check's own bucket: every bucket must hold it.
    const subject = subjectId();
    const checks = Array.from({ length: 40 }, (_, i) => {
      const jti = i % 4 === 3 ? undefined : jtiId();
      const token = { ...tokenId(), placedWith: jti === undefined ? entryKey(subject) : entryKey(jti) };
      return keysFor({ fingerprint: entryKey(token), jti, subject, issuedAtMs: Date.now() - 5000 });
    });
    await store.revoke(subject, revokeFor(inOneHour(), Date.now()));
    for (const keys of checks) expect((await store.check(keys))?.scope).toBe("subject");
    // A later cutoff raises every copy; an earlier one lowers none.
    await store.revoke(subject, revokeFor(inOneHour(), Date.now() - 60_000));
    const later = Date.now() + 60_000;
    await store.revoke(subject, revokeFor(inOneHour(), later));
    for (const keys of checks) expect(await store.check(keys)).toEqual({ scope: "subject", issuedBeforeMs: later });
    await store.restore(subject, { actor: "admin", reason: "" });
    for (const keys of checks) expect(await store.check(keys)).toBeUndefined();
  });

  describe("history", () => {
    it("records every change, newest first, with who, why and what; no-ops are not changes", async () => {
      const token = tokenId();
      const jti = jtiId();
      await store.revoke(token, { actor: "self", reason: "", expiresAtMs: inOneHour(), context: { jti: "t-jti", subject: "alice" } });
      await store.revoke(token, { actor: "self", reason: "", expiresAtMs: inOneHour() });
      await store.revoke(jti, { actor: "admin", reason: "leaked in a log", expiresAtMs: inOneHour() });
      await store.restore(jti, { actor: "admin", reason: "false alarm" });
      const page = await store.history(3, undefined);
      expect(page.events.map((e) => [e.action, e.scope, e.actor, e.reason])).toEqual([
        ["restore", "jti", "admin", "false alarm"],
        ["revoke", "jti", "admin", "leaked in a log"],
        ["revoke", "token", "self", undefined],
      ]);
      const [, revokedJti, revokedToken] = page.events as [AuditEvent, AuditEvent, AuditEvent];
      expect(revokedToken).toMatchObject({ fingerprint: entryKey(token), jti: "t-jti", subject: "alice" });
      expect(revokedJti).toMatchObject({ issuer: ISS, jti: jti.scope === "jti" ? jti.jti : "" });
      expect(Math.abs(revokedJti.atMs - Date.now())).toBeLessThan(60_000);
      expect(await eventsAbout(store, token)).toHaveLength(1);
    });

    it("pages through older events with the cursor it hands out", async () => {
      const ids = Array.from({ length: 7 }, () => jtiId());
      for (const id of ids) await store.revoke(id, revokeFor());
      const seen: AuditEvent[] = [];
      let before: string | undefined;
      for (let page = 0; page < 3; page++) {
        const result = await store.history(3, before);
        seen.push(...result.events);
        before = result.next;
      }
      const newestFirst = ids
        .slice()
        .reverse()
        .map((id) => (id.scope === "jti" ? id.jti : ""));
      expect(seen.slice(0, 7).map((e) => e.jti)).toEqual(newestFirst);
      expect(new Set(seen.map((e) => e.id)).size).toBe(seen.length);
    });

    it("lists changes made one after another in the order they were made, many within one millisecond", async () => {
      // On a Cluster these land in different buckets, on different masters.
      const ids = Array.from({ length: 60 }, () => jtiId());
      for (const id of ids) await store.revoke(id, revokeFor());
      const { events } = await store.history(60, undefined);
      expect(events.map((e) => e.jti)).toEqual(ids.reverse().map((id) => (id.scope === "jti" ? id.jti : "")));
    });

    it("refuses a cursor it did not hand out", async () => {
      for (const cursor of ["", "abc", "-1", "1 OR 1=1", "9".repeat(40), "(0-0"]) {
        await expect(store.history(5, cursor)).rejects.toBeInstanceOf(InvalidCursor);
      }
    });
  });

  it("sees what another connection to the same store wrote", async () => {
    const other = await factory.open();
    try {
      const id = tokenId();
      const keys = keysFor({ fingerprint: entryKey(id) });
      await store.revoke(id, revokeFor());
      expect(await other.check(keys)).toEqual({ scope: "token" });
      await other.restore(id, admin);
      expect(await store.check(keys)).toBeUndefined();
    } finally {
      await other.close();
    }
  });

  it.each([
    ["jti", () => jtiId()],
    ["subject", () => subjectId()],
    ["token", () => tokenId()],
  ])("ends concurrent revokes and restores of one %s from two connections in the state its history explains", async (_name, makeId) => {
    const other = await factory.open();
    try {
      const id = makeId();
      const cutoff = Date.now();
      const ops = Array.from({ length: 60 }, (_, i) => {
        const side = i % 2 === 0 ? store : other;
        return Math.random() < 0.5 ? side.revoke(id, revokeFor(inOneHour(), cutoff)) : side.restore(id, admin);
      });
      const results = await Promise.all(ops);
      const events = await eventsAbout(store, id);
      // Every change, and only changes, were recorded; they alternate, as a state machine must.
      expect(events).toHaveLength(results.filter((r) => r.changed).length);
      for (let i = 1; i < events.length; i++) expect(events[i]!.action).not.toBe(events[i - 1]!.action);
      const last = events.at(-1);
      const revoked = (await store.lookup(id)) !== undefined;
      expect(revoked).toBe(last?.action === "revoke");
    } finally {
      await other.close();
    }
  });

  it("answers ping", async () => {
    await expect(store.ping()).resolves.toBeUndefined();
  });
});

describe("SQLite specifics", () => {
  it("keeps revocations across close and reopen (the original lost them on restart)", async () => {
    const dir = mkdtempSync(join(tmpdir(), "tb-reopen-"));
    try {
      const path = join(dir, "nested", "tokens.db");
      const first = openSqliteStore({ path, timeoutMs: 1000 });
      const subject = subjectId();
      await first.revoke(tokenId("persisted"), revokeFor());
      await first.revoke(subject, revokeFor(inOneHour(), Date.now()));
      await first.close();
      const second = openSqliteStore({ path, timeoutMs: 1000 });
      expect(await second.check(keysFor({ fingerprint: "persisted" }))).toEqual({ scope: "token" });
      expect((await second.check(keysFor({ subject, issuedAtMs: 0 })))?.scope).toBe("subject");
      expect((await second.history(10, undefined)).events).toHaveLength(2);
      await second.close();
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it("sweeps expired rows out of the file", async () => {
    const dir = mkdtempSync(join(tmpdir(), "tb-sweep-"));
    try {
      const path = join(dir, "tokens.db");
      const store = openSqliteStore({ path, timeoutMs: 1000, sweepIntervalMs: 20 });
      await store.revoke(tokenId("short-lived"), revokeFor(Date.now() + 50));
      const { default: Database } = await import("better-sqlite3");
      const db = new Database(path, { readonly: true });
      const count = () => db.prepare("SELECT count(*) AS n FROM entries").get() as { n: number };
      expect(count().n).toBe(1);
      expect(await eventually(async () => count().n === 0)).toBe(true);
      db.close();
      await store.close();
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it("keeps the revocations of a file written by the previous version (schema 0)", async () => {
    const dir = mkdtempSync(join(tmpdir(), "tb-migrate-"));
    try {
      const path = join(dir, "tokens.db");
      const { default: Database } = await import("better-sqlite3");
      const old = new Database(path);
      old.exec(`CREATE TABLE revocations (fingerprint TEXT PRIMARY KEY, expires_at_ms INTEGER NOT NULL) WITHOUT ROWID`);
      old.prepare("INSERT INTO revocations VALUES (?, ?)").run("from-v0", inOneHour());
      old.close();
      const store = openSqliteStore({ path, timeoutMs: 1000 });
      expect(await store.check(keysFor({ fingerprint: "from-v0" }))).toEqual({ scope: "token" });
      expect((await store.lookup(tokenId("from-v0")))?.expiresAtMs).toBeGreaterThan(Date.now());
      await store.close();
      // Opening again finds the current schema and changes nothing.
      const again = openSqliteStore({ path, timeoutMs: 1000 });
      expect(await again.check(keysFor({ fingerprint: "from-v0" }))).toEqual({ scope: "token" });
      await again.close();
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it("refuses a file from a newer version instead of guessing at it", async () => {
    const dir = mkdtempSync(join(tmpdir(), "tb-newer-"));
    try {
      const path = join(dir, "tokens.db");
      const { default: Database } = await import("better-sqlite3");
      const newer = new Database(path);
      newer.pragma("user_version = 99");
      newer.close();
      expect(() => openSqliteStore({ path, timeoutMs: 1000 })).toThrow(/schema version 99 is newer/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it("reports an unusable path as unavailable, naming SQLITE_PATH", () => {
    const dir = mkdtempSync(join(tmpdir(), "tb-badpath-"));
    try {
      writeFileSync(join(dir, "a-file"), "");
      expect(() => openSqliteStore({ path: join(dir, "a-file", "tokens.db"), timeoutMs: 100 })).toThrow(/SQLITE_PATH: cannot open/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe("Redis specifics", () => {
  it("puts a TTL on every key: remaining lifetime, in milliseconds", async () => {
    const server = await startRedis();
    const store = await openRedisStore({
      topology: { mode: "single", url: server.url },
      keyPrefix: "ttl:",
      timeoutMs: 1000,
      historyMaxEvents: 1000,
    });
    try {
      await store.revoke(tokenId("k"), revokeFor(Date.now() + 60_000));
      const pttl = (await server.command("PTTL", "ttl:k")) as number;
      expect(pttl).toBeGreaterThan(55_000);
      expect(pttl).toBeLessThanOrEqual(60_000);
      // A subject entry lives from its cutoff for the lifetime it is given, and holds the cutoff.
      const subject = subjectId("bob");
      await store.revoke(subject, revokeFor(Date.now() + 120_000, 1_700_000_000_123));
      const key = `ttl:${entryKey(subject)}`;
      expect(await server.command("GET", key)).toBe("1700000000123");
      expect((await server.command("PTTL", key)) as number).toBeGreaterThan(115_000);
    } finally {
      await store.close();
      await server.stop();
    }
  });

  it("fails to open with a message naming REDIS_URL when nothing listens", async () => {
    const server = await startRedis();
    await server.stop();
    await expect(
      openRedisStore({ topology: { mode: "single", url: server.url }, keyPrefix: "x:", timeoutMs: 200, historyMaxEvents: 10 }),
    ).rejects.toThrow(/REDIS_URL/);
  });

  it("caps the history stream near HISTORY_MAX_EVENTS, keeping the newest", async () => {
    const server = await startRedis();
    const store = await openRedisStore({
      topology: { mode: "single", url: server.url },
      keyPrefix: "cap:",
      timeoutMs: 1000,
      historyMaxEvents: 10,
    });
    try {
      const ids = Array.from({ length: 400 }, () => jtiId());
      for (const id of ids) await store.revoke(id, revokeFor());
      // MAXLEN ~ trims whole stream nodes (100 entries by default): at most one node over.
      const length = (await server.command("XLEN", "cap:history")) as number;
      expect(length).toBeGreaterThanOrEqual(10);
      expect(length).toBeLessThanOrEqual(110);
      const newest = (await store.history(10, undefined)).events.map((e) => e.jti);
      expect(newest).toEqual(
        ids
          .slice(-10)
          .reverse()
          .map((id) => (id.scope === "jti" ? id.jti : "")),
      );
    } finally {
      await store.close();
      await server.stop();
    }
  });
});

/** A store of a describe block's own on `topology`: 1 s deadlines, 1000 events kept; its warnings pushed to `warnings`. */
const specStore = (topology: RedisTopology, keyPrefix: string, warnings: string[] = []) =>
  openRedisStore({ topology, keyPrefix, timeoutMs: 1000, historyMaxEvents: 1000, onWarning: (message) => warnings.push(message) });

/** The error of a call that finds the store's data gone where `marker` should be. */
const lostAt = (marker: string) =>
  new RegExp(`^Redis holds none of the store's data here \\(its marker ${marker.replace(/[{}]/g, "\\$&")} is missing\\)`);
const anyLost = /^Redis holds none of the store's data here/;
/** What a check answers: the scope that refused it, "not revoked", or the error's message. */
const verdictOf = (store: RevocationStore, keys: TokenKeys) =>
  store.check(keys).then(
    (match) => match?.scope ?? "not revoked",
    (err: Error) => err.message,
  );

describe("A Redis that lost the store's data", () => {
  it("is refused by every read and write, never read as nothing revoked, until a service starts afresh on it", async () => {
    const server = await startRedis(); // no persistence: restarted, it comes back empty
    const topology: RedisTopology = { mode: "single", url: server.url };
    const store = await specStore(topology, "lost:");
    try {
      const jti = jtiId();
      const token = keysFor({ jti, subject: subjectId(), issuedAtMs: Date.now() - 1000 });
      await store.revoke(jti, revokeFor());
      expect(await verdictOf(store, token)).toBe("jti");
      const position = await store.log.head();

      await server.kill();
      await server.restart();
      const lost = lostAt("lost:index-ready");
      const verdicts: string[] = [];
      const refused = await eventually(async () => {
        verdicts.push(await verdictOf(store, token));
        return lost.test(verdicts.at(-1)!);
      });
      expect(refused).toBe(true);
      expect(verdicts).not.toContain("not revoked");
      await expect(store.revoke(jtiId(), revokeFor())).rejects.toThrow(lost);
      await expect(store.revoke(subjectId(), revokeFor(inOneHour(), Date.now()))).rejects.toThrow(lost);
      await expect(store.restore(jti, admin)).rejects.toThrow(lost);
      await expect(store.lookup(jti)).rejects.toThrow(lost);
      await expect(store.ping()).rejects.toThrow(lost);
      await expect(store.log.head()).rejects.toThrow(lost);
      await expect(store.log.entries()).rejects.toThrow(lost);
      await expect(store.log.changesAfter(position, 10)).rejects.toThrow(lost);
      expect(await server.command("KEYS", "lost:*")).toEqual(["lost:ready-probe"]); // the refused writes wrote nothing

      // A service started on it now takes it for a new, empty store: what the revocation said is gone.
      const warnings: string[] = [];
      await (await specStore(topology, "lost:", warnings)).close();
      expect(warnings).toContainEqual(expect.stringMatching(/^Redis held no store for this service: set up a new, empty one/));
      expect(await verdictOf(store, token)).toBe("not revoked");
      await store.revoke(jti, revokeFor());
      expect(await verdictOf(store, token)).toBe("jti");
    } finally {
      await store.close();
      await server.stop();
    }
  });
});

describe("Redis Cluster specifics", () => {
  let own: TestCluster;
  let store: RevocationStore;
  beforeAll(async () => {
    own = await startCluster();
    store = await specStore({ mode: "cluster", nodes: own.nodes.map((n) => ({ host: "127.0.0.1", port: n.port })), tls: false }, "spec:");
  }, 60_000);
  afterAll(async () => {
    await store.close();
    await own.stop();
  });

  /** A command's calls, summed over every node, from INFO commandstats. */
  const calls = async (command: string) => {
    const stats = await Promise.all(own.nodes.map((n) => n.command("INFO", "commandstats").then(String)));
    return stats.reduce((sum, text) => sum + Number(new RegExp(`cmdstat_${command}:calls=(\\d+)`).exec(text)?.[1] ?? 0), 0);
  };

  it("answers a check with one MGET on one master, whatever the token's jti and subject", async () => {
    const checks = Array.from({ length: 30 }, (_, i) =>
      keysFor({ jti: jtiId(`check-${i}`), subject: subjectId(`user-${i}`), issuedAtMs: Date.now() }),
    );
    await Promise.all(own.nodes.map((n) => n.command("CONFIG", "RESETSTAT")));
    for (const keys of checks) expect(await store.check(keys)).toBeUndefined();
    expect([await calls("mget"), await calls("get")]).toEqual([30, 0]);
  });

  it("reads on one connection per master, none to a replica", async () => {
    await store.check(keysFor({ jti: jtiId(), subject: subjectId() }));
    const reads = await Promise.all(
      own.nodes.map(async (n) => {
        const list = String(await n.command("CLIENT", "LIST"));
        const role = String(await n.command("ROLE")).startsWith("master") ? "master" : "replica";
        return `${role}:${list.split("\n").filter((line) => line.includes(" name=token-blacklist-reads ")).length}`;
      }),
    );
    expect(reads.sort()).toEqual(["master:1", "master:1", "master:1", "replica:0", "replica:0", "replica:0"]);
  });

  it("ends every race of a revoke and a restore of one subject with its copies wherever its entry is in force", async () => {
    const checksIn = (subject: EntryId) =>
      Array.from({ length: 48 }, (_, i) => keysFor({ jti: jtiId(`race-${i}`), subject, issuedAtMs: Date.now() - 60_000 }));
    for (let round = 0; round < 15; round++) {
      const subject = subjectId(`race-${round}`);
      await store.revoke(subject, revokeFor(inOneHour(), Date.now()));
      // A restore and a revoke of the same subject at once, in either order of sending.
      const revoke = () => store.revoke(subject, revokeFor(inOneHour(), Date.now()));
      const restore = () => store.restore(subject, admin);
      await Promise.all(round % 2 === 0 ? [revoke(), restore()] : [restore(), revoke()]);
      const entry = await store.lookup(subject);
      const verdicts = await Promise.all(checksIn(subject).map((keys) => store.check(keys)));
      if (entry !== undefined) for (const verdict of verdicts) expect(verdict?.scope).toBe("subject");
    }
  });

  it("refuses to open a Cluster that holds revocations in another layout, naming the variable", async () => {
    const marker = "spec:{0}layout";
    const master = await own.masterOf(marker);
    expect(await master.command("GET", marker)).toBe("2");
    await master.command("DEL", marker);
    try {
      await expect(
        specStore({ mode: "cluster", nodes: own.nodes.map((n) => ({ host: "127.0.0.1", port: n.port })), tls: false }, "spec:"),
      ).rejects.toThrow(/^REDIS_CLUSTER_NODES: the Cluster holds revocations in another key layout/);
    } finally {
      await master.command("SET", marker, "2");
    }
  });

  it("copies a subject cutoff into every bucket and deletes every copy when it is lifted", async () => {
    const subject = subjectId("copied");
    const copies = async () =>
      (await Promise.all(own.nodes.map((n) => n.command("KEYS", `spec:{*}~${entryKey(subject).replace(/[[\]*?\\]/g, "\\$&")}`)))).flat()
        .length;
    await store.revoke(subject, revokeFor(inOneHour(), Date.now()));
    // Each copy once on its master and once on that master's replica.
    expect(await eventually(async () => (await copies()) === 32)).toBe(true);
    await store.restore(subject, admin);
    expect(await eventually(async () => (await copies()) === 0)).toBe(true);
  });

  it("refuses the buckets of a master that lost its data and answers the others' (last: it flushes a master)", async () => {
    const victim = await own.masterOf("{0}");
    const onVictim = await Promise.all(Array.from({ length: CLUSTER_BUCKETS }, async (_, b) => (await own.masterOf(`{${b}}`)) === victim));
    /** A check whose bucket's master is (or is not) the victim. */
    const checkOn = (victimsBucket: boolean) => {
      for (;;) {
        const jti = jtiId();
        if (onVictim[bucketOf(entryKey(jti))] === victimsBucket) return { jti, keys: keysFor({ jti }), bucket: bucketOf(entryKey(jti)) };
      }
    };
    const [lostOne, keptOne] = [checkOn(true), checkOn(false)];
    await Promise.all([store.revoke(lostOne.jti, revokeFor()), store.revoke(keptOne.jti, revokeFor())]);
    // A subject revoked in a bucket the victim does not serve: its copy in the victim's buckets goes with the flush.
    let subject = subjectId();
    while (onVictim[bucketOf(entryKey(subject))]) subject = subjectId();
    await store.revoke(subject, revokeFor(inOneHour(), Date.now()));
    const subjectsToken = { ...checkOn(true), issuedAtMs: Date.now() - 60_000 };
    const subjectsKeys = keysFor({ jti: subjectsToken.jti, subject, issuedAtMs: subjectsToken.issuedAtMs });
    expect(await verdictOf(store, subjectsKeys)).toBe("subject");
    await victim.command("FLUSHALL");
    expect(await verdictOf(store, lostOne.keys)).toMatch(lostAt(`spec:{${lostOne.bucket}}index-ready`));
    expect(await verdictOf(store, keptOne.keys)).toBe("jti");
    await expect(store.revoke(checkOn(true).jti, revokeFor())).rejects.toThrow(anyLost);
    await expect(store.ping()).rejects.toThrow(anyLost);
    // A service started now sets the store up again, empty where the data was lost.
    const warnings: string[] = [];
    const nodes = own.nodes.map((n) => ({ host: "127.0.0.1", port: n.port }));
    await (await specStore({ mode: "cluster", nodes, tls: false }, "spec:", warnings)).close();
    const lostBuckets = onVictim.filter(Boolean).length;
    // This subject's copy into each lost bucket, and those of subjects the tests before left revoked.
    const setUp = warnings
      .map((line) =>
        new RegExp(
          `^Redis had lost the store's data in ${lostBuckets} of 16 buckets .*: set them up again, empty, with (\\d+) copies`,
        ).exec(line),
      )
      .find((match) => match !== null);
    expect(Number(setUp?.[1]), warnings.join("\n")).toBeGreaterThanOrEqual(lostBuckets);
    expect([await verdictOf(store, lostOne.keys), await verdictOf(store, keptOne.keys)]).toEqual(["not revoked", "jti"]);
    // The subject's revocation was kept elsewhere: set up again, the victim's buckets have its copy back.
    expect(await verdictOf(store, subjectsKeys)).toBe("subject");
  });
});

describe("One Redis specifics", () => {
  let own: TestRedis;
  let store: RevocationStore;
  beforeAll(async () => {
    own = await startRedis(PERSISTENT); // restarted after an outage, it must come back with its data
    // The service's own user, in database 3: its read connection must log in and SELECT as ioredis does.
    await own.command("ACL", "SETUSER", "svc", "on", ">sesame", "~*", "&*", "+@all");
    store = await specStore({ mode: "single", url: `redis://svc:sesame@127.0.0.1:${own.port}/3` }, "one:");
  });
  afterAll(async () => {
    await store.close();
    await own.stop();
  });

  /** The service's read connections in CLIENT LIST, as field maps. */
  const readConnections = async () =>
    String(await own.command("CLIENT", "LIST"))
      .split("\n")
      .map((line) => Object.fromEntries(line.split(" ").map((field) => field.split("=", 2) as [string, string])))
      .filter((fields) => fields.name === "token-blacklist-reads");

  it("reads a check on a connection of its own, as the URL's user and in its database", async () => {
    const jti = jtiId();
    await store.revoke(jti, revokeFor());
    expect((await store.check(keysFor({ jti })))?.scope).toBe("jti");
    const [reads, ...others] = await readConnections();
    expect(others).toEqual([]);
    expect(reads).toMatchObject({ user: "svc", db: "3", cmd: "mget" });
  });

  it("goes on through ioredis when its read connection is killed, and opens another", async () => {
    const jti = jtiId();
    await store.revoke(jti, revokeFor());
    const [killed] = await readConnections();
    await own.command("CLIENT", "KILL", "ID", killed!.id!);
    expect((await store.check(keysFor({ jti })))?.scope).toBe("jti");
    const another = await eventually(async () => {
      expect((await store.check(keysFor({ jti })))?.scope).toBe("jti");
      const now = await readConnections();
      return now.length === 1 && now[0]!.id !== killed!.id && now[0]!.cmd === "mget";
    });
    expect(another).toBe(true);
  });

  it("follows ioredis: when its connection is replaced, the read connection is too, with no read asked", async () => {
    const [reads] = await readConnections();
    const ioredis = String(await own.command("CLIENT", "LIST"))
      .split("\n")
      .find((line) => line.includes(" user=svc ") && !line.includes(" name=token-blacklist-reads "));
    await own.command("CLIENT", "KILL", "ID", /\bid=(\d+)/.exec(ioredis!)![1]!);
    const replaced = await eventually(async () => {
      const now = await readConnections();
      return now.length === 1 && now[0]!.id !== reads!.id;
    });
    expect(replaced).toBe(true);
  });

  it("answers UNAVAILABLE while Redis is down and reads on a new connection once it is back", async () => {
    const [before] = await readConnections();
    await own.kill();
    await expect(store.check(keysFor({ jti: jtiId() }))).rejects.toThrow(/Redis/);
    await own.restart();
    await own.command("ACL", "SETUSER", "svc", "on", ">sesame", "~*", "&*", "+@all");
    const back = await eventually(async () => {
      const answered = await store.check(keysFor({ jti: jtiId() })).then(
        () => true,
        () => false,
      );
      const now = await readConnections();
      return answered && now.length === 1 && now[0]!.id !== before!.id && now[0]!.cmd === "mget";
    });
    expect(back).toBe(true);
  });
});

describe("Redis Sentinel specifics", () => {
  let own: TestSentinelSet;
  let store: RevocationStore;
  beforeAll(async () => {
    own = await startSentinelSet();
    const sentinels = own.sentinels.map((s) => ({ host: "127.0.0.1", port: s.port }));
    store = await specStore({ mode: "sentinel", sentinels, masterName: own.masterName, tls: false }, "sentinel:");
  }, 60_000);
  afterAll(async () => {
    await store.close();
    await own.stop();
  });

  /** How many of the service's read connections each server holds, by the server's port. */
  const readsOn = async () =>
    new Map(
      await Promise.all(
        own.servers.map(
          async (s) =>
            [
              s.port,
              String(await s.command("CLIENT", "LIST"))
                .split("\n")
                .filter((line) => line.includes(" name=token-blacklist-reads ") && line.includes(" cmd=mget ")).length,
            ] as const,
        ),
      ),
    );

  it("reads a check on a connection of its own to the master the sentinels name, and follows a failover", async () => {
    const jti = jtiId();
    await store.revoke(jti, revokeFor());
    expect((await store.check(keysFor({ jti })))?.scope).toBe("jti");
    const before = await own.currentMaster();
    expect(await readsOn()).toEqual(new Map(own.servers.map((s) => [s.port, s === before ? 1 : 0])));

    await rawCommand(own.sentinels[0]!.port, ["SENTINEL", "FAILOVER", own.masterName]);
    const moved = await eventually(async () => (await own.currentMaster()) !== before, 20_000, 100);
    expect(moved).toBe(true);
    const after = await own.currentMaster();
    const followed = await eventually(
      async () => {
        // A revocation acknowledged now lands on the new master: read anywhere else, it would be missed.
        const fresh = jtiId();
        const acknowledged = await store.revoke(fresh, revokeFor()).then(
          () => true,
          () => false,
        );
        for (const id of acknowledged ? [jti, fresh] : [jti]) {
          const verdict = await store.check(keysFor({ jti: id })).catch(() => "unavailable" as const);
          if (verdict === "unavailable") return false;
          expect(verdict?.scope).toBe("jti"); // never "not revoked", before, during or after
        }
        const reads = await readsOn();
        return acknowledged && reads.get(after.port) === 1 && reads.get(before.port) === 0;
      },
      20_000,
      50,
    );
    expect(followed).toBe(true);
  });

  /** The sentinels in `which` watch the server on `port` as the master. */
  const name = async (port: number, which = own.sentinels) => {
    for (const sentinel of which) {
      await rawCommand(sentinel.port, ["SENTINEL", "REMOVE", own.masterName]);
      await rawCommand(sentinel.port, ["SENTINEL", "MONITOR", own.masterName, "127.0.0.1", String(port), "2"]);
      await rawCommand(sentinel.port, ["SENTINEL", "SET", own.masterName, "down-after-milliseconds", "1000", "failover-timeout", "5000"]);
    }
  };

  it("sets a new store up only on the master most sentinels name, not on one a stale sentinel names", async () => {
    const master = await own.currentMaster();
    const empty = await startRedis();
    try {
      await name(empty.port, [own.sentinels[0]!]); // asked first, it names an empty server; the other two the master
      const sentinels = own.sentinels.map((s) => ({ host: "127.0.0.1", port: s.port }));
      await expect(specStore({ mode: "sentinel", sentinels, masterName: own.masterName, tls: false }, "fresh:")).rejects.toThrow(
        `REDIS_SENTINELS: Redis holds no store for this service yet, and the server reached is not the master 2 of 3 sentinels name (127.0.0.1:${master.port}): a sentinel that missed a failover named it`,
      );
      expect(await empty.command("KEYS", "*")).toEqual([]);
      expect(await master.command("KEYS", "fresh:*")).toEqual([]);
    } finally {
      await name(master.port, [own.sentinels[0]!]);
      await empty.stop();
    }
  });

  it("refuses an empty master the sentinels name (the killed master restarted empty, named by a sentinel that missed the failover), and leaves it once they name the real one", async () => {
    const jti = jtiId();
    await store.revoke(jti, revokeFor());
    const keys = keysFor({ jti });
    expect(await verdictOf(store, keys)).toBe("jti");
    const master = await own.currentMaster();
    const empty = await startRedis();
    try {
      await name(empty.port);
      await master.command("CLIENT", "KILL", "TYPE", "normal"); // ioredis asks the sentinels again: they name the empty one
      const verdicts: string[] = [];
      const refused = await eventually(async () => {
        verdicts.push(await verdictOf(store, keys));
        return lostAt("sentinel:index-ready").test(verdicts.at(-1)!);
      });
      expect(refused).toBe(true);
      // Refused there, or while the store asks the sentinels again: never acknowledged on the empty master.
      await expect(store.revoke(jtiId(), revokeFor())).rejects.toBeInstanceOf(StoreUnavailable);

      await name(master.port);
      // No connection of its own closes: the store asks the sentinels again by itself.
      const back = await eventually(async () => {
        verdicts.push(await verdictOf(store, keys));
        return verdicts.at(-1) === "jti";
      }, 10_000);
      expect(back).toBe(true);
      expect(verdicts).not.toContain("not revoked");
    } finally {
      await empty.stop();
    }
  }, 40_000);
});
