import { Redis } from "ioredis";
import type { RedisTopology } from "../config.js";
import { checkReadOptions, type MgetConnection, MgetTimedOut, openMgetConnection, runIdOf } from "./mget-connection.js";
import { StoreUnavailable } from "./revocation-store.js";

/** A check's reads on one master (one Redis, or Sentinel's): see {@link masterReader}. */
export interface MasterReader {
  /** MGET of `keys`. */
  mget(keys: string[]): Promise<Array<string | null>>;
  close(): void;
}

/** After a plain connection failed or closed, a new one is tried at most this often. */
const REOPEN_MS = 1000;

/** Where the master is now: REDIS_URL's address, or what the sentinels say; undefined when that cannot be told now. */
export type MasterLocator = () => Promise<{ host: string; port: number } | undefined>;

/**
 * A check's reads on one master sent on a plain connection of our own
 * ({@link openMgetConnection}) to the server ioredis is connected to, with
 * the same user, password, database and TLS options (ioredis's public
 * `options`); `locate` says where that server is (REDIS_URL's address, or
 * the master the sentinels name). A check then costs the client about a
 * microsecond where ioredis's pipeline per batch cost about four (`npm run
 * bench:redis-clients`). It is used only once the server's `run_id` matches
 * the one ioredis's own connection reports, so a name that now resolves
 * elsewhere (a moved DNS record) or a sentinel that already names a new
 * master never splits reads from writes. Its life follows ioredis's
 * connection: dropped when that one closes (an outage, a Sentinel switch),
 * opened again when ioredis is ready again; one opened across such a change
 * is thrown away. While it is not open, and for any read that fails on it,
 * reads go through ioredis as before (which fails fast while disconnected);
 * a read ioredis answered opens a new one, at most once every
 * {@link REOPEN_MS}. A read that timed out is not asked again: the call's
 * deadline has passed. Over a Unix socket, ioredis does all reads.
 */
export async function masterReader(redis: Redis, locate: MasterLocator, timeoutMs: number): Promise<MasterReader> {
  if (redis.options.path) return { mget: (keys) => redis.mget(...keys), close() {} };
  let connection: MgetConnection | undefined;
  /** Goes up whenever ioredis's connection closes or opens: a plain connection opened across a change is not used. */
  let generation = 0;
  let openedAt = 0;
  let opening = false;
  let closed = false;

  const open = async (): Promise<void> => {
    if (closed || opening || connection?.open) return;
    opening = true;
    openedAt = Date.now();
    const started = generation;
    const [made, ioredisRunId] = await Promise.all([
      locate()
        .then((address) =>
          address === undefined ? undefined : openMgetConnection({ ...address, ...credentialsOf(redis), ...checkReadOptions(timeoutMs) }),
        )
        .catch(() => undefined),
      redis.info("server").then(runIdOf, () => undefined),
    ]);
    opening = false;
    const usable =
      made !== undefined && !closed && generation === started && made.serverRunId === ioredisRunId && ioredisRunId !== undefined;
    if (usable) connection = made;
    else made?.close();
    if (!closed && generation !== started && redis.status === "ready") void open(); // ioredis moved on while this one opened
  };
  const onChange = () => {
    generation++;
    connection?.close();
    connection = undefined;
  };
  const onReady = () => {
    onChange();
    void open();
  };
  redis.on("ready", onReady);
  redis.on("close", onChange);
  await open();

  /** Through ioredis; once it answers, a new plain connection is due. */
  const throughIoredis = async (keys: string[]) => {
    const values = await redis.mget(...keys);
    if (Date.now() - openedAt >= REOPEN_MS) void open();
    return values;
  };
  return {
    mget(keys) {
      if (connection === undefined || !connection.open) return throughIoredis(keys);
      return connection.mget(keys).catch((err: unknown) => (err instanceof MgetTimedOut ? Promise.reject(err) : throughIoredis(keys)));
    },
    close() {
      closed = true;
      redis.off("ready", onReady);
      redis.off("close", onChange);
      onChange();
    },
  };
}

/** The master REDIS_URL names: ioredis's own host and port. */
export function urlMaster(redis: Redis): MasterLocator {
  const { host, port } = redis.options;
  return async () => ({ host: host ?? "localhost", port: port ?? 6379 });
}

/**
 * The master the sentinels name now (SENTINEL GET-MASTER-ADDR-BY-NAME), each
 * asked on a short-lived connection (their password, and TLS with
 * REDIS_TLS, as ioredis asks them). Each call starts with the next sentinel
 * in turn, so one that names a stale master (its address then fails the
 * run_id check) holds up no more than its share of attempts; one call gives
 * up after max(STORE_TIMEOUT_MS, 2 s) in all.
 */
export function sentinelMaster(topology: SentinelTopology, timeoutMs: number): MasterLocator {
  let turn = 0;
  return async () => {
    const until = Date.now() + Math.max(timeoutMs, 2000);
    const first = turn++;
    for (let i = 0; i < topology.sentinels.length && Date.now() < until; i++) {
      const address = await askSentinel(topology, topology.sentinels[(first + i) % topology.sentinels.length]!, until);
      if (address !== undefined) return address;
    }
    return undefined;
  };
}

/**
 * Resolves when the server ioredis is connected to (by `run_id`) is the
 * master a majority of the configured sentinels name, asked all at once
 * within max(STORE_TIMEOUT_MS, 2 s); rejects, naming REDIS_SENTINELS,
 * otherwise. A sentinel that has not yet heard of a failover can name the
 * old master, restarted empty: a store must not be set up there.
 */
export async function confirmSentinelMaster(redis: Redis, topology: SentinelTopology, timeoutMs: number): Promise<void> {
  const until = Date.now() + Math.max(timeoutMs, 2000);
  const named = await Promise.all(topology.sentinels.map((sentinel) => askSentinel(topology, sentinel, until)));
  const votes = new Map<string, number>();
  for (const address of named)
    if (address !== undefined) votes.set(`${address.host}:${address.port}`, (votes.get(`${address.host}:${address.port}`) ?? 0) + 1);
  const [leading, count] = [...votes].sort((a, b) => b[1] - a[1])[0] ?? ["none", 0];
  const majority = Math.floor(topology.sentinels.length / 2) + 1;
  const refuse = (why: string) =>
    new StoreUnavailable(
      `REDIS_SENTINELS: Redis holds no store for this service yet, and ${why}: not setting a store up there. Start again`,
    );
  if (count < majority)
    throw refuse(`no master is named by a majority of the sentinels (${count} of ${topology.sentinels.length} name ${leading})`);
  const [host, port] = [leading.slice(0, leading.lastIndexOf(":")), Number(leading.slice(leading.lastIndexOf(":") + 1))];
  const [masterRunId, reached] = await Promise.all([
    openMgetConnection({ host, port, ...credentialsOf(redis), ...checkReadOptions(timeoutMs) }).then(
      (connection) => {
        connection.close();
        return connection.serverRunId;
      },
      (err: Error) => err,
    ),
    redis.info("server").then(runIdOf, (err: Error) => err),
  ]);
  if (masterRunId instanceof Error || masterRunId === undefined)
    throw refuse(`the master they name (${leading}) could not be asked its run_id: ${masterRunId?.message ?? "no run_id"}`);
  if (reached instanceof Error || reached === undefined)
    throw refuse(`the server reached could not be asked its run_id: ${reached?.message ?? "no run_id"}`);
  if (masterRunId !== reached)
    throw refuse(
      `the server reached is not the master ${count} of ${topology.sentinels.length} sentinels name (${leading}): a sentinel that missed a failover named it`,
    );
}

type SentinelTopology = Extract<RedisTopology, { mode: "sentinel" }>;

/** The user, password, database and TLS options of ioredis's connection (its public `options`), for a plain one beside it. */
function credentialsOf(redis: Redis) {
  const { username, password, db, tls } = redis.options;
  return {
    ...(username ? { username } : {}),
    ...(password ? { password } : {}),
    ...(db === undefined ? {} : { db }),
    ...(tls ? { tls: typeof tls === "object" ? tls : {} } : {}), // rediss:// sets it to true
  };
}

/** What one sentinel names as the master, asked before `until`; undefined when it cannot tell. */
async function askSentinel(
  topology: SentinelTopology,
  sentinel: { host: string; port: number },
  until: number,
): Promise<{ host: string; port: number } | undefined> {
  const client = new Redis({
    ...sentinel,
    lazyConnect: true,
    enableOfflineQueue: false,
    maxRetriesPerRequest: 0,
    retryStrategy: () => null,
    connectTimeout: Math.max(1, until - Date.now()),
    commandTimeout: Math.max(1, until - Date.now()),
    ...(topology.sentinelPassword === undefined ? {} : { password: topology.sentinelPassword }),
    ...(topology.tls ? { tls: {} } : {}),
  });
  client.on("error", () => {});
  try {
    await client.connect();
    const address = (await client.call("SENTINEL", "GET-MASTER-ADDR-BY-NAME", topology.masterName)) as [string, string] | null;
    return address === null ? undefined : { host: address[0], port: Number(address[1]) };
  } catch {
    return undefined;
  } finally {
    client.disconnect();
  }
}
