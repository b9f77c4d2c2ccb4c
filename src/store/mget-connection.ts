import { connect as connectTcp, type Socket } from "node:net";
import { type ConnectionOptions, connect as connectTls } from "node:tls";

/** Where and how {@link openMgetConnection} connects. */
export interface MgetConnectionOptions {
  host: string;
  port: number;
  /** Sent with AUTH (with the password) before any read. */
  username?: string;
  /** Sent with AUTH before any read. */
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

/** What the service's read connections are called in CLIENT LIST. */
export const READS_CONNECTION_NAME = "token-blacklist-reads";

/** A reply Redis sent as an error (MOVED, ASK, CLUSTERDOWN, NOAUTH...), or the connection failing under a read. */
export class MgetFailed extends Error {}

/** One connection to one Redis node that only reads, with MGET: see {@link openMgetConnection}. */
export interface MgetConnection {
  /** The values under `keys`, in order (null where absent); rejects with {@link MgetFailed}. */
  mget(keys: readonly string[]): Promise<Array<string | null>>;
  /** False once the connection closed, for whatever reason; it never reconnects. */
  readonly open: boolean;
  /** Called once when the connection closes (not when {@link close} is called). */
  onClosed(listener: () => void): void;
  close(): void;
}

interface Pending {
  resolve(values: Array<string | null>): void;
  reject(err: Error): void;
  sentAtMs: number;
}

const CR = 0x0d;
const MINUS = 0x2d;
const PLUS = 0x2b;
const STAR = 0x2a;
const ZERO = 0x30;

/**
 * A plain RESP2 connection for a check's reads. Every MGET asked for in one
 * event-loop turn leaves in one write at the end of the turn (setImmediate),
 * and replies are parsed as they come; nothing else is spoken on it but AUTH,
 * SELECT and CLIENT SETNAME when it opens. It exists because ioredis pays for
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
          fail(new MgetFailed(`no reply within ${options.replyTimeoutMs} ms`));
        } else armWatchdog();
      },
      Math.max(0, options.replyTimeoutMs - waited),
    );
    watchdog.unref();
  };

  const send = (command: string): Promise<Array<string | null>> =>
    new Promise((resolve, reject) => {
      if (!open) return reject(new MgetFailed("connection closed"));
      pending.push({ resolve, reject, sentAtMs: Date.now() });
      out += command;
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
      const reply = parseReply(data, at);
      if (reply === undefined) break;
      at = reply.end;
      const request = pending.shift();
      if (request === undefined) return fail(new MgetFailed("a reply nobody asked for"));
      if (reply.error !== undefined) request.reject(new MgetFailed(reply.error));
      else request.resolve(reply.values);
    }
    unparsed = at === data.length ? undefined : data.subarray(at);
    clearTimeout(watchdog);
    watchdog = undefined;
    armWatchdog();
  });
  socket.on("error", (err) => fail(new MgetFailed(err.message)));
  socket.on("close", () => fail(new MgetFailed("connection closed")));

  const connection: MgetConnection = {
    mget: (keys) => {
      let mget = `*${keys.length + 1}\r\n$4\r\nMGET\r\n`;
      for (const key of keys) mget += `$${Buffer.byteLength(key)}\r\n${key}\r\n`;
      return send(mget);
    },
    get open() {
      return open;
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
      const handshake: Array<Promise<unknown>> = [];
      if (options.password !== undefined) {
        handshake.push(send(command(["AUTH", ...(options.username ? [options.username] : []), options.password])));
      }
      if (options.db !== undefined && options.db !== 0) handshake.push(send(command(["SELECT", String(options.db)])));
      if (options.name !== undefined) handshake.push(send(command(["CLIENT", "SETNAME", options.name])));
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
  return `*${words.length}\r\n${words.map((word) => `$${Buffer.byteLength(word)}\r\n${word}\r\n`).join("")}`;
}

/** One reply parsed from `data` at `at`: an MGET's values, "+OK", or an error; undefined when it has not all arrived. */
function parseReply(data: Buffer, at: number): { end: number; values: Array<string | null>; error?: string } | undefined {
  const end = lineEnd(data, at);
  if (end === -1) return undefined;
  const type = data[at];
  if (type === MINUS) return { end: end + 2, values: [], error: data.toString("utf8", at + 1, end) };
  if (type === PLUS) return { end: end + 2, values: [] };
  if (type !== STAR) return { end: end + 2, values: [], error: `unexpected reply: ${data.toString("utf8", at, end)}` };
  const count = integerAt(data, at + 1, end);
  const values: Array<string | null> = [];
  let next = end + 2;
  for (let i = 0; i < count; i++) {
    const headerEnd = lineEnd(data, next);
    if (headerEnd === -1) return undefined;
    const length = integerAt(data, next + 1, headerEnd);
    next = headerEnd + 2;
    if (length < 0) {
      values.push(null);
      continue;
    }
    if (next + length + 2 > data.length) return undefined;
    values.push(data.toString("utf8", next, next + length));
    next += length + 2;
  }
  return { end: next, values };
}

/** Where the line starting at `at` ends (its CR), or -1 while its CRLF has not all arrived. */
function lineEnd(data: Buffer, at: number): number {
  const end = data.indexOf(CR, at);
  return end === -1 || end + 1 >= data.length ? -1 : end;
}

/** The decimal integer (maybe negative) in `data` from `from` to `to`. */
function integerAt(data: Buffer, from: number, to: number): number {
  const negative = data[from] === MINUS;
  let value = 0;
  for (let i = negative ? from + 1 : from; i < to; i++) value = value * 10 + (data[i]! - ZERO);
  return negative ? -value : value;
}
