import { connect as connectTcp, type Socket } from "node:net";
import { type ConnectionOptions, connect as connectTls } from "node:tls";
import { parseReply, type RespReply } from "./resp-reply.js";

/** Where and how {@link openMgetConnection} connects. */
export interface MgetConnectionOptions {
  host: string;
  port: number;
  /** With {@link password}, AUTH before any read, as ioredis sends it: `AUTH user password` when a user is given, else `AUTH password`. */
  username?: string;
  password?: string;
  /** The connection's name in CLIENT LIST (CLIENT SETNAME), so operators can tell it apart; no spaces. */
  name?: string;
  /** The database to SELECT before any read, when not 0. */
  db?: number;
  /** TLS with these options (`{}`: verified against the system's CAs, as ioredis's `tls: {}`); plain TCP when absent. */
  tls?: ConnectionOptions;
  /** Connecting (and AUTH) fails after this long. */
  connectTimeoutMs: number;
  /** A connection whose oldest read has waited this long is closed: every read on it fails, later ones go elsewhere. */
  replyTimeoutMs: number;
}

/**
 * How the service opens a check's read connection, whatever its topology:
 * named `token-blacklist-reads` in CLIENT LIST, connecting within
 * max(STORE_TIMEOUT_MS, 2 s), closed when a read waits STORE_TIMEOUT_MS.
 */
export function checkReadOptions(timeoutMs: number): Pick<MgetConnectionOptions, "name" | "connectTimeoutMs" | "replyTimeoutMs"> {
  return { name: "token-blacklist-reads", connectTimeoutMs: Math.max(timeoutMs, 2000), replyTimeoutMs: timeoutMs };
}

/** The `run_id` in an INFO server reply: which server process answered. */
export function runIdOf(info: string): string | undefined {
  return /^run_id:(\w+)/m.exec(info)?.[1];
}

/** A reply Redis sent as an error (MOVED, ASK, CLUSTERDOWN, NOAUTH...), or the connection failing under a read. */
export class MgetFailed extends Error {}

/** The connection closed because a read waited `replyTimeoutMs`: the caller's deadline has passed too, asking elsewhere is moot. */
export class MgetTimedOut extends MgetFailed {}

/** One connection to one Redis node that only reads, with MGET: see {@link openMgetConnection}. */
export interface MgetConnection {
  /** The values under `keys`, in order (null where absent); rejects with {@link MgetFailed}. */
  mget(keys: readonly string[]): Promise<Array<string | null>>;
  /** False once the connection closed, for whatever reason; it never reconnects. */
  readonly open: boolean;
  /** The server's `run_id` (INFO server), asked when the connection opened: which server process it reads from. */
  readonly serverRunId: string;
  /** Called once when the connection closes (not when {@link close} is called). */
  onClosed(listener: () => void): void;
  close(): void;
}

interface Pending {
  /** Takes the command's reply; false if it is not a reply that command can get (the stream is then not trusted). */
  settle(reply: RespReply): boolean;
  reject(err: Error): void;
  sentAtMs: number;
}

/**
 * A plain RESP2 connection for a check's reads. Every MGET asked for in one
 * event-loop turn leaves in one write at the end of the turn (setImmediate),
 * and replies are parsed as they come; nothing else is spoken on it but AUTH,
 * SELECT, CLIENT SETNAME and INFO server (its run_id) when it opens. It exists because ioredis pays for
 * a Pipeline object and its commands on every batch: about 4 us a check on
 * one Redis and 6 on a Cluster (where a turn's checks make a batch per
 * master), against about 1 and 1.6 on this connection (`npm run
 * bench:redis-clients`). What it leaves out on purpose: reconnecting (a
 * closed connection stays closed; its owner opens a new one), an offline
 * queue, RESP3, and any command but MGET.
 */
export function openMgetConnection(options: MgetConnectionOptions): Promise<MgetConnection> {
  // TLS verifies the server's certificate against the host name or address, as tls.connect does by default.
  const address = { host: options.host, port: options.port };
  const socket: Socket = options.tls === undefined ? connectTcp(address) : connectTls({ ...options.tls, ...address });
  socket.setNoDelay(true);
  const pending: Pending[] = [];
  let out = "";
  let flushScheduled = false;
  let unparsed: Buffer | undefined;
  let open = true;
  let closedListener: (() => void) | undefined;
  let watchdog: NodeJS.Timeout | undefined;
  let failure: Error | undefined;

  const fail = (err: Error) => {
    if (!open) return;
    open = false;
    failure = err;
    clearTimeout(watchdog);
    socket.destroy();
    for (const request of pending.splice(0)) request.reject(err);
    closedListener?.();
  };

  const flush = () => {
    flushScheduled = false;
    if (!open) return;
    socket.write(out);
    out = "";
  };

  /** Closes the connection once its oldest read has waited replyTimeoutMs. */
  const armWatchdog = () => {
    if (watchdog !== undefined || pending.length === 0) return;
    const waited = Date.now() - pending[0]!.sentAtMs;
    watchdog = setTimeout(
      () => {
        watchdog = undefined;
        if (pending.length > 0 && Date.now() - pending[0]!.sentAtMs >= options.replyTimeoutMs) {
          fail(new MgetTimedOut(`no reply within ${options.replyTimeoutMs} ms`));
        } else armWatchdog();
      },
      Math.max(0, options.replyTimeoutMs - waited),
    );
    watchdog.unref();
  };

  /** Sends `words`; `accept` turns its reply into the answer, or returns undefined for a reply it cannot get. */
  const send = <T>(words: readonly string[], accept: (reply: RespReply) => T | undefined): Promise<T> =>
    new Promise((resolve, reject) => {
      if (!open) return reject(new MgetFailed("connection closed"));
      const settle = (reply: RespReply) => {
        if (reply.kind === "error") reject(new MgetFailed(reply.message));
        else {
          const answer = accept(reply);
          if (answer === undefined) return false;
          resolve(answer);
        }
        return true;
      };
      pending.push({ settle, reject, sentAtMs: Date.now() });
      out += command(words);
      if (!flushScheduled) {
        flushScheduled = true;
        setImmediate(flush);
      }
      armWatchdog();
    });

  socket.on("data", (chunk: Buffer) => {
    const data = unparsed === undefined ? chunk : Buffer.concat([unparsed, chunk]);
    let at = 0;
    for (;;) {
      const parsed = parseReply(data, at);
      if (parsed === undefined) break;
      at = parsed.end;
      const request = pending.shift();
      if (request === undefined) return fail(new MgetFailed("a reply nobody asked for"));
      if (!request.settle(parsed.reply)) {
        request.reject(new MgetFailed(`an unexpected ${parsed.reply.kind} reply`));
        return fail(new MgetFailed(`an unexpected ${parsed.reply.kind} reply: closed`));
      }
    }
    unparsed = at === data.length ? undefined : data.subarray(at);
    clearTimeout(watchdog);
    watchdog = undefined;
    armWatchdog();
  });
  socket.on("error", (err) => fail(new MgetFailed(err.message)));
  socket.on("close", () => fail(new MgetFailed("connection closed")));

  let serverRunId = "";
  const connection: MgetConnection = {
    // One value a key, nothing else: a short or odd reply must never read as "not revoked".
    mget: (keys) =>
      send(["MGET", ...keys], (reply) => (reply.kind === "array" && reply.values.length === keys.length ? reply.values : undefined)),
    get open() {
      return open;
    },
    get serverRunId() {
      return serverRunId;
    },
    onClosed(listener) {
      closedListener = listener;
    },
    close() {
      closedListener = undefined;
      fail(new MgetFailed("connection closed"));
    },
  };

  return new Promise((resolve, reject) => {
    const timer = setTimeout(
      () => fail(new MgetFailed(`could not connect within ${options.connectTimeoutMs} ms`)),
      options.connectTimeoutMs,
    );
    const ready = () => {
      clearTimeout(timer);
      resolve(connection);
    };
    closedListener = () => {
      clearTimeout(timer);
      reject(new MgetFailed(`cannot connect to ${options.host}:${options.port}: ${failure?.message}`));
    };
    socket.once(options.tls === undefined ? "connect" : "secureConnect", () => {
      closedListener = undefined;
      const ok = (reply: RespReply) => (reply.kind === "simple" ? true : undefined);
      const handshake: Array<Promise<unknown>> = [];
      if (options.username || options.password) {
        const credentials = options.username ? [options.username, options.password ?? ""] : [options.password!];
        handshake.push(send(["AUTH", ...credentials], ok));
      }
      if (options.db !== undefined && options.db !== 0) handshake.push(send(["SELECT", String(options.db)], ok));
      // A name is a courtesy to operators: a user not allowed CLIENT SETNAME still reads.
      if (options.name !== undefined) handshake.push(send(["CLIENT", "SETNAME", options.name], ok).catch(() => true));
      handshake.push(
        send(["INFO", "server"], (reply) => (reply.kind === "bulk" ? (runIdOf(reply.value ?? "") ?? "") : undefined)).then(
          (runId) => (serverRunId = runId),
        ),
      );
      Promise.all(handshake).then(ready, (err: Error) => {
        clearTimeout(timer);
        connection.close();
        reject(err);
      });
    });
  });
}

/** A command as RESP sends it: an array of bulk strings. */
function command(words: readonly string[]): string {
  let encoded = `*${words.length}\r\n`;
  for (const word of words) encoded += `$${Buffer.byteLength(word)}\r\n${word}\r\n`;
  return encoded;
}
