import { Cluster } from "ioredis";
import { loggedChange } from "./audit-event.js";
import { eventOfFields } from "./redis-event-fields.js";
import type { KeyLayout } from "./redis-key-layout.js";
import { mastersOf, type RedisClient } from "./redis-topology.js";
import type { ChangeLog, Entry, LoggedChange, LogPosition } from "./revocation-store.js";
import { requireMarkerLua, StoreLost } from "./store-markers.js";

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
 * call by STORE_TIMEOUT_MS.
 */
export function redisChangeLog(
  redis: RedisClient,
  layout: KeyLayout,
  guard: <T>(command: Promise<T>) => Promise<T>,
): { log: ChangeLog; close(): void } {
  const client = redis as LogClient;
  client.defineCommand("tbChangesAfter", { numberOfKeys: 2, lua: CHANGES_AFTER });
  const listeners = new Set<() => void>();
  let subscriber: RedisClient | undefined;

  /** Fails unless every bucket in `buckets` still has its marker. */
  const requireMarkers = async (buckets: readonly number[]): Promise<void> => {
    const present = await guard(Promise.all(buckets.map((bucket) => client.exists(layout.markers[bucket]!))));
    const missing = present.indexOf(0);
    if (missing >= 0) throw new StoreLost(layout.markers[buckets[missing]!]!);
  };

  /** The entries of one bucket's index that have not expired, with subject cutoffs read from their keys. */
  const bucketEntries = async (bucket: number, now: number): Promise<Array<[string, Entry]>> => {
    const index = layout.indexes[bucket]!;
    const found = new Map<string, number>();
    let cursor = "0";
    do {
      const [next, flat] = await guard(client.zscan(index, cursor, "COUNT", SCAN_COUNT));
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
      const cutoffs = await guard(client.mget(...chunk.map((key) => layout.entry(key, bucket))));
      chunk.forEach((key, j) => {
        const cutoff = cutoffs[j];
        // Gone since the index was read: restored, or expired; the replay that follows settles it.
        if (cutoff === null || cutoff === undefined) return;
        const expiresAtMs = found.get(key)!;
        entries.push([key, { issuedBeforeMs: Number(cutoff), expiresAtMs: Number.isFinite(expiresAtMs) ? expiresAtMs : undefined }]);
      });
    }
    await requireMarkers([bucket]); // after the scan: the index read is the store's, not a wiped one's
    return entries;
  };

  const log: ChangeLog = {
    async head() {
      const [last] = await Promise.all([
        guard(Promise.all(layout.streams.map((stream) => client.xrevrange(stream, "+", "-", "COUNT", 1)))),
        requireMarkers(layout.streams.map((_, bucket) => bucket)),
      ]);
      return last.map((entries) => entries[0]?.[0] ?? "0-0");
    },
    async entries() {
      const now = Date.now();
      const buckets = await Promise.all(layout.indexes.map((_, bucket) => bucketEntries(bucket, now)));
      return buckets.flat();
    },
    async changesAfter(position: LogPosition, limit: number) {
      const perStream = Math.max(1, Math.ceil(limit / layout.streams.length));
      const replies = await guard(
        Promise.all(layout.streams.map((stream, i) => client.tbChangesAfter(stream, layout.markers[i]!, position[i]!, perStream))),
      );
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
 * Sets the store up where its markers (`KeyLayout.markers`) are missing:
 * adds to the indexes the entries an earlier version wrote without them (a
 * SCAN of the store's keys on each master), then writes the markers. At
 * start-up, once per deployment; again only where Redis lost the data, which
 * a running service refuses to read ({@link StoreLost}) and a starting one
 * takes for a new, empty store.
 */
export async function setUpStore(
  redis: RedisClient,
  layout: KeyLayout,
  prefix: string,
  guard: <T>(command: Promise<T>) => Promise<T>,
): Promise<void> {
  // Each round trip has its own deadline: the whole walk may take longer than one call may.
  const ready = await guard(Promise.all(layout.markers.map((marker) => redis.exists(marker))));
  if (ready.every((flag) => flag === 1)) return;
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
  await guard(Promise.all(layout.markers.map((marker) => redis.set(marker, "1"))));
}
