import { type ChildProcess, spawn } from "node:child_process";
import { chmodSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { eventually } from "../helpers/eventually.js";
import { startRedis, type TestRedis } from "../helpers/redis-server.js";
import { mint } from "../helpers/tokens.js";
import { getInfo, startTarget, type Target } from "./target.js";

// Issue 12, cases 6, 7 and 8: a locked SQLite file, a hung Redis, a read-only SQLite file.

const STORE_TIMEOUT_MS = 500;
const root = fileURLToPath(new URL("../..", import.meta.url));

/** `path` (GET) or a POST /blacklist for `token`; resolves with the status and how long it took. */
async function timed(baseUrl: string, path: string, init: RequestInit = {}): Promise<{ status: number; ms: number }> {
  const started = performance.now();
  const res = await fetch(`${baseUrl}${path}`, init);
  await res.arrayBuffer();
  return { status: res.status, ms: performance.now() - started };
}
const blacklist = (baseUrl: string, token: string) =>
  timed(baseUrl, "/blacklist", { method: "POST", headers: { authorization: `Bearer ${token}` } });
const info = (baseUrl: string, token: string) => timed(baseUrl, "/info", { headers: { authorization: `Bearer ${token}` } });

/** Another process holding SQLite's write lock (BEGIN IMMEDIATE) on `path` until stdin closes. */
async function holdWriteLock(path: string): Promise<ChildProcess> {
  const script = `
    const db = new (require("better-sqlite3"))(process.argv[1]);
    db.exec("BEGIN IMMEDIATE");
    console.log("locked");
    process.stdin.resume();
    process.stdin.on("end", () => { db.exec("ROLLBACK"); db.close(); });`;
  const holder = spawn(process.execPath, ["-e", script, path], { cwd: root, stdio: ["pipe", "pipe", "inherit"] });
  await new Promise<void>((resolve, reject) => {
    holder.stdout!.once("data", () => resolve());
    holder.once("exit", (code) => reject(new Error(`lock holder exited with ${code}`)));
  });
  return holder;
}

describe("SQLite write lock held by another process", () => {
  let target: Target;
  beforeAll(async () => {
    target = await startTarget({ STORE_TIMEOUT_MS: String(STORE_TIMEOUT_MS) });
  });
  afterAll(() => target?.close());

  it("answers /healthz and valid Info within 100 ms while writes wait out STORE_TIMEOUT_MS and answer 503, and /readyz says not ready", async () => {
    const holder = await holdWriteLock(join(target.dir, "tokens.db"));
    try {
      // Ten writes wait on the lock at once; the reads beside them must not wait with them.
      const writes = Array.from({ length: 10 }, () => blacklist(target.baseUrl, mint()));
      const reads: number[] = [];
      for (let i = 0; i < 20; i++) {
        const health = await timed(target.baseUrl, "/healthz");
        const valid = await info(target.baseUrl, target.token);
        expect([health.status, valid.status]).toEqual([200, 200]);
        reads.push(health.ms, valid.ms);
      }
      const written = await Promise.all(writes);
      const ready = await timed(target.baseUrl, "/readyz");
      console.log(
        `lock held: reads max ${Math.max(...reads).toFixed(1)} ms; writes ${written.map((w) => w.status).join(",")} after ` +
          `${Math.min(...written.map((w) => w.ms)).toFixed(0)}-${Math.max(...written.map((w) => w.ms)).toFixed(0)} ms; /readyz ${ready.status}`,
      );
      expect(Math.max(...reads)).toBeLessThan(100);
      for (const w of written) {
        expect(w.status).toBe(503);
        expect(w.ms).toBeLessThanOrEqual(STORE_TIMEOUT_MS * 1.2);
      }
      expect(ready.status).toBe(503);
    } finally {
      holder.stdin!.end();
      await new Promise((resolve) => holder.once("exit", resolve));
    }
    // Released: writes go through again, and the instance is ready.
    expect((await blacklist(target.baseUrl, mint())).status).toBe(200);
    expect(await eventually(async () => (await timed(target.baseUrl, "/readyz")).status === 200)).toBe(true);
  });
});

describe("Redis hung with SIGSTOP", () => {
  let redis: TestRedis;
  let target: Target;
  beforeAll(async () => {
    redis = await startRedis();
    target = await startTarget({ REDIS_URL: redis.url, STORE_TIMEOUT_MS: String(STORE_TIMEOUT_MS) });
  });
  afterAll(async () => {
    redis?.signal("SIGCONT");
    await target?.close();
    await redis?.stop();
  });

  it("answers each of 32 concurrent clients within 1.2 x STORE_TIMEOUT_MS, however many calls are in flight", async () => {
    expect((await info(target.baseUrl, target.token)).status).toBe(200);
    redis.signal("SIGSTOP");
    const until = Date.now() + 2000;
    const latencies: number[] = [];
    const statuses = new Set<number>();
    await Promise.all(
      Array.from({ length: 32 }, async (_, i) => {
        // Staggered, so calls join while others wait behind the pipeline in flight.
        await new Promise((resolve) => setTimeout(resolve, i * 25));
        while (Date.now() < until) {
          const { status, ms } = await getInfo(target.port, target.token);
          statuses.add(status);
          latencies.push(ms);
        }
      }),
    );
    redis.signal("SIGCONT");
    console.log(
      `Redis stopped: ${latencies.length} calls, max ${Math.max(...latencies).toFixed(0)} ms (STORE_TIMEOUT_MS ${STORE_TIMEOUT_MS})`,
    );
    expect([...statuses]).toEqual([503]);
    expect(Math.max(...latencies)).toBeLessThanOrEqual(STORE_TIMEOUT_MS * 1.2);
    expect(await eventually(async () => (await info(target.baseUrl, target.token)).status === 200)).toBe(true);
  });
});

describe("SQLite file that cannot be written", () => {
  it("starts, answers Info, refuses writes with 503, and /readyz says not ready", async () => {
    // Made once, then read-only. Root ignores file modes, so the service then runs without CAP_DAC_OVERRIDE.
    const first = await startTarget();
    const path = join(first.dir, "tokens.db");
    await first.stop();
    chmodSync(path, 0o444);
    const wrapper = process.getuid?.() === 0 ? ["setpriv", "--inh-caps=-all", "--bounding-set=-dac_override,-dac_read_search", "--"] : [];
    const target = await startTarget({ SQLITE_PATH: path }, { wrapper });
    try {
      expect((await info(target.baseUrl, target.token)).status).toBe(200);
      const write = await blacklist(target.baseUrl, mint());
      expect(write.status).toBe(503);
      expect((await timed(target.baseUrl, "/readyz")).status).toBe(503);
      expect((await timed(target.baseUrl, "/healthz")).status).toBe(200);
    } finally {
      await target.close();
      await first.close();
    }
  });
});
