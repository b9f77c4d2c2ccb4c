import * as http2 from "node:http2";
import type * as net from "node:net";
import type { ConnectionLimits } from "../config.js";
import type { Exchange } from "./exchange.js";
import type { ClosedReason } from "./h1-connections.js";
import { H2Exchange } from "./h2-exchange.js";

/** Options for {@link createH2Sessions}. */
export interface H2Options {
  dispatch: (exchange: Exchange) => void;
  limits: ConnectionLimits;
  maxHeaderBytes: number;
  onClosed: (reason: ClosedReason) => void;
}

/** The HTTP/2 side of the port. */
export interface H2Sessions {
  /** Hands an accepted connection (h2c after the preface, or TLS with ALPN h2) to the HTTP/2 server. */
  accept(socket: net.Socket): void;
  /** Sends GOAWAY to every session (and to sessions that start from now on), then closes each once its streams end. */
  closeAll(): void;
  /** Sessions still open. */
  readonly open: number;
}

/** A session that sent or received GOAWAY is destroyed this long after, if its streams have not ended by then. */
const GOAWAY_GRACE_MS = 1000;
/** The window of the reset budget. */
const RESET_WINDOW_MS = 10_000;

/**
 * One Node http2 server that never listens, serving raw streams. Beside
 * what nghttp2 and Node enforce (SETTINGS_MAX_CONCURRENT_STREAMS, which
 * refuses extra streams, and their flood detection), every session:
 * - closes after `idleTimeoutMs` without a frame, unless every open stream
 *   is complete on the client's side and waits for our answer (a request
 *   body that stops arriving counts as idle);
 * - is closed (GOAWAY ENHANCE_YOUR_CALM) once the client has reset more than
 *   `maxResetsPer10s` streams in ten seconds: rapid reset (CVE-2023-44487)
 *   costs the attacker its connection after a bounded amount of our work,
 *   and its remaining frames are not served;
 * - is destroyed `GOAWAY_GRACE_MS` after it sent or received GOAWAY (outside
 *   shutdown, whose own deadline applies), so a peer that stops reading
 *   cannot hold the connection and its buffers.
 */
export function createH2Sessions(options: H2Options): H2Sessions {
  const { limits } = options;
  const sessions = new Set<http2.ServerHttp2Session>();
  let closingAll = false;

  /**
   * GOAWAY now (a graceful close with NO_ERROR, or an error code for an
   * abusive peer); destroyed after `graceMs` if its streams still hold it open.
   */
  const goAway = (session: http2.Http2Session, code: number, reason: ClosedReason | undefined, graceMs = GOAWAY_GRACE_MS) => {
    if (session.destroyed) return;
    if (reason !== undefined) options.onClosed(reason);
    if (code !== http2.constants.NGHTTP2_NO_ERROR) session.goaway(code);
    if (!session.closed) session.close();
    if (graceMs === Number.POSITIVE_INFINITY) return;
    setTimeout(() => {
      if (!session.destroyed) {
        options.onClosed("goaway_grace");
        session.destroy();
      }
    }, graceMs).unref();
  };

  /** Per session, its open streams and what is left of its reset budget. */
  const openStreams = new WeakMap<http2.Http2Session, Set<http2.ServerHttp2Stream>>();
  const budgets = new WeakMap<http2.Http2Session, { left: number; since: number }>();

  const server = http2.createServer({
    settings: { maxHeaderListSize: options.maxHeaderBytes, maxConcurrentStreams: limits.maxConcurrentStreams },
  });
  server.on("session", (session: http2.ServerHttp2Session) => {
    sessions.add(session);
    session.once("close", () => sessions.delete(session));
    session.on("goaway", () => goAway(session, http2.constants.NGHTTP2_NO_ERROR, undefined));
    const streams = new Set<http2.ServerHttp2Stream>();
    openStreams.set(session, streams);
    session.setTimeout(limits.idleTimeoutMs, () => {
      // remoteClose: the client sent END_STREAM, so that stream waits on us, not on the client.
      const waitsOnClient = streams.size === 0 || [...streams].some((stream) => stream.state.remoteClose !== 1);
      if (waitsOnClient) goAway(session, http2.constants.NGHTTP2_NO_ERROR, "idle_timeout");
    });
    budgets.set(session, { left: limits.maxResetsPer10s, since: Date.now() });
    // During shutdown, after its first streams are read; the shutdown deadline ends what remains.
    if (closingAll) setTimeout(() => goAway(session, http2.constants.NGHTTP2_NO_ERROR, undefined, Number.POSITIVE_INFINITY), 50).unref();
  });
  // Node destroys a session whose peer broke the protocol (floods included); the metric says so.
  server.on("sessionError", () => options.onClosed("protocol_error"));

  const lastStream = new WeakMap<http2.Http2Session, http2.ServerHttp2Stream>();
  const counted = new WeakSet<http2.ServerHttp2Stream>();
  /**
   * Counts a stream the client reset (CANCEL is what clients reset with; we never do) against the
   * session's budget; past it, the session is destroyed with ENHANCE_YOUR_CALM and no grace, so
   * what the peer already sent is dropped unread.
   */
  const countReset = (session: http2.Http2Session, stream: http2.ServerHttp2Stream) => {
    if (counted.has(stream) || session.destroyed) return;
    counted.add(stream);
    if (spendReset(session)) return;
    options.onClosed("reset_flood");
    session.destroy(undefined, http2.constants.NGHTTP2_ENHANCE_YOUR_CALM);
  };
  /** Spends one reset of the session's budget; false once it is spent. */
  const spendReset = (session: http2.Http2Session): boolean => {
    const budget = budgets.get(session);
    if (budget === undefined) return true;
    const now = Date.now();
    if (now - budget.since >= RESET_WINDOW_MS) {
      budget.left = limits.maxResetsPer10s;
      budget.since = now;
    }
    return --budget.left >= 0;
  };

  server.on("stream", (stream: http2.ServerHttp2Stream, headers: http2.IncomingHttpHeaders) => {
    // Failures show as 'close' with an RST code; without a listener an 'error' would throw.
    stream.on("error", () => {});
    const session = stream.session;
    if (session === undefined || session.destroyed) return;
    const streams = openStreams.get(session);
    streams?.add(stream);
    // A client's RST_STREAM sets the previous stream's rstCode before this HEADERS is read, so a burst
    // of open-and-reset pairs is caught within the burst, not after all of it was read.
    const previous = lastStream.get(session);
    if (previous?.rstCode === http2.constants.NGHTTP2_CANCEL) countReset(session, previous);
    lastStream.set(session, stream);
    stream.once("close", () => {
      streams?.delete(stream);
      if (stream.rstCode === http2.constants.NGHTTP2_CANCEL) countReset(session, stream);
    });
    if (session.destroyed) return;
    const method = headers[":method"];
    if (method === "CONNECT") {
      stream.respond({ ":status": 405 }, { endStream: true });
      return;
    }
    if (headers.expect !== undefined) {
      if (headers.expect !== "100-continue") {
        stream.respond({ ":status": 417 }, { endStream: true });
        return;
      }
      stream.additionalHeaders({ ":status": 100 });
    }
    // Not before the rest of what arrived with it is read: a stream the client reset in the same
    // burst (rapid reset) is then never dispatched, and costs no more than its frames.
    setImmediate(() => {
      if (!stream.destroyed && !session.destroyed) options.dispatch(new H2Exchange(stream, headers, session.encrypted === true));
    });
  });

  return {
    accept(socket) {
      server.emit("connection", socket);
    },
    closeAll() {
      closingAll = true;
      for (const session of sessions) goAway(session, http2.constants.NGHTTP2_NO_ERROR, undefined, Number.POSITIVE_INFINITY);
    },
    get open() {
      return sessions.size;
    },
  };
}
