import { Cluster, Redis, type RedisOptions } from "ioredis";
import type { RedisTopology } from "../config.js";
import { StoreUnavailable } from "./revocation-store.js";

/** A connection to the store's Redis, whatever its topology: one client that routes commands. */
export type RedisClient = Redis | Cluster;

/** The variable that names the topology, for start-up errors. */
export function topologyVariable(topology: RedisTopology): string {
  return topology.mode === "single" ? "REDIS_URL" : topology.mode === "sentinel" ? "REDIS_SENTINELS" : "REDIS_CLUSTER_NODES";
}

/** The topology as logs may show it: no passwords. */
export function describeTopology(topology: RedisTopology): string {
  switch (topology.mode) {
    case "single":
      return "redis";
    case "sentinel":
      return `redis sentinel "${topology.masterName}" via ${topology.sentinels.map((s) => `${s.host}:${s.port}`).join(",")}`;
    case "cluster":
      return `redis cluster via ${topology.nodes.map((n) => `${n.host}:${n.port}`).join(",")}`;
  }
}

/**
 * Connects to Redis as `topology` says; resolves once commands can be sent.
 * Every mode fails fast while disconnected (no offline queue, no retries of
 * a command): a check that cannot reach the store answers UNAVAILABLE, it does
 * not wait. Sentinel mode follows failovers (ioredis asks the sentinels for
 * the master again, and is told of a switch at once by the failover detector);
 * a write answered READONLY (a master demoted under it) reconnects. Cluster
 * mode reads and writes masters only and refreshes its slot map on MOVED and
 * on failures.
 */
export async function connectRedis(topology: RedisTopology, timeoutMs: number): Promise<RedisClient> {
  const common: RedisOptions = {
    lazyConnect: true,
    enableAutoPipelining: true,
    commandTimeout: timeoutMs,
    connectTimeout: Math.max(timeoutMs, 2000),
    maxRetriesPerRequest: 0,
  };
  const reconnectOnReadonly = (err: Error) => (err.message.startsWith("READONLY") ? 2 : false);
  let client: RedisClient;
  switch (topology.mode) {
    case "single":
      client = new Redis(topology.url, { ...common, enableOfflineQueue: false, retryStrategy: (attempt) => Math.min(50 * attempt, 1000) });
      break;
    case "sentinel":
      client = new Redis({
        ...common,
        enableOfflineQueue: false,
        sentinels: topology.sentinels,
        name: topology.masterName,
        ...(topology.password === undefined ? {} : { password: topology.password }),
        ...(topology.sentinelPassword === undefined ? {} : { sentinelPassword: topology.sentinelPassword }),
        // REDIS_TLS: TLS to the master and replicas, and to the sentinels (sentinelTLS; without it ioredis asks them in the clear).
        ...(topology.tls ? { tls: {}, enableTLSForSentinelMode: true, sentinelTLS: {} } : {}),
        failoverDetector: true,
        reconnectOnError: reconnectOnReadonly,
        retryStrategy: (attempt) => Math.min(50 * attempt, 1000),
        sentinelRetryStrategy: (attempt) => Math.min(100 * attempt, 1000),
      });
      break;
    case "cluster":
      client = new Cluster(topology.nodes, {
        lazyConnect: true,
        enableAutoPipelining: true,
        enableOfflineQueue: false,
        scaleReads: "master",
        retryDelayOnFailover: 100,
        retryDelayOnClusterDown: 100,
        retryDelayOnTryAgain: 100,
        slotsRefreshTimeout: Math.max(timeoutMs, 1000),
        clusterRetryStrategy: (attempt) => Math.min(100 * attempt, 1000),
        redisOptions: { ...clusterNodeOptions(topology, timeoutMs), reconnectOnError: reconnectOnReadonly },
      });
      break;
  }
  // Reconnects are automatic; errors surface on the commands themselves.
  client.on("error", () => {});
  try {
    await client.connect();
  } catch (err) {
    client.disconnect();
    throw new StoreUnavailable(`${topologyVariable(topology)}: cannot connect to Redis: ${(err as Error).message}`);
  }
  return client;
}

/** How to connect to one node of a Cluster: deadlines, no retried commands, its password and TLS. */
function clusterNodeOptions(topology: Extract<RedisTopology, { mode: "cluster" }>, timeoutMs: number): RedisOptions {
  return {
    commandTimeout: timeoutMs,
    connectTimeout: Math.max(timeoutMs, 2000),
    maxRetriesPerRequest: 0,
    ...(topology.password === undefined ? {} : { password: topology.password }),
    ...(topology.tls ? { tls: {} } : {}),
  };
}

/** The masters the store writes to: the one server, or each cluster master. */
export function mastersOf(client: RedisClient): Redis[] {
  return client instanceof Cluster ? client.nodes("master") : [client];
}
