import * as http from "node:http";
import * as http2 from "node:http2";
import * as net from "node:net";
import type { AddressInfo } from "node:net";
import type { Duplex } from "node:stream";
import * as tls from "node:tls";
import type { Exchange } from "./exchange.js";
import { H1Exchange } from "./h1-exchange.js";
import { H2Exchange } from "./h2-exchange.js";

/** Every HTTP/2 connection with prior knowledge (h2c) starts with these bytes. */
const HTTP2_PREFACE = Buffer.from("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", "latin1");

/** Options for {@link createSinglePortServer}. */
export interface SinglePortOptions {
  /** Answers every request, HTTP/1.1 and HTTP/2, cleartext and TLS alike. */
  dispatch: (exchange: Exchange) => void;
  /** PEM certificate chain and key: serve TLS, with ALPN choosing h2 or http/1.1. */
  tls?: { cert: Buffer; key: Buffer } | undefined;
  /** Larger request headers get 431 (HTTP/1) or a refused stream (HTTP/2). Node's default is 16 KiB. */
  maxHeaderBytes?: number | undefined;
  /** A cleartext connection that sends nothing for this long is dropped before it is routed. */
  sniffTimeoutMs?: number;
}

/** HTTP/1.1 and HTTP/2 on one port. */
export interface SinglePortServer {
  listen(port: number, host?: string): Promise<AddressInfo>;
  /**
   * Graceful stop. For `drainMs` it keeps accepting and reading, so requests
   * already on the wire (even in the kernel's accept backlog) are served,
   * while HTTP/1 answers carry `Connection: close`. Then it stops accepting,
   * sends GOAWAY to HTTP/2 sessions, closes idle connections, lets in-flight
   * requests finish, and destroys whatever is still open at `deadlineMs`.
   */
  close(deadlineMs?: number, drainMs?: number): Promise<void>;
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
  const body = JSON.stringify({
    success: false,
    info: tooLarge ? "Request headers are too large" : "Malformed HTTP request",
    code: tooLarge ? "resource_exhausted" : "invalid_argument",
  });
  const status = tooLarge ? "431 Request Header Fields Too Large" : "400 Bad Request";
  socket.end(
    `HTTP/1.1 ${status}\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`,
  );
}

/**
 * One port for HTTP/1.1 and HTTP/2, cleartext or TLS, with one path from a
 * connection to {@link SinglePortOptions.dispatch}: a listener picks the
 * protocol of each connection (the HTTP/2 preface in cleartext, ALPN under
 * TLS) and hands the connection to one HTTP/1.1 server or one HTTP/2 server
 * by emitting `connection`, which Node documents for injecting any Duplex
 * into either (http and http2 docs, Event: 'connection'). HTTP/2 streams are
 * served raw (`stream` event), never through Node's compatibility layer.
 */
export function createSinglePortServer(options: SinglePortOptions): SinglePortServer {
  const maxHeaderSize = options.maxHeaderBytes ?? 32 * 1024;
  const sockets = new Set<net.Socket>();
  const sessions = new Set<http2.ServerHttp2Session>();
  // Requests in flight per HTTP/1 connection. Node tracks idle connections
  // only for servers that listen themselves, so close() uses this instead.
  const h1InFlight = new Map<net.Socket, number>();
  // Connections an HTTP/2 session owns; GOAWAY closes them once their streams end.
  const h2Sockets = new WeakSet<net.Socket>();
  let closing = false; // HTTP/1 answers say Connection: close
  let drained = false; // drain is over: GOAWAY, no more accepts

  const track = (socket: net.Socket) => {
    // Responses are several small writes (HTTP/2 HEADERS, DATA, trailers): without
    // TCP_NODELAY, Nagle holds the later ones for the peer's delayed ACK (~40 ms).
    socket.setNoDelay(true);
    sockets.add(socket);
    socket.once("close", () => {
      sockets.delete(socket);
      h1InFlight.delete(socket);
    });
  };

  const h1 = http.createServer({ maxHeaderSize }, (req, res) => {
    const socket = req.socket;
    h1InFlight.set(socket, (h1InFlight.get(socket) ?? 0) + 1);
    res.once("close", () => h1InFlight.set(socket, (h1InFlight.get(socket) ?? 1) - 1));
    if (closing) res.setHeader("connection", "close");
    options.dispatch(new H1Exchange(req, res, socket instanceof tls.TLSSocket));
  });
  h1.keepAliveTimeout = 65_000; // longer than common load balancer idle timeouts
  h1.on("clientError", answerClientError);

  const h2 = http2.createServer({ settings: { maxHeaderListSize: maxHeaderSize } });
  h2.on("stream", (stream: http2.ServerHttp2Stream, headers: http2.IncomingHttpHeaders) => {
    // Failures show as 'close' with an RST code; without a listener an 'error' would throw.
    stream.on("error", () => {});
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
    options.dispatch(new H2Exchange(stream, headers, stream.session?.encrypted === true));
  });
  h2.on("session", (session: http2.ServerHttp2Session) => {
    sessions.add(session);
    session.once("close", () => sessions.delete(session));
    if (drained) setTimeout(() => session.close(), 50); // after its first streams are read
  });
  h2.on("sessionError", () => {}); // the session is destroyed; nothing to add

  const toH2 = (socket: net.Socket) => {
    h2Sockets.add(socket);
    h2.emit("connection", socket);
  };
  const toH1 = (socket: net.Socket) => {
    h1InFlight.set(socket, 0);
    h1.emit("connection", socket);
  };

  let listener: net.Server;
  if (options.tls !== undefined) {
    listener = tls.createServer({ cert: options.tls.cert, key: options.tls.key, ALPNProtocols: ["h2", "http/1.1"] }, (socket) => {
      track(socket);
      socket.on("error", () => socket.destroy());
      if (socket.alpnProtocol === "h2") toH2(socket);
      else toH1(socket); // http/1.1, or a client that offered no ALPN
    });
  } else {
    listener = net.createServer((socket) => {
      track(socket);
      socket.on("error", () => socket.destroy());
      socket.setTimeout(options.sniffTimeoutMs ?? 10_000, () => socket.destroy());
      let received: Buffer = Buffer.alloc(0);
      const onData = (chunk: Buffer) => {
        received = received.length === 0 ? chunk : Buffer.concat([received, chunk]);
        const n = Math.min(received.length, HTTP2_PREFACE.length);
        const http2Prefix = received.subarray(0, n).equals(HTTP2_PREFACE.subarray(0, n));
        if (http2Prefix && n < HTTP2_PREFACE.length) return; // wait for the rest of the preface
        socket.removeListener("data", onData);
        socket.setTimeout(0);
        socket.pause();
        socket.unshift(received);
        if (http2Prefix) toH2(socket);
        else {
          toH1(socket);
          socket.resume();
        }
      };
      socket.on("data", onData);
    });
  }

  return {
    listen(port, host) {
      return new Promise((resolve, reject) => {
        listener.once("error", reject);
        listener.listen(port, host, () => {
          listener.removeListener("error", reject);
          resolve(listener.address() as AddressInfo);
        });
      });
    },
    async close(deadlineMs = 10_000, drainMs = 500) {
      const started = Date.now();
      closing = true;
      const tick = () => new Promise((resolve) => setTimeout(resolve, 10));
      while (Date.now() - started < Math.min(drainMs, deadlineMs / 2)) await tick();
      drained = true;
      const stopped = new Promise<void>((resolve) => listener.close(() => resolve()));
      for (const session of sessions) session.close();
      while (sockets.size > 0 && Date.now() - started < deadlineMs) {
        for (const socket of sockets) {
          const inFlight = h1InFlight.get(socket);
          // Idle keep-alive HTTP/1 connections, and ones that never sent a byte, go now.
          if (inFlight === 0 || (inFlight === undefined && !h2Sockets.has(socket))) socket.destroy();
        }
        await tick();
      }
      for (const socket of sockets) socket.destroy();
      await stopped;
    },
  };
}
