import { Cluster, type Redis } from "ioredis";
import type { RedisTopology } from "../config.js";
import { eventFor } from "./audit-event.js";
import { clusterLayout, type KeyLayout, newerFirst, singleLayout, streamPosition, upperBound } from "./redis-key-layout.js";
import { setUpStore, redisChangeLog } from "./redis-change-log.js";
import { eventOfFields, fields, stamped } from "./redis-event-fields.js";
import { type ClusterReaders, clusterReaders } from "./cluster-readers.js";
import { confirmSentinelMaster, masterReader, sentinelMaster, urlMaster } from "./master-reader.js";
import { connectRedis, mastersOf, type RedisClient } from "./redis-topology.js";
import { lostFromReply, readWithMarker, requireMarkerLua, StoreLost } from "./store-markers.js";
import {
  ChangeUnconfirmed,
  StoreUnavailable,
  entryKey,
  matchOf,
  type ChangeRequest,
  type ChangeResult,
  type Entry,
  type EntryId,
  type RevocationStore,
  type RevokeRequest,
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
 * event atomically, and announces it; refused where the store's marker is
 * missing (see {@link StoreLost}). KEYS: entry, stream, index, marker. ARGV:
 * stream length, stream ids ("*" or "clock"), channel, entry key (the index
 * member), mode ("once": only if absent; "later": also when the stored cutoff
 * is earlier), value, TTL in ms ("0": none), expiry in epoch ms ("+inf":
 * none), event fields... Expired index members are dropped on the way.
 * Returns {1, event id} or {0, current value, PTTL}.
 */
const REVOKE = `${SHARED}
${requireMarkerLua(4)}local current = redis.call('GET', KEYS[1])
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

/** Deletes an entry, its index member, and records the event atomically; announces it. KEYS: entry, stream, index, marker. ARGV: stream length, stream ids, channel, entry key, event fields... */
const RESTORE = `${SHARED}
${requireMarkerLua(4)}redis.call('ZREM', KEYS[3], ARGV[4])
if redis.call('DEL', KEYS[1]) == 0 then
  return {0}
end
local id = append(KEYS[2], ARGV[1], ARGV[2], 5)
announce(ARGV[3], KEYS[2])
return {1, id}
`;

/**
 * Writes a subject cutoff's copy into one bucket (a Cluster's check reads it
 * there). A copy already present keeps the later cutoff and the longer life
 * (none: forever) of the two: a copy never stops refusing sooner than the
 * entry it copies. Refused where the bucket's marker is missing, unless
 * seeding (a bucket being set up again, before its marker is written: see
 * setUpStore). KEYS: the copy, its bucket's marker. ARGV: cutoff, TTL in ms
 * ("0": none), "seed" (optional).
 */
const COPY = `
if ARGV[3] ~= 'seed' then
${requireMarkerLua(2)}end
local cutoff, ttl = tonumber(ARGV[1]), tonumber(ARGV[2])
local current = redis.call('GET', KEYS[1])
if current then
  cutoff = math.max(cutoff, tonumber(current))
  local pttl = redis.call('PTTL', KEYS[1])
  if pttl == -1 then ttl = 0 elseif ttl ~= 0 and pttl > ttl then ttl = pttl end
end
if ttl == 0 then
  redis.call('SET', KEYS[1], string.format('%.0f', cutoff))
else
  redis.call('SET', KEYS[1], string.format('%.0f', cutoff), 'PX', ttl)
end
return 1
`;

/** Deletes a subject cutoff's copy; refused where its bucket's marker is missing. KEYS: the copy, its bucket's marker. */
const UNCOPY = `
${requireMarkerLua(2)}return redis.call('DEL', KEYS[1])
`;

type RevokeReply = [0, string, number] | [1, string];
type RestoreReply = [0] | [1, string];

/** The scripts above as commands, on a client and on a pipeline. */
interface ScriptCommands<R> {
  tbRevoke(entry: string, stream: string, index: string, marker: string, ...args: string[]): R;
  tbRestore(entry: string, stream: string, index: string, marker: string, ...args: string[]): R;
  tbCopy(copy: string, marker: string, cutoff: string, ttl: string, seed?: "seed"): R;
  tbUncopy(copy: string, marker: string): R;
}
type ScriptedClient = RedisClient & {
  tbRevoke(entry: string, stream: string, index: string, marker: string, ...args: string[]): Promise<RevokeReply>;
  tbRestore(entry: string, stream: string, index: string, marker: string, ...args: string[]): Promise<RestoreReply>;
  tbCopy(copy: string, marker: string, cutoff: string, ttl: string, seed?: "seed"): Promise<number>;
  tbUncopy(copy: string, marker: string): Promise<number>;
};

/**
 * Where a check's MGET goes: on a Cluster, to the master serving its bucket
 * ({@link clusterReaders}); otherwise to the master (REDIS_URL's, or the one
 * the sentinels name: {@link masterReader}). Both on plain connections of
 * their own, ioredis when those fail.
 */
async function openCheckReads(redis: RedisClient, topology: RedisTopology, layout: KeyLayout, timeoutMs: number): Promise<ClusterReaders> {
  if (redis instanceof Cluster) {
    if (topology.mode !== "cluster") throw new Error("a Cluster client without a Cluster topology");
    return clusterReaders(redis, layout.probes, topology, timeoutMs);
  }
  const locate = topology.mode === "sentinel" ? sentinelMaster(topology, timeoutMs) : urlMaster(redis);
  const reader = await masterReader(redis, locate, timeoutMs);
  return { mget: (_bucket, keys) => reader.mget(keys), close: () => reader.close() };
}

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

  /** When each connection last found the store's data missing and was sent back to the sentinels. */
  const lostAt = new Map<RedisClient, number>();
  /**
   * Rethrows what a call on `client` failed with; when it is {@link
   * StoreLost} on Sentinel, that connection first asks the sentinels for the
   * master again (at most once a second): an empty master there can be one
   * a sentinel named before it heard of a failover (the killed master
   * restarted empty, not yet made a replica), and ioredis stays on any
   * master until its connection closes. Only a connection that met it: a
   * healthy one keeps its calls in flight.
   */
  const failedOn =
    (client: RedisClient) =>
    (err: unknown): never => {
      if (err instanceof StoreLost && options.topology.mode === "sentinel" && Date.now() - (lostAt.get(client) ?? 0) >= 1000) {
        lostAt.set(client, Date.now());
        client.disconnect(true);
      }
      throw err;
    };

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
          reject(err instanceof StoreUnavailable ? err : (lostFromReply(err) ?? new StoreUnavailable(`Redis: ${(err as Error).message}`)));
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
    if (waitReplicas === 0) {
      return guard(script(redis as unknown as ScriptCommands<Promise<R>>) as Promise<R>).catch(failedOn(redis));
    }
    const pipeline = writer.pipeline();
    script(pipeline as unknown as ScriptCommands<unknown>);
    pipeline.wait(waitReplicas, waitTimeoutMs);
    const replies = await guard(pipeline.exec());
    const failed = replies?.find(([err]) => err !== null);
    if (replies === null || failed !== undefined) {
      const missing = lostFromReply(failed?.[0]);
      return failedOn(writer)(missing ?? new StoreUnavailable(`Redis: ${failed?.[0]?.message ?? "pipeline aborted"}`));
    }
    const confirmed = replies[1]![1] as number;
    if (confirmed < waitReplicas) {
      throw new ChangeUnconfirmed(
        `${confirmed} of REDIS_WAIT_REPLICAS=${waitReplicas} replicas confirmed the change within ${waitTimeoutMs} ms`,
      );
    }
    return replies[0]![1] as R;
  };

  const topology = options.topology;
  let checkReads: ClusterReaders;
  try {
    await checkPersistence(redis, options);
    if (clustered) await checkClusterLayout(redis, layout, guard);
    await setUpStore(redis, layout, options.keyPrefix, guard, {
      confirmMaster: async () => {
        if (topology.mode === "sentinel") await confirmSentinelMaster(redis as Redis, topology, options.timeoutMs);
      },
      seedCopy: (bucket, key, cutoff, ttl) =>
        redis.tbCopy(layout.subjectCopy(key, bucket), layout.markers[bucket]!, cutoff, String(ttl), "seed"),
      onSetUp: (message) => options.onWarning?.(message),
    });
    checkReads = await openCheckReads(redis, options.topology, layout, options.timeoutMs);
  } catch (err) {
    for (const client of new Set([redis, writer])) client.disconnect();
    throw err;
  }
  const changeLog = redisChangeLog(redis, layout, guard, failedOn(redis));
  const entryOf = (value: string | null, pttl: number, id: EntryId): Entry | undefined =>
    value === null || pttl === -2
      ? undefined
      : { issuedBeforeMs: id.scope === "subject" ? Number(value) : undefined, expiresAtMs: pttl < 0 ? undefined : Date.now() + pttl };
  /** The bucket of an entry: by its own key, or a token entry's by the entry it is placed with. */
  const bucketOfId = (id: EntryId, key: string) => layout.bucketOf(id.scope === "token" ? (id.placedWith ?? key) : key);
  const allBuckets = Array.from({ length: layout.buckets }, (_, bucket) => bucket);
  /** Whether an entry has copies (a subject's, on a Cluster): its changes take several round trips. */
  const hasCopies = (id: EntryId) => id.scope === "subject" && layout.buckets > 1;
  /**
   * On a Cluster, writes (`cutoff`) or deletes (undefined) a subject entry's
   * copy in every bucket, each a change of its own (with REDIS_WAIT_REPLICAS,
   * confirmed by WAIT). A revoke writes them before the entry and again after
   * it, a restore deletes them after the entry and then copies again whatever
   * entry it finds (a revoke that ran beside it): however the two interleave,
   * an entry in force ends with its copies, and a change that fails part way
   * leaves tokens refused, never let through, until a retry completes it.
   * Only for entries that {@link hasCopies}.
   */
  const copySubject = async (key: string, cutoff: string | undefined, ttl: number): Promise<void> => {
    await Promise.all(
      allBuckets.map((bucket) =>
        change((commands) =>
          cutoff === undefined
            ? commands.tbUncopy(layout.subjectCopy(key, bucket), layout.markers[bucket]!)
            : commands.tbCopy(layout.subjectCopy(key, bucket), layout.markers[bucket]!, cutoff, String(ttl)),
        ),
      ),
    );
  };
  const lookup = async (id: EntryId): Promise<Entry | undefined> => {
    const plain = entryKey(id);
    const bucket = bucketOfId(id, plain);
    const key = layout.entry(plain, bucket);
    const [value, pttl] = await readWithMarker(redis, layout.markers[bucket]!, guard, (multi) => multi.get(key).pttl(key)).catch(
      failedOn(redis),
    );
    return entryOf(value as string | null, pttl as number, id);
  };
  /**
   * The values under the bucket's marker and the token, jti and subject keys,
   * in that order (absent ones left out): one MGET. On a Cluster they share
   * one slot (the token entry is placed with its jti, else its subject, and
   * the subject is read from its copy in that bucket), so it is one MGET on
   * one master too. No marker: {@link StoreLost}, never "not revoked".
   */
  const values = async (keys: TokenKeys): Promise<Array<string | null>> => {
    const bucket = layout.bucketOf(keys.jti ?? keys.subject ?? keys.token);
    const names = [layout.markers[bucket]!, layout.entry(keys.token, bucket)];
    if (keys.jti !== undefined) names.push(layout.entry(keys.jti, bucket));
    if (keys.subject !== undefined) names.push(layout.subjectCopy(keys.subject, bucket));
    const found = await guard(checkReads.mget(bucket, names));
    if (found[0] === null) return failedOn(redis)(new StoreLost(names[0]!));
    return found;
  };

  /** Adds an entry with its event (a subject's: its copies first, see {@link copySubject}). */
  async function revoke(id: EntryId, request: RevokeRequest): Promise<ChangeResult> {
    const ttl = request.expiresAtMs === undefined ? 0 : Math.ceil(request.expiresAtMs - Date.now());
    if (ttl < 0 || (ttl === 0 && request.expiresAtMs !== undefined)) {
      return { changed: false, entry: await lookup(id), event: undefined }; // nothing left to revoke
    }
    const key = entryKey(id);
    const bucket = bucketOfId(id, key);
    const value = id.scope === "subject" ? String(request.issuedBeforeMs) : "1";
    const event = eventFor(id, "revoke", request, request.issuedBeforeMs, request.expiresAtMs);
    const mode = id.scope === "subject" ? "later" : "once";
    if (hasCopies(id)) await copySubject(key, value, ttl);
    const reply = await change<RevokeReply>((commands) =>
      commands.tbRevoke(
        layout.entry(key, bucket),
        layout.streams[bucket]!,
        layout.indexes[bucket]!,
        layout.markers[bucket]!,
        ...[maxLen, layout.streamIds, layout.channel, key, mode, value, String(ttl), String(request.expiresAtMs ?? "+inf")],
        ...fields(event),
      ),
    );
    if (reply[0] === 0) {
      // A later cutoff is in force: its copies too (an earlier revoke's, completed here if it failed part way).
      if (hasCopies(id) && reply[2] !== -2) await copySubject(key, reply[1], Math.max(0, reply[2]));
      return { changed: false, entry: entryOf(reply[1], reply[2], id), event: undefined };
    }
    if (hasCopies(id)) await copySubject(key, value, ttl); // again: a restore beside this one may have deleted them
    return {
      changed: true,
      entry: entryOf(value, ttl === 0 ? -1 : ttl, id),
      event: stamped(event, layout.cursorOf(reply[1], bucket)),
    };
  }

  /** Deletes an entry with its event (a subject's: its copies after). */
  async function restore(id: EntryId, request: ChangeRequest): Promise<ChangeResult> {
    const key = entryKey(id);
    const bucket = bucketOfId(id, key);
    const event = eventFor(id, "restore", request);
    const reply = await change<RestoreReply>((commands) =>
      commands.tbRestore(
        layout.entry(key, bucket),
        layout.streams[bucket]!,
        layout.indexes[bucket]!,
        layout.markers[bucket]!,
        ...[maxLen, layout.streamIds, layout.channel, key],
        ...fields(event),
      ),
    );
    if (hasCopies(id)) {
      await copySubject(key, undefined, 0);
      // A revoke beside this one may have written its entry after ours went: its copies stay.
      const still = await lookup(id);
      if (still !== undefined) {
        const ttl = still.expiresAtMs === undefined ? 0 : Math.max(1, Math.ceil(still.expiresAtMs - Date.now()));
        await copySubject(key, String(still.issuedBeforeMs), ttl);
      }
    }
    return reply[0] === 0
      ? { changed: false, entry: undefined, event: undefined }
      : { changed: true, entry: undefined, event: stamped(event, layout.cursorOf(reply[1], bucket)) };
  }

  return {
    log: changeLog.log,
    async check(keys) {
      const found = await values(keys);
      const jti = keys.jti === undefined ? null : found[2];
      const subject = keys.subject === undefined ? null : found[keys.jti === undefined ? 2 : 3];
      return matchOf(found[1], jti, subject, keys.issuedAtMs);
    },
    // A subject's change on a Cluster is several round trips (its copies, then the entry): one deadline for all of them.
    revoke: (id, request) => (hasCopies(id) ? guard(revoke(id, request)) : revoke(id, request)),
    restore: (id, request) => (hasCopies(id) ? guard(restore(id, request)) : restore(id, request)),
    lookup,
    async history(limit, before) {
      const cursor = before === undefined ? undefined : layout.parseCursor(before);
      // Each stream's newest events after the cursor, merged: limit + 1 from each tells whether more remain.
      const pages = await Promise.all(
        layout.streams.map((stream, bucket) =>
          readWithMarker(redis, layout.markers[bucket]!, guard, (multi) =>
            multi.xrevrange(stream, upperBound(cursor, bucket), "-", "COUNT", limit + 1),
          ),
        ),
      ).catch(failedOn(redis));
      const merged = pages
        .flatMap(([page], bucket) =>
          (page as Array<[string, string[]]>).map(([id, values]) => ({ at: streamPosition(id, bucket), id, values })),
        )
        .sort((a, b) => newerFirst(a.at, b.at));
      const events = merged.slice(0, limit).map(({ at, id, values }) => eventOfFields(layout.cursorOf(id, at.bucket), values));
      return { events, next: merged.length > limit ? events.at(-1)!.id : undefined };
    },
    /**
     * Ready means writes go through on every master in use (a replica or a
     * Redis out of memory answers PING but refuses SET) and each holds the
     * store's data (its markers).
     */
    async ping() {
      const [, markers] = await guard(
        Promise.all([
          Promise.all(layout.probes.map((probe) => redis.set(probe, String(process.pid), "PX", 10_000))),
          Promise.all(layout.markers.map((marker) => redis.exists(marker))),
        ]),
      );
      const missing = markers.indexOf(0);
      if (missing >= 0) return failedOn(redis)(new StoreLost(layout.markers[missing]!));
    },
    async close() {
      changeLog.close();
      checkReads.close();
      await Promise.all([...new Set([redis, writer])].map((client) => client.quit().catch(() => client.disconnect())));
    },
  };
}

/** Marks a Cluster whose keys are in the layout of {@link clusterLayout} today (one slot per check). */
const CLUSTER_LAYOUT_VERSION = "2";

/**
 * Refuses a Cluster that holds revocations in an earlier layout (development
 * builds before one-slot checks placed token entries by subject and kept no
 * subject copies): read in today's layout, some of them would be missed. An
 * empty Cluster is marked and used, and so is one whose bucket 0 (where the
 * layout's mark is) lost its data, told apart from those builds by the
 * buckets' markers: theirs are on every bucket in use, or on none.
 */
async function checkClusterLayout(redis: RedisClient, layout: KeyLayout, guard: <T>(command: Promise<T>) => Promise<T>): Promise<void> {
  const marker = layout.entry("layout", 0);
  const version = await guard(redis.get(marker));
  if (version === CLUSTER_LAYOUT_VERSION) return;
  const exists = (keys: readonly string[]) => guard(Promise.all(keys.map((key) => redis.exists(key))));
  const [markers, streams, indexes] = await Promise.all([exists(layout.markers), exists(layout.streams), exists(layout.indexes)]);
  const used = (bucket: number) => streams[bucket] === 1 || indexes[bucket] === 1;
  // Builds since index-ready marked bucket 0 along with the others; builds before it marked none.
  const earlier = markers[0] === 1 ? markers.some((_, bucket) => used(bucket)) : markers.some((n, bucket) => n === 0 && used(bucket));
  // Another instance starting beside this one may have just marked it.
  if ((version !== null || earlier) && (await guard(redis.get(marker))) !== CLUSTER_LAYOUT_VERSION) {
    throw new StoreUnavailable(
      `REDIS_CLUSTER_NODES: the Cluster holds revocations in another key layout (${version === null ? "an earlier development build's" : `version ${version}`}); this version reads layout ${CLUSTER_LAYOUT_VERSION}. Start from an empty Cluster (or REDIS_KEY_PREFIX), and revoke again what must stay revoked`,
    );
  }
  await guard(redis.set(marker, CLUSTER_LAYOUT_VERSION));
}

/** A connection with the change scripts defined on it. */
async function connectScripted(options: RedisStoreOptions): Promise<ScriptedClient> {
  const client = (await connectRedis(options.topology, options.timeoutMs)) as ScriptedClient;
  client.defineCommand("tbRevoke", { numberOfKeys: 4, lua: REVOKE });
  client.defineCommand("tbRestore", { numberOfKeys: 4, lua: RESTORE });
  client.defineCommand("tbCopy", { numberOfKeys: 2, lua: COPY });
  client.defineCommand("tbUncopy", { numberOfKeys: 2, lua: UNCOPY });
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
