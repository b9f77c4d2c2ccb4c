import type { Redis } from "ioredis";
import { type MgetConnection, openMgetConnection, READS_CONNECTION_NAME } from "./mget-connection.js";

/** A check's reads on one Redis: see {@link singleReader}. */
export interface SingleReader {
  /** MGET of `keys`. */
  mget(keys: string[]): Promise<Array<string | null>>;
  close(): void;
}

/** After a plain connection failed or closed, a new one is tried at most this often. */
const REOPEN_MS = 1000;

/**
 * A check's reads on one Redis (`REDIS_URL`) sent on a plain connection of
 * our own ({@link openMgetConnection}) to the server ioredis connects to,
 * with the same address, user, password, database and TLS options (ioredis's
 * public `options`): a check then costs the client about a microsecond
 * where ioredis's pipeline per batch cost about four (`npm run
 * bench:redis-clients`). Its life follows ioredis's connection: closed when
 * that one closes (a restart, an outage), opened again when ioredis is ready
 * again. While it is not open, and for any read that fails on it, reads go
 * through ioredis as before (which fails fast while disconnected); a read
 * ioredis answered opens a new one, at most once every {@link REOPEN_MS}.
 * Not for Sentinel mode: the master moves under it.
 */
export async function singleReader(redis: Redis, timeoutMs: number): Promise<SingleReader> {
  const { host, port, username, password, db, tls, path } = redis.options;
  if (path) return { mget: (keys) => redis.mget(...keys), close() {} }; // a Unix socket: ioredis alone
  let connection: MgetConnection | undefined;
  let openedAt = 0;
  let opening = false;
  let closed = false;

  const open = async () => {
    if (closed || opening || connection?.open) return;
    opening = true;
    openedAt = Date.now();
    const made = await openMgetConnection({
      host: host ?? "localhost",
      port: port ?? 6379,
      ...(username ? { username } : {}),
      ...(password ? { password } : {}),
      ...(db === undefined ? {} : { db }),
      ...(tls ? { tls: typeof tls === "object" ? tls : {} } : {}), // rediss:// sets it to true
      name: READS_CONNECTION_NAME,
      connectTimeoutMs: Math.max(timeoutMs, 2000),
      replyTimeoutMs: timeoutMs,
    }).catch(() => undefined);
    opening = false;
    if (made !== undefined && (closed || redis.status !== "ready")) made.close();
    else connection = made;
  };
  const dropConnection = () => {
    connection?.close();
    connection = undefined;
  };
  const onReady = () => {
    dropConnection(); // ioredis may have reconnected somewhere else (a name that now resolves to another server)
    void open();
  };
  redis.on("ready", onReady);
  redis.on("close", dropConnection);
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
      return connection.mget(keys).catch(() => throughIoredis(keys));
    },
    close() {
      closed = true;
      redis.off("ready", onReady);
      redis.off("close", dropConnection);
      dropConnection();
    },
  };
}
