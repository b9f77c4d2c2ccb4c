import type { Cluster } from "ioredis";
import type { RedisTopology } from "../config.js";
import { checkReadOptions, type MgetConnection, MgetTimedOut, openMgetConnection } from "./mget-connection.js";

/** A check's reads by bucket: on a Cluster, see {@link clusterReaders}; on one master the bucket does not matter. */
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
 * plain connection of our own to each master ({@link openMgetConnection}).
 * ioredis's Cluster client hashes every key and keeps a pipeline per master
 * per turn, and even a plain ioredis connection pays for a pipeline object
 * a batch: on a Cluster a turn's checks make a batch per master, and that
 * came to several microseconds a check (`npm run bench:redis-clients`).
 * Which master serves each bucket comes from CLUSTER SLOTS, asked again
 * every few seconds, when the Cluster client reports a node added or
 * removed, and after any read that failed. A read that fails (MOVED after a
 * failover or a reshard, ASK, CLUSTERDOWN, a connection closed, or no
 * connection to the bucket's master) is sent again through the Cluster
 * client, which follows the redirection or fails as it always did; one that
 * hangs uses up the call's deadline, and its connection is closed once
 * `timeoutMs` passes without a reply (that read is not asked again). A direct read answers only from a node
 * that still serves the slot as its master (a replica answers MOVED), as the
 * Cluster client's do; connections are never reconnected, so a restarted
 * address is only used again once the map names it.
 * `bucketKeys[b]` is any key of bucket b (they share its hash tag).
 */
export async function clusterReaders(
  cluster: Cluster,
  bucketKeys: readonly string[],
  topology: Extract<RedisTopology, { mode: "cluster" }>,
  timeoutMs: number,
): Promise<ClusterReaders> {
  let slots: number[] | undefined;
  const connections = new Map<string, MgetConnection>();
  let byBucket: Array<MgetConnection | undefined> = [];
  let refreshing: Promise<void> | undefined;
  let refreshedAt = 0;
  let closed = false;

  /** Opens under way, by address: the buckets a master serves share one. */
  const opening = new Map<string, Promise<MgetConnection | undefined>>();
  /** A connection to `address`: the open one, or a new one (undefined if it cannot be made now). */
  const connectionTo = (address: string, host: string, port: number): Promise<MgetConnection | undefined> => {
    const known = connections.get(address);
    if (known?.open) return Promise.resolve(known);
    let made = opening.get(address);
    if (made === undefined) {
      made = open(address, host, port).finally(() => opening.delete(address));
      opening.set(address, made);
    }
    return made;
  };
  const open = async (address: string, host: string, port: number): Promise<MgetConnection | undefined> => {
    const made = await openMgetConnection({
      host,
      port,
      ...(topology.password === undefined ? {} : { password: topology.password }),
      ...(topology.tls ? { tls: {} } : {}),
      ...checkReadOptions(timeoutMs),
    }).catch(() => undefined);
    if (made === undefined) return undefined;
    if (closed) {
      made.close();
      return undefined;
    }
    made.onClosed(() => {
      if (connections.get(address) === made) connections.delete(address);
      byBucket = byBucket.map((c) => (c === made ? undefined : c));
      soon();
    });
    connections.get(address)?.close(); // a closed one, replaced
    connections.set(address, made);
    return made;
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
        const masterOf = (slot: number) => ranges.find(([from, to]) => from <= slot && slot <= to)?.[2];
        const mapped = await Promise.all(
          slots.map((slot) => {
            const master = masterOf(slot);
            // No address given ("" or "?": use the one asked, which we cannot tell): reads of that bucket take the Cluster client.
            const host = master === undefined ? "" : String(master[0]);
            if (host === "" || host === "?") return undefined;
            const port = Number(master![1]);
            return connectionTo(`${host}:${port}`, host, port);
          }),
        );
        if (closed) return;
        byBucket = mapped;
        for (const [address, connection] of connections) {
          if (!byBucket.includes(connection)) {
            connections.delete(address);
            connection.close();
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
      if (connection === undefined || !connection.open) {
        soon();
        return cluster.mget(...keys);
      }
      return connection.mget(keys).catch((err: unknown) => {
        soon();
        return err instanceof MgetTimedOut ? Promise.reject(err) : cluster.mget(...keys); // timed out: the call's deadline has passed
      });
    },
    close() {
      closed = true;
      clearInterval(timer);
      cluster.off("+node", onNodes);
      cluster.off("-node", onNodes);
      for (const connection of connections.values()) connection.close();
      connections.clear();
    },
  };
}
