import type { Redis } from "ioredis";
import { type MgetConnection, MgetTimedOut, openMgetConnection, READS_CONNECTION_NAME } from "./mget-connection.js";

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
 * bench:redis-clients`). It is used only once the server's `run_id` matches
 * the one ioredis's connection reports, so a name that now resolves
 * elsewhere (a moved DNS record) never splits reads from writes. Its life
 * follows ioredis's connection: dropped when that one closes, opened again
 * when ioredis is ready again; one opened across such a change is thrown
 * away. While it is not open, and for any read that fails on it, reads go
 * through ioredis as before (which fails fast while disconnected); a read
 * ioredis answered opens a new one, at most once every {@link REOPEN_MS}. A
 * read that timed out is not asked again: the call's deadline has passed.
 * Not for Sentinel mode (the master moves under it) nor a Unix socket.
 */
export async function singleReader(redis: Redis, timeoutMs: number): Promise<SingleReader> {
  const { host, port, username, password, db, tls, path } = redis.options;
  if (path) return { mget: (keys) => redis.mget(...keys), close() {} };
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
      openMgetConnection({
        host: host ?? "localhost",
        port: port ?? 6379,
        ...(username ? { username } : {}),
        ...(password ? { password } : {}),
        ...(db === undefined ? {} : { db }),
        ...(tls ? { tls: typeof tls === "object" ? tls : {} } : {}), // rediss:// sets it to true
        name: READS_CONNECTION_NAME,
        connectTimeoutMs: Math.max(timeoutMs, 2000),
        replyTimeoutMs: timeoutMs,
      }).catch(() => undefined),
      redis.info("server").then(
        (info) => /^run_id:(\w+)/m.exec(info)?.[1],
        () => undefined,
      ),
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
