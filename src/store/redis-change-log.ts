import { Cluster } from "ioredis";
import { loggedChange } from "./audit-event.js";
import { eventOfFields } from "./redis-event-fields.js";
import type { KeyLayout } from "./redis-key-layout.js";
import { mastersOf, type RedisClient } from "./redis-topology.js";
import type { ChangeLog, Entry, LoggedChange, LogPosition } from "./revocation-store.js";
import { readWithMarker, requireMarkerLua, StoreLost } from "./store-markers.js";

/**
 * The changes after an id in one stream, and whether the log still holds
 * them all: atomically, so a trim between the two answers cannot hide a gap.
 * Refused where the stream's bucket has lost its marker (a wiped stream is
 * not one where nothing happened). KEYS: stream, marker. ARGV: id ("0-0":
 * the stream was empty), count. Returns
 * {held (1/0), entries}. The id is held while it is still in the stream;
 * "0-0" while nothing was ever trimmed (entries-added equals the length).
 */
const CHANGES_AFTER = `
${requireMarkerLua(2)}local entries = redis.call('XRANGE', KEYS[1], '(' .. ARGV[1], '+', 'COUNT', ARGV[2])
if redis.call('EXISTS', KEYS[1]) == 0 then
  return {ARGV[1] == '0-0' and 1 or 0, entries}
end
if ARGV[1] ~= '0-0' then
  return {#redis.call('XRANGE', KEYS[1], ARGV[1], ARGV[1]) == 1 and 1 or 0, entries}
end
local info = redis.call('XINFO', 'STREAM', KEYS[1])
local length, added = 0, 0
for i = 1, #info, 2 do
  if info[i] == 'length' then length = info[i + 1] end
  if info[i] == 'entries-added' then added = info[i + 1] end
end
return {added == length and 1 or 0, entries}
`;

/**
 * Adds an entry written before indexes existed to its index, if it still
 * exists, with its expiry. KEYS: entry, index. ARGV: entry key.
 */
const BACKFILL = `
local ttl = redis.call('PTTL', KEYS[1])
if ttl == -2 then return 0 end
local score = '+inf'
if ttl >= 0 then
  local now = redis.call('TIME')
  score = string.format('%.0f', tonumber(now[1]) * 1000 + math.floor(tonumber(now[2]) / 1000) + ttl)
end
return redis.call('ZADD', KEYS[2], 'NX', score, ARGV[1])
`;

type LogClient = RedisClient & {
  tbChangesAfter(stream: string, marker: string, id: string, count: number): Promise<[0 | 1, Array<[string, string[]]>]>;
  tbBackfill(entry: string, index: string, entryKey: string): Promise<number>;
};

/** Entries read from an index per ZSCAN step, and subject cutoffs per MGET. */
const SCAN_COUNT = 1000;

const STREAM_ID = /^([0-9]{1,20})-([0-9]{1,20})$/;

/**
 * The Redis store's {@link ChangeLog}: positions are the audit streams' last
 * ids, changes are read from the streams, entries in force from the indexes
 * the change scripts keep (one sorted set per bucket, member: entry key,
 * score: expiry), and the change scripts' PUBLISH wakes followers. A
 * bucket without its marker fails every read ({@link StoreLost}): an empty
 * index or stream there is lost data, not an empty log. `guard` bounds each
 * call by STORE_TIMEOUT_MS; `failed` sees every failure first (and rethrows it).
 */
export function redisChangeLog(
  redis: RedisClient,
  layout: KeyLayout,
  guard: <T>(command: Promise<T>) => Promise<T>,
  failed: (err: unknown) => never,
): { log: ChangeLog; close(): void } {
  const client = redis as LogClient;
  client.defineCommand("tbChangesAfter", { numberOfKeys: 2, lua: CHANGES_AFTER });
  const listeners = new Set<() => void>();
  let subscriber: RedisClient | undefined;

  const log: ChangeLog = {
    async head() {
      const last = await Promise.all(
        layout.streams.map((stream, bucket) =>
          readWithMarker(client, layout.markers[bucket]!, guard, (multi) => multi.xrevrange(stream, "+", "-", "COUNT", 1)),
        ),
      ).catch(failed);
      return last.map(([entries]) => (entries as Array<[string, string[]]>)[0]?.[0] ?? "0-0");
    },
    async entries() {
      const now = Date.now();
      const buckets = await Promise.all(layout.indexes.map((_, bucket) => indexEntries(client, layout, bucket, now, guard))).catch(failed);
      return buckets.flat();
    },
    async changesAfter(position: LogPosition, limit: number) {
      const perStream = Math.max(1, Math.ceil(limit / layout.streams.length));
      const replies = await guard(
        Promise.all(layout.streams.map((stream, i) => client.tbChangesAfter(stream, layout.markers[i]!, position[i]!, perStream))),
      ).catch(failed);
      if (replies.some(([held]) => held === 0)) return "gone";
      const changes: LoggedChange[] = [];
      const next = [...position];
      let complete = true;
      replies.forEach(([, entries], stream) => {
        if (entries.length >= perStream) complete = false;
        for (const [id, values] of entries) {
          changes.push(loggedChange(stream, id, eventOfFields(id, values)));
          next[stream] = id;
        }
      });
      return { changes, position: next, complete };
    },
    changeOf(event) {
      const at = layout.parseCursor(event.id);
      return loggedChange(at.bucket, `${at.ms}-${at.seq}`, event);
    },
    isPosition: (position) => position.length === layout.streams.length && position.every((id) => STREAM_ID.test(id)),
    compareIds(a, b) {
      const [am, as] = a.split("-").map(BigInt) as [bigint, bigint];
      const [bm, bs] = b.split("-").map(BigInt) as [bigint, bigint];
      return am !== bm ? (am < bm ? -1 : 1) : as === bs ? 0 : as < bs ? -1 : 1;
    },
    onChange(listener) {
      listeners.add(listener);
      if (subscriber === undefined) {
        // Connected now, and queueing while disconnected: the store's own connections fail fast
        // instead (lazy, no offline queue), which would drop the SUBSCRIBE itself.
        const connection: RedisClient =
          redis instanceof Cluster
            ? redis.duplicate(undefined, { lazyConnect: false, enableOfflineQueue: true })
            : redis.duplicate({ lazyConnect: false, enableOfflineQueue: true });
        subscriber = connection;
        connection.on("message", () => {
          for (const each of listeners) each();
        });
        // ioredis subscribes again after a reconnect or a failover; a change announced while the
        // connection was down is caught by the follower's periodic read.
        connection.subscribe(layout.channel).catch(() => {});
        connection.on("error", () => {});
      }
      return () => {
        listeners.delete(listener);
        if (listeners.size === 0 && subscriber !== undefined) {
          subscriber.disconnect();
          subscriber = undefined;
        }
      };
    },
  };
  return {
    log,
    close() {
      listeners.clear();
      subscriber?.disconnect();
      subscriber = undefined;
    },
  };
}

/**
 * The entries of one bucket's index that have not expired, with subject
 * cutoffs read from their keys; each page read with the bucket's marker
 * ({@link readWithMarker}), so a wiped index is never read as an empty one.
 */
async function indexEntries(
  client: RedisClient,
  layout: KeyLayout,
  bucket: number,
  now: number,
  guard: <T>(command: Promise<T>) => Promise<T>,
): Promise<Array<[string, Entry]>> {
  const index = layout.indexes[bucket]!;
  const marker = layout.markers[bucket]!;
  const found = new Map<string, number>();
  let cursor = "0";
  do {
    const [page] = await readWithMarker(client, marker, guard, (multi) => multi.zscan(index, cursor, "COUNT", SCAN_COUNT));
    const [next, flat] = page as [string, string[]];
    for (let i = 0; i + 1 < flat.length; i += 2) {
      const score = flat[i + 1]!;
      const expiresAtMs = score === "inf" || score === "+inf" ? Number.POSITIVE_INFINITY : Number(score);
      if (expiresAtMs > now) found.set(flat[i]!, expiresAtMs);
    }
    cursor = next;
  } while (cursor !== "0");
  const entries: Array<[string, Entry]> = [];
  const subjects: string[] = [];
  for (const [key, expiresAtMs] of found) {
    const entry = { issuedBeforeMs: undefined, expiresAtMs: Number.isFinite(expiresAtMs) ? expiresAtMs : undefined };
    if (key.startsWith("s:")) subjects.push(key);
    else entries.push([key, entry]);
  }
  for (let i = 0; i < subjects.length; i += SCAN_COUNT) {
    const chunk = subjects.slice(i, i + SCAN_COUNT);
    const [cutoffs] = (await readWithMarker(client, marker, guard, (multi) =>
      multi.mget(...chunk.map((key) => layout.entry(key, bucket))),
    )) as [Array<string | null>];
    chunk.forEach((key, j) => {
      const cutoff = cutoffs[j];
      // Gone since the index was read: restored, or expired; the replay that follows settles it.
      if (cutoff === null || cutoff === undefined) return;
      const expiresAtMs = found.get(key)!;
      entries.push([key, { issuedBeforeMs: Number(cutoff), expiresAtMs: Number.isFinite(expiresAtMs) ? expiresAtMs : undefined }]);
    });
  }
  return entries;
}

/** What {@link setUpStore} needs from the store beyond a client. */
export interface StoreSetUp {
  /**
   * Resolves when the Redis reached may be taken for the store's home
   * (Sentinel: the master most sentinels name, not one a stale sentinel
   * named); rejects, with the reason, otherwise. Asked only before markers
   * are written.
   */
  confirmMaster(): Promise<void>;
  /** Writes a subject cutoff's copy into `bucket` before that bucket has its marker (a Cluster's COPY, seeding). */
  seedCopy(bucket: number, subjectKey: string, cutoff: string, ttlMs: number): Promise<unknown>;
  /** Told when a store is set up where markers were missing: what operators should know. */
  onSetUp(message: string): void;
}

/**
 * Sets the store up where its markers (`KeyLayout.markers`) are missing:
 * once `setUp.confirmMaster` agrees, adds to the indexes the entries an
 * earlier version wrote without them (a SCAN of the store's keys on each
 * master); on a Cluster where only some buckets lost their data, copies the
 * subject cutoffs kept in the others back into them (a check reads a
 * subject's copy in its own bucket); then writes the missing markers. At
 * start-up, once per deployment; again only where Redis lost the data, which
 * a running service refuses to read ({@link StoreLost}) and a starting one
 * takes for a new, empty store.
 */
export async function setUpStore(
  redis: RedisClient,
  layout: KeyLayout,
  prefix: string,
  guard: <T>(command: Promise<T>) => Promise<T>,
  setUp: StoreSetUp,
): Promise<void> {
  // Each round trip has its own deadline: the whole walk may take longer than one call may.
  const present = await guard(Promise.all(layout.markers.map((marker) => redis.exists(marker))));
  const missing = layout.markers.flatMap((_, bucket) => (present[bucket] === 1 ? [] : [bucket]));
  if (missing.length === 0) return;
  await setUp.confirmMaster();
  const client = redis as LogClient;
  client.defineCommand("tbBackfill", { numberOfKeys: 2, lua: BACKFILL });
  const pattern = `${prefix.replace(/[*?[\]\\]/g, "\\$&")}*`;
  for (const master of mastersOf(redis)) {
    let cursor = "0";
    do {
      const [next, keys] = await guard(master.scan(cursor, "MATCH", pattern, "COUNT", SCAN_COUNT));
      await guard(
        Promise.all(
          keys.map((redisKey) => {
            const entry = layout.parseEntry(redisKey);
            return entry === undefined ? undefined : client.tbBackfill(redisKey, layout.indexes[entry.bucket]!, entry.key);
          }),
        ),
      );
      cursor = next;
    } while (cursor !== "0");
  }
  const now = Date.now();
  let seeded = 0;
  for (const bucket of layout.markers.keys()) {
    if (missing.includes(bucket)) continue;
    const subjects = (await indexEntries(redis, layout, bucket, now, guard)).filter(([, entry]) => entry.issuedBeforeMs !== undefined);
    for (let i = 0; i < subjects.length; i += SCAN_COUNT) {
      const seeds = subjects.slice(i, i + SCAN_COUNT).flatMap(([key, entry]) => {
        const ttl = entry.expiresAtMs === undefined ? 0 : Math.ceil(entry.expiresAtMs - now);
        return ttl > 0 || entry.expiresAtMs === undefined
          ? missing.map((into) => setUp.seedCopy(into, key, String(entry.issuedBeforeMs), ttl))
          : [];
      });
      await guard(Promise.all(seeds));
      seeded += seeds.length;
    }
  }
  await guard(Promise.all(missing.map((bucket) => redis.set(layout.markers[bucket]!, "1"))));
  setUp.onSetUp(
    missing.length === layout.buckets
      ? "Redis held no store for this service: set up a new, empty one (a new deployment; if Redis lost its data instead, every revocation it held is gone: revoke again what must stay revoked)"
      : `Redis had lost the store's data in ${missing.length} of ${layout.buckets} buckets (${missing.map((bucket) => layout.markers[bucket]).join(", ")}): set them up again, empty, with ${seeded} copies of subject revocations kept in the others; every other revocation made there is gone`,
  );
}
