import { Cluster, type Redis } from "ioredis";
import type { RedisTopology } from "../config.js";
import { eventFor } from "./audit-event.js";
import { clusterLayout, newerFirst, singleLayout, streamPosition, upperBound } from "./redis-key-layout.js";
import { backfillIndexes, redisChangeLog } from "./redis-change-log.js";
import { eventOfFields, fields, stamped } from "./redis-event-fields.js";
import { connectRedis, mastersOf, type RedisClient } from "./redis-topology.js";
import {
  ChangeUnconfirmed,
  StoreUnavailable,
  entryKey,
  matchOf,
  type ChangeResult,
  type Entry,
  type EntryId,
  type RevocationStore,
  type TokenKeys,
} from "./revocation-store.js";

/** Options for {@link openRedisStore}. */
export interface RedisStoreOptions {
  topology: RedisTopology;
  /** Namespace for keys, so one Redis can hold other data too. */
  keyPrefix: string;
  /** Deadline for each call: an outage answers in this time, never hangs. */
  timeoutMs: number;
  /** The audit stream is trimmed to about this many newest events (per bucket on a Cluster). */
  historyMaxEvents: number;
  /** Refuse to start on a Redis that keeps nothing on disk (it forgets every revocation when it restarts). */
  requirePersistence?: boolean;
  /** Replicas that must confirm a change (WAIT) before it is acknowledged; 0 (the default) does not wait. */
  waitReplicas?: number;
  /** How long WAIT may take; past it the change is reported unconfirmed. */
  waitTimeoutMs?: number;
  /** Told what an operator should know at start-up (a Redis without persistence). */
  onWarning?: (message: string) => void;
}

/**
 * Lua shared by both change scripts. `append` adds the event to an audit
 * stream. With ids "*" Redis numbers it (one stream: its order is the order
 * of changes). With ids "clock" (a Cluster, one stream per bucket, on several
 * masters) the id is the master's clock in microseconds, `ms-(µs * 1000)`,
 * kept above the stream's last id: changes in different buckets made one
 * after the other then merge in the order they were made, not by bucket, even
 * within one millisecond. `announce` publishes the change's stream on the
 * changes channel, for the revocation feed's followers (a hint: they read the
 * stream itself).
 */
const SHARED = `
local function append(stream, maxLen, ids, first)
  local id = '*'
  if ids == 'clock' then
    local now = redis.call('TIME')
    local ms = tonumber(now[1]) * 1000 + math.floor(tonumber(now[2]) / 1000)
    local seq = (tonumber(now[2]) % 1000) * 1000
    local last = redis.call('XREVRANGE', stream, '+', '-', 'COUNT', 1)[1]
    if last then
      local lastMs, lastSeq = string.match(last[1], '^(%d+)-(%d+)$')
      lastMs, lastSeq = tonumber(lastMs), tonumber(lastSeq)
      if ms < lastMs or (ms == lastMs and seq <= lastSeq) then
        ms, seq = lastMs, lastSeq + 1
      end
    end
    id = string.format('%.0f-%.0f', ms, seq)
  end
  return redis.call('XADD', stream, 'MAXLEN', '~', maxLen, id, unpack(ARGV, first))
end
local function announce(channel, stream)
  redis.call('PUBLISH', channel, stream)
end
`;

/**
 * Adds an entry, its place in the index of entries in force and its audit
 * event atomically, and announces it. KEYS: entry, stream, index. ARGV:
 * stream length, stream ids ("*" or "clock"), channel, entry key (the index
 * member), mode ("once": only if absent; "later": also when the stored cutoff
 * is earlier), value, TTL in ms ("0": none), expiry in epoch ms ("+inf":
 * none), event fields... Expired index members are dropped on the way.
 * Returns {1, event id} or {0, current value, PTTL}.
 */
const REVOKE = `${SHARED}
local current = redis.call('GET', KEYS[1])
if current and (ARGV[5] ~= 'later' or tonumber(current) >= tonumber(ARGV[6])) then
  return {0, current, redis.call('PTTL', KEYS[1])}
end
if ARGV[7] == '0' then
  redis.call('SET', KEYS[1], ARGV[6])
else
  redis.call('SET', KEYS[1], ARGV[6], 'PX', ARGV[7])
end
local now = redis.call('TIME')
redis.call('ZREMRANGEBYSCORE', KEYS[3], '-inf', '(' .. string.format('%.0f', tonumber(now[1]) * 1000 + math.floor(tonumber(now[2]) / 1000)))
redis.call('ZADD', KEYS[3], ARGV[8], ARGV[4])
local id = append(KEYS[2], ARGV[1], ARGV[2], 9)
announce(ARGV[3], KEYS[2])
return {1, id}
`;

/** Deletes an entry, its index member, and records the event atomically; announces it. KEYS: entry, stream, index. ARGV: stream length, stream ids, channel, entry key, event fields... */
const RESTORE = `${SHARED}
redis.call('ZREM', KEYS[3], ARGV[4])
if redis.call('DEL', KEYS[1]) == 0 then
  return {0}
end
local id = append(KEYS[2], ARGV[1], ARGV[2], 5)
announce(ARGV[3], KEYS[2])
return {1, id}
`;

type RevokeReply = [0, string, number] | [1, string];
type RestoreReply = [0] | [1, string];

/** The two scripts above as commands, on a client and on a pipeline. */
interface ScriptCommands<R> {
  tbRevoke(entry: string, stream: string, index: string, ...args: string[]): R;
  tbRestore(entry: string, stream: string, index: string, ...args: string[]): R;
}
type ScriptedClient = RedisClient & {
  tbRevoke(entry: string, stream: string, index: string, ...args: string[]): Promise<RevokeReply>;
  tbRestore(entry: string, stream: string, index: string, ...args: string[]): Promise<RestoreReply>;
};

/**
 * Revocations in Redis (one server, a Sentinel-watched master, or a Cluster),
 * shared by every instance that points at it. One key an entry: "1" for
 * tokens and jtis, the cutoff in ms for subjects, with a PX TTL that ends when
 * no token it could match can still be valid, so storage never grows without
 * bound. Audit events go to a capped stream in the same script as the change;
 * where the keys live is {@link KeyLayout}'s business. With `waitReplicas`,
 * a change is acknowledged only once that many replicas have it.
 */
export async function openRedisStore(options: RedisStoreOptions): Promise<RevocationStore> {
  const waitReplicas = options.waitReplicas ?? 0;
  const redis = await connectScripted(options);
  // WAIT blocks its connection until the replicas answer (or its timeout): on the connection Info
  // uses, every check would queue behind it. Changes get a connection of their own.
  const writer =
    waitReplicas === 0
      ? redis
      : await connectScripted(options).catch((err: unknown) => {
          redis.disconnect();
          throw err;
        });
  const clustered = redis instanceof Cluster;
  const layout = clustered ? clusterLayout(options.keyPrefix) : singleLayout(options.keyPrefix);
  const maxLen = String(options.historyMaxEvents);
  const waitTimeoutMs = options.waitTimeoutMs ?? Math.floor(options.timeoutMs / 2);

  /**
   * One store call, ended at its own deadline. ioredis's commandTimeout runs
   * from when a command is written, and with auto-pipelining a command can
   * wait behind a batch in flight first: against a hung Redis, calls made
   * while one waited answered after up to twice the timeout. This timer runs
   * from the call.
   */
  const guard = <T>(command: Promise<T>): Promise<T> =>
    new Promise<T>((resolve, reject) => {
      const timer = setTimeout(
        () => reject(new StoreUnavailable(`Redis did not answer within STORE_TIMEOUT_MS (${options.timeoutMs} ms)`)),
        options.timeoutMs,
      );
      command.then(
        (value) => {
          clearTimeout(timer);
          resolve(value);
        },
        (err: unknown) => {
          clearTimeout(timer);
          reject(err instanceof StoreUnavailable ? err : new StoreUnavailable(`Redis: ${(err as Error).message}`));
        },
      );
    });

  /**
   * Runs one change script; with `waitReplicas`, WAIT follows it in the same
   * pipeline on the writer connection, so it goes to the same master over the
   * same connection and counts the replicas that have every write made on it
   * so far, this one included. Fewer than asked: {@link ChangeUnconfirmed}.
   */
  const change = async <R>(script: (commands: ScriptCommands<unknown>) => unknown): Promise<R> => {
    if (waitReplicas === 0) return guard(script(redis as unknown as ScriptCommands<Promise<R>>) as Promise<R>);
    const pipeline = writer.pipeline();
    script(pipeline as unknown as ScriptCommands<unknown>);
    pipeline.wait(waitReplicas, waitTimeoutMs);
    const replies = await guard(pipeline.exec());
    const failed = replies?.find(([err]) => err !== null);
    if (replies === null || failed !== undefined) throw new StoreUnavailable(`Redis: ${failed?.[0]?.message ?? "pipeline aborted"}`);
    const confirmed = replies[1]![1] as number;
    if (confirmed < waitReplicas) {
      throw new ChangeUnconfirmed(
        `${confirmed} of REDIS_WAIT_REPLICAS=${waitReplicas} replicas confirmed the change within ${waitTimeoutMs} ms`,
      );
    }
    return replies[0]![1] as R;
  };

  await checkPersistence(redis, options);
  await backfillIndexes(redis, layout, options.keyPrefix, guard);
  const changeLog = redisChangeLog(redis, layout, guard);
  const entryOf = (value: string | null, pttl: number, id: EntryId): Entry | undefined =>
    value === null || pttl === -2
      ? undefined
      : { issuedBeforeMs: id.scope === "subject" ? Number(value) : undefined, expiresAtMs: pttl < 0 ? undefined : Date.now() + pttl };
  /** The bucket of an entry: by its own key, or a token entry's by the subject entry it is placed with. */
  const bucketOfId = (id: EntryId, key: string) => layout.bucketOf(id.scope === "token" ? (id.placedWith ?? key) : key);
  const lookup = async (id: EntryId): Promise<Entry | undefined> => {
    const plain = entryKey(id);
    const key = layout.entry(plain, bucketOfId(id, plain));
    const replies = await guard(redis.multi().get(key).pttl(key).exec());
    const failed = replies?.find(([err]) => err !== null);
    if (replies === null || failed !== undefined) throw new StoreUnavailable(`Redis: ${failed?.[0]?.message ?? "transaction aborted"}`);
    return entryOf(replies[0]![1] as string | null, replies[1]![1] as number, id);
  };
  /**
   * The values under the token, jti and subject keys, in that order (absent
   * ones left out): one MGET; on a Cluster, the token and subject keys (one
   * slot: the token entry is placed with its subject) with one MGET and the
   * jti key with a GET, in parallel: one round trip per master touched.
   */
  const values = (keys: TokenKeys): Promise<Array<string | null>> => {
    const tokenKey = layout.entry(keys.token, layout.bucketOf(keys.subject ?? keys.token));
    const jtiKey = keys.jti === undefined ? undefined : layout.entry(keys.jti, layout.bucketOf(keys.jti));
    const subjectKey = keys.subject === undefined ? undefined : layout.entry(keys.subject, layout.bucketOf(keys.subject));
    if (!clustered) {
      const names = [tokenKey, jtiKey, subjectKey].filter((key) => key !== undefined);
      return guard(names.length === 1 ? redis.get(tokenKey).then((value) => [value]) : redis.mget(...names));
    }
    const withSubject = subjectKey === undefined ? redis.get(tokenKey).then((value) => [value]) : redis.mget(tokenKey, subjectKey);
    if (jtiKey === undefined) return guard(withSubject);
    return guard(Promise.all([withSubject, redis.get(jtiKey)])).then(([[token, subject], jti]) =>
      subject === undefined ? [token ?? null, jti] : [token ?? null, jti, subject],
    );
  };

  return {
    log: changeLog.log,
    async check(keys) {
      const found = await values(keys);
      const jti = keys.jti === undefined ? null : found[1];
      const subject = keys.subject === undefined ? null : found[keys.jti === undefined ? 1 : 2];
      return matchOf(found[0], jti, subject, keys.issuedAtMs);
    },
    async revoke(id, request): Promise<ChangeResult> {
      const ttl = request.expiresAtMs === undefined ? 0 : Math.ceil(request.expiresAtMs - Date.now());
      if (ttl < 0 || (ttl === 0 && request.expiresAtMs !== undefined)) {
        return { changed: false, entry: await lookup(id), event: undefined }; // nothing left to revoke
      }
      const key = entryKey(id);
      const bucket = bucketOfId(id, key);
      const value = id.scope === "subject" ? String(request.issuedBeforeMs) : "1";
      const event = eventFor(id, "revoke", request, request.issuedBeforeMs, request.expiresAtMs);
      const mode = id.scope === "subject" ? "later" : "once";
      const reply = await change<RevokeReply>((commands) =>
        commands.tbRevoke(
          layout.entry(key, bucket),
          layout.streams[bucket]!,
          layout.indexes[bucket]!,
          ...[maxLen, layout.streamIds, layout.channel, key, mode, value, String(ttl), String(request.expiresAtMs ?? "+inf")],
          ...fields(event),
        ),
      );
      if (reply[0] === 0) return { changed: false, entry: entryOf(reply[1], reply[2], id), event: undefined };
      return {
        changed: true,
        entry: entryOf(value, ttl === 0 ? -1 : ttl, id),
        event: stamped(event, layout.cursorOf(reply[1], bucket)),
      };
    },
    async restore(id, request): Promise<ChangeResult> {
      const key = entryKey(id);
      const bucket = bucketOfId(id, key);
      const event = eventFor(id, "restore", request);
      const reply = await change<RestoreReply>((commands) =>
        commands.tbRestore(
          layout.entry(key, bucket),
          layout.streams[bucket]!,
          layout.indexes[bucket]!,
          ...[maxLen, layout.streamIds, layout.channel, key],
          ...fields(event),
        ),
      );
      return reply[0] === 0
        ? { changed: false, entry: undefined, event: undefined }
        : { changed: true, entry: undefined, event: stamped(event, layout.cursorOf(reply[1], bucket)) };
    },
    lookup,
    async history(limit, before) {
      const cursor = before === undefined ? undefined : layout.parseCursor(before);
      // Each stream's newest events after the cursor, merged: limit + 1 from each tells whether more remain.
      const pages = await guard(
        Promise.all(layout.streams.map((stream, bucket) => redis.xrevrange(stream, upperBound(cursor, bucket), "-", "COUNT", limit + 1))),
      );
      const merged = pages
        .flatMap((entries, bucket) => entries.map(([id, values]) => ({ at: streamPosition(id, bucket), id, values })))
        .sort((a, b) => newerFirst(a.at, b.at));
      const events = merged.slice(0, limit).map(({ at, id, values }) => eventOfFields(layout.cursorOf(id, at.bucket), values));
      return { events, next: merged.length > limit ? events.at(-1)!.id : undefined };
    },
    /** Ready means writes go through on every master in use: a replica or a Redis out of memory answers PING but refuses SET. */
    async ping() {
      await guard(Promise.all(layout.probes.map((probe) => redis.set(probe, String(process.pid), "PX", 10_000))));
    },
    async close() {
      changeLog.close();
      await Promise.all([...new Set([redis, writer])].map((client) => client.quit().catch(() => client.disconnect())));
    },
  };
}

/** A connection with the change scripts defined on it. */
async function connectScripted(options: RedisStoreOptions): Promise<ScriptedClient> {
  const client = (await connectRedis(options.topology, options.timeoutMs)) as ScriptedClient;
  client.defineCommand("tbRevoke", { numberOfKeys: 3, lua: REVOKE });
  client.defineCommand("tbRestore", { numberOfKeys: 3, lua: RESTORE });
  return client;
}

/**
 * Warns (or, with `requirePersistence`, refuses) when a master keeps nothing
 * on disk: its restart would forget every revocation it holds.
 */
async function checkPersistence(redis: RedisClient, options: RedisStoreOptions): Promise<void> {
  const states = await Promise.all(mastersOf(redis).map((master) => persistenceOf(master, options.timeoutMs)));
  const persistence = states.includes("off") ? "off" : states.includes("unknown") ? "unknown" : "on";
  if (persistence === "on") return;
  const what =
    persistence === "off"
      ? "Redis keeps nothing on disk (appendonly no, no RDB snapshots): a Redis restart forgets every revocation"
      : "cannot tell whether Redis persists (CONFIG GET is not allowed): make sure it does (appendonly yes)";
  if (options.requirePersistence === true && persistence === "off") {
    redis.disconnect();
    throw new StoreUnavailable(`${what}. Turn on appendonly (appendfsync always to lose nothing), or set REDIS_REQUIRE_PERSISTENCE=false`);
  }
  options.onWarning?.(what);
}

/**
 * Whether Redis keeps its data across a restart: "on" with the append-only
 * file or RDB snapshots, "off" with neither, "unknown" where CONFIG is
 * disabled (managed Redis often renames it).
 */
async function persistenceOf(redis: Redis, timeoutMs: number): Promise<"on" | "off" | "unknown"> {
  try {
    const config = (await Promise.race([
      redis.config("GET", "appendonly").then(async (aof) => [aof, await redis.config("GET", "save")]),
      new Promise((_, reject) => setTimeout(() => reject(new Error("timeout")), timeoutMs)),
    ])) as [unknown[], unknown[]];
    const [aof, save] = config.map((reply) => String((reply as unknown[])[1] ?? ""));
    return aof === "yes" || (save !== undefined && save.trim() !== "") ? "on" : "off";
  } catch {
    return "unknown";
  }
}
