import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { openRedisStore } from "../src/store/redis-store.js";
import type { RevocationStore } from "../src/store/revocation-store.js";
import { openSqliteStore } from "../src/store/sqlite-store.js";
import { startRedis, type TestRedis } from "./helpers/redis-server.js";
import { eventually } from "./helpers/eventually.js";

/** One contract, every store: each implementation must pass all of it. */
interface StoreFactory {
  name: string;
  setup(): Promise<void>;
  open(): Promise<RevocationStore>;
  teardown(): Promise<void>;
}

let redis: TestRedis;
let sqliteDir: string;

const factories: StoreFactory[] = [
  {
    name: "redis",
    async setup() {
      redis = await startRedis();
    },
    open: () => openRedisStore({ url: redis.url, keyPrefix: "contract:", timeoutMs: 1000 }),
    teardown: () => redis.stop(),
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

  it("does not know a fingerprint it was never told", async () => {
    expect(await store.isRevoked(fp())).toBe(false);
  });

  it("revokes, and says whether the revocation is new", async () => {
    const key = fp();
    expect(await store.revoke(key, inOneHour())).toBe(true);
    expect(await store.isRevoked(key)).toBe(true);
    expect(await store.revoke(key, inOneHour())).toBe(false);
    expect(await store.isRevoked(key)).toBe(true);
  });

  it("restores, and says whether there was anything to restore", async () => {
    const key = fp();
    expect(await store.restore(key)).toBe(false);
    await store.revoke(key, inOneHour());
    expect(await store.restore(key)).toBe(true);
    expect(await store.isRevoked(key)).toBe(false);
    expect(await store.restore(key)).toBe(false);
  });

  it("keeps revocations apart", async () => {
    const [a, b] = [fp(), fp()];
    await store.revoke(a, inOneHour());
    expect(await store.isRevoked(b)).toBe(false);
    await store.restore(a);
    await store.revoke(b, inOneHour());
    expect(await store.isRevoked(a)).toBe(false);
    expect(await store.isRevoked(b)).toBe(true);
  });

  it("forgets a revocation once it expires, so storage does not grow", async () => {
    const key = fp();
    expect(await store.revoke(key, Date.now() + 150)).toBe(true);
    expect(await store.isRevoked(key)).toBe(true);
    expect(await eventually(async () => !(await store.isRevoked(key)))).toBe(true);
    // Once expired, revoking again is a new revocation.
    expect(await store.revoke(key, inOneHour())).toBe(true);
  });

  it("stores nothing for an expiry already in the past", async () => {
    const key = fp();
    expect(await store.revoke(key, Date.now() - 1000)).toBe(false);
    expect(await store.isRevoked(key)).toBe(false);
  });

  it("answers concurrent revocations of one key with exactly one 'new'", async () => {
    const key = fp();
    const results = await Promise.all(Array.from({ length: 20 }, () => store.revoke(key, inOneHour())));
    expect(results.filter(Boolean)).toHaveLength(1);
  });

  it("sees what another connection to the same store wrote", async () => {
    const other = await factory.open();
    try {
      const key = fp();
      await store.revoke(key, inOneHour());
      expect(await other.isRevoked(key)).toBe(true);
      await other.restore(key);
      expect(await store.isRevoked(key)).toBe(false);
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
      await first.revoke("persisted", inOneHour());
      await first.close();
      const second = openSqliteStore({ path, timeoutMs: 1000 });
      expect(await second.isRevoked("persisted")).toBe(true);
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
      await store.revoke("short-lived", Date.now() + 50);
      const { default: Database } = await import("better-sqlite3");
      const db = new Database(path, { readonly: true });
      const count = () => db.prepare("SELECT count(*) AS n FROM revocations").get() as { n: number };
      expect(count().n).toBe(1);
      expect(await eventually(async () => count().n === 0)).toBe(true);
      db.close();
      await store.close();
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it("reports an unusable path as unavailable, naming SQLITE_PATH", () => {
    const dir = mkdtempSync(join(tmpdir(), "tb-badpath-"));
    try {
      writeFileSync(join(dir, "a-file"), "");
      expect(() => openSqliteStore({ path: join(dir, "a-file", "tokens.db"), timeoutMs: 100 })).toThrow(
        /SQLITE_PATH: cannot open/,
      );
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe("Redis specifics", () => {
  it("puts a TTL on every key: remaining lifetime, in milliseconds", async () => {
    const server = await startRedis();
    const store = await openRedisStore({ url: server.url, keyPrefix: "ttl:", timeoutMs: 1000 });
    try {
      await store.revoke("k", Date.now() + 60_000);
      const pttl = (await server.command("PTTL", "ttl:k")) as number;
      expect(pttl).toBeGreaterThan(55_000);
      expect(pttl).toBeLessThanOrEqual(60_000);
    } finally {
      await store.close();
      await server.stop();
    }
  });

  it("fails to open with a message naming REDIS_URL when nothing listens", async () => {
    const server = await startRedis();
    await server.stop();
    await expect(openRedisStore({ url: server.url, keyPrefix: "x:", timeoutMs: 200 })).rejects.toThrow(/REDIS_URL/);
  });
});
