import { Redis } from "ioredis";
import { StoreUnavailable, type RevocationStore } from "./revocation-store.js";

/** Options for {@link openRedisStore}. */
export interface RedisStoreOptions {
  url: string;
  /** Namespace for keys, so one Redis can hold other data too. */
  keyPrefix: string;
  /** Deadline for each command: an outage answers in this time, never hangs. */
  timeoutMs: number;
}

/**
 * Revocations in Redis, shared by every instance that points at it. One key a
 * revocation (`prefix + fingerprint`, value "1") with a PX TTL that ends when
 * the token could no longer be valid, so storage never grows without bound.
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
  });
  // Reconnects are automatic; errors surface on the commands themselves.
  redis.on("error", () => {});
  try {
    await redis.connect();
  } catch (err) {
    redis.disconnect();
    throw new StoreUnavailable(`REDIS_URL: cannot connect to Redis: ${(err as Error).message}`);
  }
  const key = (fingerprint: string) => options.keyPrefix + fingerprint;
  const guard = async <T>(command: Promise<T>): Promise<T> => {
    try {
      return await command;
    } catch (err) {
      throw new StoreUnavailable(`Redis: ${(err as Error).message}`);
    }
  };
  return {
    async isRevoked(fingerprint) {
      return (await guard(redis.exists(key(fingerprint)))) === 1;
    },
    async revoke(fingerprint, expiresAtMs) {
      const ttl = Math.ceil(expiresAtMs - Date.now());
      if (ttl <= 0) return false; // nothing left to revoke
      return (await guard(redis.set(key(fingerprint), "1", "PX", ttl, "NX"))) === "OK";
    },
    async restore(fingerprint) {
      return (await guard(redis.del(key(fingerprint)))) === 1;
    },
    async ping() {
      await guard(redis.ping());
    },
    async close() {
      await redis.quit().catch(() => redis.disconnect());
    },
  };
}
