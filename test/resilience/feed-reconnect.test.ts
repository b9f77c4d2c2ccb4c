import { createClient } from "@connectrpc/connect";
import { createConnectTransport } from "@connectrpc/connect-node";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { TokenService, WatchRevocationsResponse_SnapshotReason as SnapshotReason } from "../../gen/tokens/v1/token_service_pb.js";
import { fingerprint } from "../../src/jwt/fingerprint.js";
import { eventually } from "../helpers/eventually.js";
import { FeedReader } from "../helpers/feed-reader.js";
import { PERSISTENT, startRedis, type TestRedis } from "../helpers/redis-server.js";
import { mint } from "../helpers/tokens.js";
import { ADMIN_KEY, startTarget, type Target } from "./target.js";

// Issue 15: a feed reader whose server is SIGKILLed mid-stream reconnects with its cursor and loses nothing.

const FEED_KEY = "resilience-feed-key-0123456789-abcdef";

describe("feed reader through a SIGKILL of its server", () => {
  let redis: TestRedis;
  let a: Target;
  let b: Target;
  beforeAll(async () => {
    redis = await startRedis(PERSISTENT);
    [a, b] = await Promise.all([startTarget({ REDIS_URL: redis.url, FEED_KEY }), startTarget({ REDIS_URL: redis.url, FEED_KEY })]);
  }, 60_000);
  afterAll(async () => {
    await Promise.all([a?.close(), b?.close()]);
    await redis?.stop();
  });

  it("resumes on another instance, and on the restarted one, with exactly the acknowledged revocations", async () => {
    const writer = createClient(TokenService, createConnectTransport({ baseUrl: b.baseUrl, httpVersion: "2" }));
    /** What the store holds, as the writer knows from acknowledged calls: fingerprint -> revoked. */
    const acknowledged = new Map<string, boolean>();
    const tokens: string[] = [];
    let writing = true;
    const writes = (async () => {
      for (let i = 0; writing; i++) {
        // Mostly revocations; every fourth call lifts an earlier one.
        if (i % 4 === 3 && tokens.length > 0) {
          const token = tokens[Math.floor(Math.random() * tokens.length)]!;
          await writer.unblacklist({ token }, { headers: { "x-admin-key": ADMIN_KEY } });
          acknowledged.set(fingerprint(token), false);
        } else {
          const token = mint();
          tokens.push(token);
          await writer.blacklist({}, { headers: { authorization: `Bearer ${token}` } });
          acknowledged.set(fingerprint(token), true);
        }
      }
    })();

    // Two readers on A; A is killed mid-stream. One moves to B at once, the other waits for A to come back.
    const moving = new FeedReader(FEED_KEY);
    const old = new FeedReader(FEED_KEY);
    moving.open(a.baseUrl);
    old.open(a.baseUrl);
    expect(await eventually(async () => moving.messages > 20 && old.messages > 20)).toBe(true);
    await a.stop("SIGKILL");
    expect(await eventually(async () => moving.ended !== undefined && old.ended !== undefined)).toBe(true);
    moving.open(b.baseUrl); // its cursor, another instance: only what it missed
    const restarted = await startTarget({ REDIS_URL: redis.url, FEED_KEY });
    old.open(restarted.baseUrl); // its cursor, from before the restart: the store's log still has what it missed
    await new Promise((resolve) => setTimeout(resolve, 1000));
    writing = false;
    await writes;

    const revoked = new Set([...acknowledged].filter(([, on]) => on).map(([fp]) => fp));
    const matches = (reader: FeedReader) => {
      const held = new Set([...reader.live().keys()].filter((key) => acknowledged.has(key)));
      return held.size === revoked.size && [...revoked].every((fp) => held.has(fp));
    };
    try {
      expect(await eventually(async () => matches(moving) && matches(old), 10_000)).toBe(true);
      expect(moving.starts).toEqual([SnapshotReason.NO_CURSOR, "resumed"]);
      expect(old.starts).toEqual([SnapshotReason.NO_CURSOR, "resumed"]);
      expect(acknowledged.size).toBeGreaterThan(50);
      console.log(
        `feed through a SIGKILL: ${acknowledged.size} acknowledged changes, ${revoked.size} in force; both readers, resumed on another instance and on the restarted one, hold exactly them`,
      );
    } finally {
      await moving.close();
      await old.close();
      await restarted.close();
    }
  }, 60_000);
});
