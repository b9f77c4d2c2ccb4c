import { Redis } from "ioredis";
import { eventFor } from "./audit-event.js";
import {
  InvalidCursor,
  StoreUnavailable,
  entryKey,
  matchOf,
  type AuditEvent,
  type ChangeResult,
  type Entry,
  type EntryId,
  type RevocationStore,
} from "./revocation-store.js";

/** Options for {@link openRedisStore}. */
export interface RedisStoreOptions {
  url: string;
  /** Namespace for keys, so one Redis can hold other data too. */
  keyPrefix: string;
  /** Deadline for each command: an outage answers in this time, never hangs. */
  timeoutMs: number;
  /** The audit stream is trimmed to about this many newest events. */
  historyMaxEvents: number;
  /** Refuse to start on a Redis that keeps nothing on disk (it forgets every revocation when it restarts). */
  requirePersistence?: boolean;
  /** Told what an operator should know at start-up (a Redis without persistence). */
  onWarning?: (message: string) => void;
}

/**
 * Adds an entry and its audit event atomically. KEYS: entry, stream. ARGV:
 * mode ("once": only if absent; "later": also when the stored cutoff is
 * earlier), value, TTL in ms ("0": none), stream length, event fields...
 * Returns {1, event id} or {0, current value, PTTL}.
 */
const REVOKE = `
local current = redis.call('GET', KEYS[1])
if current and (ARGV[1] ~= 'later' or tonumber(current) >= tonumber(ARGV[2])) then
  return {0, current, redis.call('PTTL', KEYS[1])}
end
if ARGV[3] == '0' then
  redis.call('SET', KEYS[1], ARGV[2])
else
  redis.call('SET', KEYS[1], ARGV[2], 'PX', ARGV[3])
end
return {1, redis.call('XADD', KEYS[2], 'MAXLEN', '~', ARGV[4], '*', unpack(ARGV, 5))}
`;

/** Deletes an entry and records the event atomically. KEYS: entry, stream. ARGV: stream length, event fields... */
const RESTORE = `
if redis.call('DEL', KEYS[1]) == 0 then
  return {0}
end
return {1, redis.call('XADD', KEYS[2], 'MAXLEN', '~', ARGV[1], '*', unpack(ARGV, 2))}
`;

/** Redis with the two scripts above as commands. */
type ScriptedRedis = Redis & {
  tbRevoke(entry: string, stream: string, ...args: string[]): Promise<[0, string, number] | [1, string]>;
  tbRestore(entry: string, stream: string, ...args: string[]): Promise<[0] | [1, string]>;
};

/**
 * Revocations in Redis, shared by every instance that points at it. One key an
 * entry (`prefix + entryKey`): "1" for tokens and jtis, the cutoff in ms for
 * subjects, with a PX TTL that ends when no token it could match can still be
 * valid, so storage never grows without bound. Audit events go to the capped
 * stream `prefix + "history"` in the same script as the change.
 */
export async function openRedisStore(options: RedisStoreOptions): Promise<RevocationStore> {
  const redis = new Redis(options.url, {
    lazyConnect: true,
    enableAutoPipelining: true,
    // Fail fast while disconnected instead of queueing: a check that cannot
    // reach the store must answer UNAVAILABLE, not wait.
    enableOfflineQueue: false,
    commandTimeout: options.timeoutMs,
    connectTimeout: Math.max(options.timeoutMs, 2000),
    maxRetriesPerRequest: 0,
    retryStrategy: (attempt) => Math.min(50 * attempt, 1000),
  }) as ScriptedRedis;
  redis.defineCommand("tbRevoke", { numberOfKeys: 2, lua: REVOKE });
  redis.defineCommand("tbRestore", { numberOfKeys: 2, lua: RESTORE });
  // Reconnects are automatic; errors surface on the commands themselves.
  redis.on("error", () => {});
  try {
    await redis.connect();
  } catch (err) {
    redis.disconnect();
    throw new StoreUnavailable(`REDIS_URL: cannot connect to Redis: ${(err as Error).message}`);
  }
  const prefix = options.keyPrefix;
  const stream = `${prefix}history`;
  const maxLen = String(options.historyMaxEvents);
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
          reject(new StoreUnavailable(`Redis: ${(err as Error).message}`));
        },
      );
    });
  const persistence = await persistenceOf(redis, options.timeoutMs);
  if (persistence !== "on") {
    const what =
      persistence === "off"
        ? "Redis keeps nothing on disk (appendonly no, no RDB snapshots): a Redis restart forgets every revocation"
        : "cannot tell whether Redis persists (CONFIG GET is not allowed): make sure it does (appendonly yes)";
    if (options.requirePersistence === true && persistence === "off") {
      redis.disconnect();
      throw new StoreUnavailable(
        `${what}. Turn on appendonly (appendfsync always to lose nothing), or set REDIS_REQUIRE_PERSISTENCE=false`,
      );
    }
    options.onWarning?.(what);
  }
  const entryOf = (value: string | null, pttl: number, id: EntryId): Entry | undefined =>
    value === null || pttl === -2
      ? undefined
      : { issuedBeforeMs: id.scope === "subject" ? Number(value) : undefined, expiresAtMs: pttl < 0 ? undefined : Date.now() + pttl };
  const lookup = async (id: EntryId): Promise<Entry | undefined> => {
    const key = prefix + entryKey(id);
    const replies = await guard(redis.multi().get(key).pttl(key).exec());
    const failed = replies?.find(([err]) => err !== null);
    if (replies === null || failed !== undefined) throw new StoreUnavailable(`Redis: ${failed?.[0]?.message ?? "transaction aborted"}`);
    return entryOf(replies[0]![1] as string | null, replies[1]![1] as number, id);
  };

  return {
    async check(keys) {
      // One GET or one MGET; a missing scope repeats the token key and its answer is ignored.
      const values =
        keys.jti === undefined && keys.subject === undefined
          ? [await guard(redis.get(prefix + keys.token))]
          : await guard(redis.mget(prefix + keys.token, prefix + (keys.jti ?? keys.token), prefix + (keys.subject ?? keys.token)));
      return matchOf(values[0], keys.jti === undefined ? null : values[1], keys.subject === undefined ? null : values[2], keys.issuedAtMs);
    },
    async revoke(id, request): Promise<ChangeResult> {
      const ttl = request.expiresAtMs === undefined ? 0 : Math.ceil(request.expiresAtMs - Date.now());
      if (ttl < 0 || (ttl === 0 && request.expiresAtMs !== undefined)) {
        return { changed: false, entry: await lookup(id), event: undefined }; // nothing left to revoke
      }
      const value = id.scope === "subject" ? String(request.issuedBeforeMs) : "1";
      const event = eventFor(id, "revoke", request, request.issuedBeforeMs);
      const reply = await guard(
        redis.tbRevoke(
          prefix + entryKey(id),
          stream,
          id.scope === "subject" ? "later" : "once",
          value,
          String(ttl),
          maxLen,
          ...fields(event),
        ),
      );
      if (reply[0] === 0) return { changed: false, entry: entryOf(reply[1], reply[2], id), event: undefined };
      return { changed: true, entry: entryOf(value, ttl === 0 ? -1 : ttl, id), event: stamped(event, reply[1]) };
    },
    async restore(id, request): Promise<ChangeResult> {
      const event = eventFor(id, "restore", request);
      const reply = await guard(redis.tbRestore(prefix + entryKey(id), stream, maxLen, ...fields(event)));
      return reply[0] === 0
        ? { changed: false, entry: undefined, event: undefined }
        : { changed: true, entry: undefined, event: stamped(event, reply[1]) };
    },
    lookup,
    async history(limit, before) {
      if (before !== undefined && !/^[0-9]{1,20}-[0-9]{1,20}$/.test(before)) {
        throw new InvalidCursor("page_token is not one this server handed out");
      }
      const entries = await guard(redis.xrevrange(stream, before === undefined ? "+" : `(${before}`, "-", "COUNT", limit + 1));
      const events = entries.slice(0, limit).map(([streamId, values]) => eventOfFields(streamId, values));
      return { events, next: entries.length > limit ? events.at(-1)!.id : undefined };
    },
    /** Ready means writes go through: a replica or a Redis out of memory answers PING but refuses SET. */
    async ping() {
      await guard(redis.set(`${prefix}ready-probe`, String(process.pid), "PX", 10_000));
    },
    async close() {
      await redis.quit().catch(() => redis.disconnect());
    },
  };
}

/** Stream field names: one letter each, as the stream holds up to historyMaxEvents of them. */
const FIELDS = {
  action: "a",
  scope: "s",
  fingerprint: "f",
  issuer: "i",
  jti: "j",
  subject: "u",
  issuedBeforeMs: "c",
  actor: "w",
  reason: "r",
} as const;

function fields(event: AuditEvent): string[] {
  const out: string[] = [];
  for (const [name, field] of Object.entries(FIELDS)) {
    const value = event[name as keyof typeof FIELDS];
    if (value !== undefined) out.push(field, String(value));
  }
  return out;
}

/** The event as recorded: its stream id, and the time Redis gave that id. */
function stamped(event: AuditEvent, streamId: string): AuditEvent {
  return { ...event, id: streamId, atMs: Number(streamId.slice(0, streamId.indexOf("-"))) };
}

function eventOfFields(streamId: string, values: string[]): AuditEvent {
  const byField = new Map<string, string>();
  for (let i = 0; i + 1 < values.length; i += 2) byField.set(values[i]!, values[i + 1]!);
  const cutoff = byField.get(FIELDS.issuedBeforeMs);
  return stamped(
    {
      id: "",
      atMs: 0,
      action: byField.get(FIELDS.action) as AuditEvent["action"],
      scope: byField.get(FIELDS.scope) as AuditEvent["scope"],
      fingerprint: byField.get(FIELDS.fingerprint),
      issuer: byField.get(FIELDS.issuer),
      jti: byField.get(FIELDS.jti),
      subject: byField.get(FIELDS.subject),
      issuedBeforeMs: cutoff === undefined ? undefined : Number(cutoff),
      actor: byField.get(FIELDS.actor) as AuditEvent["actor"],
      reason: byField.get(FIELDS.reason),
    },
    streamId,
  );
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
