import type { ChainableCommander } from "ioredis";
import type { RedisClient } from "./redis-topology.js";
import { StoreUnavailable } from "./revocation-store.js";

/**
 * What a missing store marker (`KeyLayout.markers`) means, and how reads and
 * scripts say so. An empty Redis reads exactly like a store where nothing is
 * revoked; the marker tells them apart.
 */

const LOST_REPLY = "TBSTORELOST";

/** The error a script returns when its bucket's marker is missing (KEYS[n] is the marker). */
export function requireMarkerLua(n: number): string {
  return `if redis.call('EXISTS', KEYS[${n}]) == 0 then return redis.error_reply('${LOST_REPLY} ' .. KEYS[${n}]) end\n`;
}

/**
 * Redis has lost the store's data where `marker` should be. A
 * {@link StoreUnavailable}: callers answer UNAVAILABLE, never "not revoked".
 */
export class StoreLost extends StoreUnavailable {
  override name = "StoreLost";
  constructor(marker: string) {
    super(
      `Redis holds none of the store's data here (its marker ${marker} is missing): it restarted without persistence, ` +
        "was flushed, or is an empty server made master. Refusing to read it as nothing revoked until the data is back " +
        "(an empty master that Sentinel turns into a replica copies it) or the service restarts, which starts an empty store there",
    );
  }
}

/** The {@link StoreLost} a script's error reply stands for, or undefined for any other error. */
export function lostFromReply(err: unknown): StoreLost | undefined {
  const message = err instanceof Error ? err.message : "";
  return message.startsWith(`${LOST_REPLY} `) ? new StoreLost(message.slice(LOST_REPLY.length + 1)) : undefined;
}

/**
 * The replies of the commands `read` adds, sent in one MULTI after EXISTS
 * `marker` (keys of one bucket: one slot on a Cluster), so they come from a
 * Redis that holds the store's data or not at all ({@link StoreLost}).
 * `guard` bounds the round trip.
 */
export async function readWithMarker(
  client: RedisClient,
  marker: string,
  guard: <T>(command: Promise<T>) => Promise<T>,
  read: (multi: ChainableCommander) => ChainableCommander,
): Promise<unknown[]> {
  const replies = await guard(read(client.multi().exists(marker)).exec());
  const failed = replies?.find(([err]) => err !== null);
  if (replies === null || failed !== undefined) throw new StoreUnavailable(`Redis: ${failed?.[0]?.message ?? "transaction aborted"}`);
  if (replies[0]![1] === 0) throw new StoreLost(marker);
  return replies.slice(1).map(([, value]) => value);
}
