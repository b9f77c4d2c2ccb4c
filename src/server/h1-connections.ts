import * as http from "node:http";
import type * as net from "node:net";
import type { Duplex } from "node:stream";
import * as tls from "node:tls";
import type { ConnectionLimits } from "../config.js";
import type { Exchange } from "./exchange.js";
import { H1Exchange } from "./h1-exchange.js";
import { Code } from "@connectrpc/connect";
import { ErrorReason, refusal } from "../service/error-reasons.js";
import { restErrorBody } from "./errors.js";
import { requestIdOf } from "./request-id.js";

/** Why a connection was closed by us, as metrics count it. */
export type ClosedReason = "idle_timeout" | "headers_timeout" | "reset_flood" | "protocol_error" | "goaway_grace" | "shutdown";

/** Options for {@link createH1Connections}. */
export interface H1Options {
  dispatch: (exchange: Exchange) => void;
  limits: ConnectionLimits;
  maxHeaderBytes: number;
  onClosed: (reason: ClosedReason) => void;
}

/** Per connection: what close() and the timeouts need to know. */
interface H1State {
  inFlight: number;
  /** `socket.bytesRead` when the connection last fell idle: more means a request head has begun. */
  restBytes: number;
  /** When the sweep first saw a head begun and not yet complete. */
  headSince: number | undefined;
  /** The request being served, while its body may still be arriving. */
  current: http.IncomingMessage | undefined;
  /** When the connection was accepted, or last answered its last request in flight. */
  idleSince: number;
  /** A malformed request's refusal, held until the requests before it on the connection are answered. */
  refuseWhenAnswered?: () => void;
}

/**
 * At shutdown, a connection that has been idle for less than this (since it
 * was accepted, since its last answer, or since closing began) is still
 * given the time: its client's next request may be on the wire, and closing
 * under it would reset it. An active keep-alive client sends within it and
 * is answered with `Connection: close`.
 */
export const REQUEST_GRACE_MS = 250;

/** How often, at most, the head timeouts are checked: a slow head is closed between headersTimeoutMs and a quarter of it (or a second) later. */
const SWEEP_MS = 1000;

/** The HTTP/1.1 side of the port. */
export interface H1Connections {
  /** Hands an accepted connection (TCP or TLS) to the HTTP/1.1 server. */
  accept(socket: net.Socket): void;
  /** From now on, every answer carries `Connection: close`. */
  startClosing(): void;
  /** Connections that are not {@link busy}: safe to close. */
  idle(): net.Socket[];
  /** True when this connection has a request in flight, a head arriving, or has been idle for less than {@link REQUEST_GRACE_MS}. */
  busy(socket: net.Socket): boolean;
}

/**
 * Answers an HTTP/1 request Node could not parse (oversized headers, garbage)
 * with a JSON error like every other refusal, instead of a bare status line.
 */
function answerClientError(err: NodeJS.ErrnoException, socket: Duplex): void {
  if (!socket.writable || err.code === "ECONNRESET") {
    socket.destroy();
    return;
  }
  const tooLarge = err.code === "HPE_HEADER_OVERFLOW";
  const body = JSON.stringify(
    restErrorBody(
      tooLarge
        ? refusal(Code.ResourceExhausted, ErrorReason.REQUEST_TOO_LARGE, "Request headers are too large")
        : refusal(Code.InvalidArgument, ErrorReason.REQUEST_MALFORMED, "Malformed HTTP request"),
    ),
  );
  const status = tooLarge ? "431 Request Header Fields Too Large" : "400 Bad Request";
  socket.end(
    `HTTP/1.1 ${status}\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\nX-Request-Id: ${requestIdOf(undefined)}\r\nConnection: close\r\n\r\n${body}`,
  );
}

const NO_HOST = JSON.stringify(
  restErrorBody(refusal(Code.InvalidArgument, ErrorReason.REQUEST_MALFORMED, "HTTP/1.1 requests need a Host header")),
);

/**
 * One Node http.Server that never listens: connections come from the port's
 * listener. Node enforces its header and request timeouts only on
 * connections of servers that listen themselves, so the limits are kept
 * here: a request head must be complete within `headersTimeoutMs` of its
 * first byte (slowloris; a sweep compares `socket.bytesRead`, so no listener
 * sits on the hot path), and a connection closes after `idleTimeoutMs`
 * without a byte unless it waits for our answer (a request body that stops
 * arriving counts as idle).
 */
export function createH1Connections(options: H1Options): H1Connections {
  const { limits } = options;
  const states = new Map<net.Socket, H1State>();
  /** When startClosing() was called. */
  let closingSince: number | undefined;

  const server = http.createServer({ maxHeaderSize: options.maxHeaderBytes, requireHostHeader: false }, (req, res) => {
    const socket = req.socket;
    const state = states.get(socket);
    if (state !== undefined) {
      state.headSince = undefined;
      state.inFlight++;
      state.current = req;
      res.once("close", () => {
        if (state.current === req) state.current = undefined;
        state.inFlight--;
        if (state.inFlight === 0) {
          state.restBytes = socket.bytesRead;
          state.idleSince = Date.now();
          state.refuseWhenAnswered?.();
        }
      });
    }
    if (closingSince !== undefined) res.setHeader("connection", "close");
    if (req.headers.host === undefined) {
      res.writeHead(400, {
        "content-type": "application/json",
        "content-length": Buffer.byteLength(NO_HOST),
        "x-request-id": requestIdOf(req.headers["x-request-id"]),
        connection: "close",
      });
      res.end(NO_HOST);
      return;
    }
    options.dispatch(new H1Exchange(req, res, socket instanceof tls.TLSSocket));
  });
  server.keepAliveTimeout = limits.idleTimeoutMs;
  server.on("clientError", (err: NodeJS.ErrnoException, socket: net.Socket) => {
    const state = states.get(socket);
    // Pipelined behind requests not answered yet: the refusal waits for their answers, or the client would read it as theirs.
    if (state !== undefined && state.inFlight > 0) state.refuseWhenAnswered = () => answerClientError(err, socket);
    else answerClientError(err, socket);
  });

  const sweep = setInterval(
    () => {
      const now = Date.now();
      for (const [socket, state] of states) {
        if (state.inFlight > 0 || socket.bytesRead <= state.restBytes) continue;
        state.headSince ??= now;
        if (now - state.headSince >= limits.headersTimeoutMs) {
          options.onClosed("headers_timeout");
          socket.destroy();
        }
      }
    },
    Math.min(SWEEP_MS, limits.headersTimeoutMs / 4),
  );
  sweep.unref();

  return {
    accept(socket) {
      // Bytes the cleartext listener already read to pick the protocol are this head's first.
      const now = Date.now();
      const state: H1State = {
        inFlight: 0,
        restBytes: 0,
        headSince: socket.bytesRead > 0 ? now : undefined,
        current: undefined,
        idleSince: now,
      };
      states.set(socket, state);
      socket.once("close", () => states.delete(socket));
      socket.setTimeout(limits.idleTimeoutMs, () => {
        // A slow answer is not idleness (the timeout fires again later); a body that stopped arriving is.
        if (state.inFlight > 0 && state.current?.complete !== false) return;
        options.onClosed("idle_timeout");
        socket.destroy();
      });
      server.emit("connection", socket);
    },
    startClosing() {
      closingSince = Date.now();
    },
    idle() {
      return [...states].filter(([socket]) => !this.busy(socket)).map(([socket]) => socket);
    },
    busy(socket) {
      const state = states.get(socket);
      if (state === undefined) return false;
      const headArriving = socket.bytesRead > state.restBytes;
      const idleFor = Date.now() - Math.max(state.idleSince, closingSince ?? 0);
      return state.inFlight > 0 || headArriving || idleFor < REQUEST_GRACE_MS;
    },
  };
}
