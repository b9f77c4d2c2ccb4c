import * as http from "node:http";
import * as http2 from "node:http2";
import * as net from "node:net";
import type { AddressInfo } from "node:net";
import type { Duplex } from "node:stream";
import type * as tls from "node:tls";

/** Every HTTP/2 connection with prior knowledge (h2c) starts with these bytes. */
const HTTP2_PREFACE = Buffer.from("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", "latin1");

type Request = http.IncomingMessage | http2.Http2ServerRequest;
type Response = http.ServerResponse | http2.Http2ServerResponse;
type Handler = (req: Request, res: Response) => void;

/** Serves an HTTP/2 stream itself and returns true, or returns false to leave it to `handler`. */
export type StreamHandler = (stream: http2.ServerHttp2Stream, headers: http2.IncomingHttpHeaders) => boolean;

/** Options for {@link createSinglePortServer}. */
export interface SinglePortOptions {
  handler: Handler;
  /**
   * Offered every cleartext HTTP/2 stream before `handler`, as the raw
   * stream: streams it takes never get Node's compatibility request/response
   * pair. (With TLS every stream goes to `handler`.)
   */
  streamHandler?: StreamHandler;
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
 * What Node's http2 compatibility layer does for each stream (lib/internal/
 * http2/core.js, onServerStream): wrap it in Http2ServerRequest/Response,
 * refuse CONNECT, honour `Expect: 100-continue`, then hand both to `serve`.
 */
function serveCompat(
  stream: http2.ServerHttp2Stream,
  headers: http2.IncomingHttpHeaders,
  rawHeaders: string[],
  serve: (req: http2.Http2ServerRequest, res: http2.Http2ServerResponse) => void,
): void {
  const Request = http2.Http2ServerRequest as unknown as new (
    stream: http2.ServerHttp2Stream,
    headers: http2.IncomingHttpHeaders,
    options: undefined,
    rawHeaders: string[],
  ) => http2.Http2ServerRequest;
  const Response = http2.Http2ServerResponse as unknown as new (stream: http2.ServerHttp2Stream) => http2.Http2ServerResponse;
  const req = new Request(stream, headers, undefined, rawHeaders);
  const res = new Response(stream);
  if (headers[":method"] === "CONNECT") {
    res.statusCode = 405;
    res.end();
    return;
  }
  if (headers.expect !== undefined) {
    if (headers.expect !== "100-continue") {
      res.statusCode = 417;
      res.end();
      return;
    }
    res.writeContinue();
  }
  serve(req, res);
}

/**
 * One port for HTTP/1.1 and HTTP/2. With TLS, ALPN picks the protocol
 * (`allowHTTP1`). In cleartext, Node's `allowHTTP1` does not work, so a
 * `net.Server` reads the first bytes of each connection, compares them with
 * the HTTP/2 client preface, puts them back and hands the socket to the
 * matching server with `emit("connection")`.
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
  const serveH1 = (req: http.IncomingMessage, res: http.ServerResponse) => {
    const socket = req.socket;
    h1InFlight.set(socket, (h1InFlight.get(socket) ?? 0) + 1);
    res.once("close", () => h1InFlight.set(socket, (h1InFlight.get(socket) ?? 1) - 1));
    if (closing) res.setHeader("connection", "close");
    options.handler(req, res);
  };
  const trackSession = (session: http2.ServerHttp2Session) => {
    sessions.add(session);
    session.once("close", () => sessions.delete(session));
    if (drained) setTimeout(() => session.close(), 50); // after its first streams are read
  };
  const h2Settings = { maxHeaderListSize: maxHeaderSize };

  let listener: net.Server;
  if (options.tls !== undefined) {
    const secure = http2.createSecureServer(
      { cert: options.tls.cert, key: options.tls.key, allowHTTP1: true, settings: h2Settings, maxHeaderSize } as http2.SecureServerOptions,
      (req: Request, res: Response) => {
        if (req.httpVersionMajor !== 2) {
          serveH1(req as unknown as http.IncomingMessage, res as unknown as http.ServerResponse);
          return;
        }
        // With TLS, allowHTTP1 needs the "request" listener, so Node has already built the
        // compatibility pair; the raw-stream handler would fight it for the stream.
        options.handler(req, res);
      },
    );
    secure.on("secureConnection", (socket: tls.TLSSocket) => {
      track(socket);
      if (socket.alpnProtocol === "h2") h2Sockets.add(socket);
      else h1InFlight.set(socket, 0);
    });
    secure.on("session", trackSession);
    secure.on("clientError", answerClientError);
    listener = secure;
  } else {
    const h1 = http.createServer({ maxHeaderSize }, serveH1);
    h1.keepAliveTimeout = 65_000; // longer than common load balancer idle timeouts
    h1.on("clientError", answerClientError);
    // No "request" listener: that would make Node build a compatibility pair for every stream.
    const h2 = http2.createServer({ settings: h2Settings });
    h2.on("stream", (stream: http2.ServerHttp2Stream, headers: http2.IncomingHttpHeaders, _flags: number, rawHeaders: string[]) => {
      if (options.streamHandler?.(stream, headers)) return;
      serveCompat(stream, headers, rawHeaders, options.handler);
    });
    h2.on("session", trackSession);
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
        if (http2Prefix) {
          h2Sockets.add(socket);
          h2.emit("connection", socket);
        } else {
          h1InFlight.set(socket, 0);
          h1.emit("connection", socket);
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
