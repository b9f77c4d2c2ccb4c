import { type Cluster, Redis, type RedisOptions } from "ioredis";

/** A check's reads on a Cluster, by bucket: see {@link clusterReaders}. */
export interface ClusterReaders {
  /** MGET of keys that all live in `bucket`'s slot. */
  mget(bucket: number, keys: string[]): Promise<Array<string | null>>;
  close(): void;
}

/** How often the slot map is asked for again, besides when nodes come and go and after a failed read. */
const REFRESH_MS = 5000;
/** A failed read asks for the map again at most this often. */
const MIN_REFRESH_MS = 200;

/**
 * A check's reads sent straight to the master that serves its bucket, on a
 * connection of our own to each master. ioredis's Cluster client hashes
 * every key and keeps a pipeline per master per turn: a check's MGET cost
 * the client about three times what it costs on one Redis (`npm run
 * bench:redis-clients`); on a plain connection, little more than on one
 * Redis. Which master serves each bucket comes from CLUSTER SLOTS, asked
 * again every few seconds, when the Cluster client reports a node added or
 * removed, and after any read that failed. A read that fails fast (MOVED
 * after a failover or a reshard, ASK, a connection closed or not ready) is
 * sent again through the Cluster client, which follows the redirection or
 * fails as it always did; one that hangs uses up the call's deadline. A
 * direct read answers only from a node that still serves the slot as its
 * master (a replica answers MOVED), as the Cluster client's do; connections
 * are never reconnected, so a restarted address is only used again once the
 * map names it.
 * `bucketKeys[b]` is any key of bucket b (they share its hash tag).
 */
export async function clusterReaders(cluster: Cluster, bucketKeys: readonly string[], options: RedisOptions): Promise<ClusterReaders> {
  let slots: number[] | undefined;
  const connections = new Map<string, Redis>();
  let byBucket: Array<Redis | undefined> = [];
  let refreshing: Promise<void> | undefined;
  let refreshedAt = 0;
  let closed = false;

  const connectionTo = (host: string, port: number): Redis => {
    const address = `${host}:${port}`;
    let connection = connections.get(address);
    if (connection === undefined) {
      // Never reconnected: after a restart the address may be a replica, or another server; a new map makes a new connection.
      const made = new Redis({ ...options, host, port, enableAutoPipelining: true, enableOfflineQueue: false, retryStrategy: () => null });
      made.on("error", () => {}); // a failed read falls back to the Cluster client, which reports
      made.on("end", () => {
        if (connections.get(address) === made) connections.delete(address);
        byBucket = byBucket.map((c) => (c === made ? undefined : c));
        soon();
      });
      connections.set(address, made);
      connection = made;
    }
    return connection;
  };

  /** A refresh now, unless one ran within {@link MIN_REFRESH_MS}. */
  const soon = () => {
    if (!closed && Date.now() - refreshedAt >= MIN_REFRESH_MS) void refresh();
  };

  const refresh = (): Promise<void> => {
    refreshedAt = Date.now();
    refreshing ??= (async () => {
      try {
        slots ??= await Promise.all(bucketKeys.map(async (key) => Number(await cluster.cluster("KEYSLOT", key))));
        const ranges = await cluster.cluster("SLOTS");
        if (closed) return;
        const masterOf = (slot: number) => ranges.find(([from, to]) => from <= slot && slot <= to)?.[2];
        byBucket = slots.map((slot) => {
          const master = masterOf(slot);
          // No address given ("" or "?": use the one asked, which we cannot tell): reads of that bucket take the Cluster client.
          const host = master === undefined ? "" : String(master[0]);
          return host === "" || host === "?" ? undefined : connectionTo(host, Number(master![1]));
        });
        for (const [address, connection] of connections) {
          if (!byBucket.includes(connection)) {
            connection.disconnect();
            connections.delete(address);
          }
        }
      } catch {
        byBucket = []; // until the next refresh, every read goes through the Cluster client
      } finally {
        refreshing = undefined;
      }
    })();
    return refreshing;
  };

  await refresh();
  const timer = setInterval(() => void refresh(), REFRESH_MS);
  timer.unref();
  const onNodes = () => soon();
  cluster.on("+node", onNodes);
  cluster.on("-node", onNodes);

  return {
    mget(bucket, keys) {
      const connection = byBucket[bucket];
      if (connection === undefined || connection.status !== "ready") {
        if (connection === undefined || connection.status !== "connecting") soon();
        return cluster.mget(...keys);
      }
      return connection.mget(...keys).catch(() => {
        soon();
        return cluster.mget(...keys);
      });
    },
    close() {
      closed = true;
      clearInterval(timer);
      cluster.off("+node", onNodes);
      cluster.off("-node", onNodes);
      for (const connection of connections.values()) connection.disconnect();
      connections.clear();
    },
  };
}
