import * as net from "node:net";
import type { AddressInfo } from "node:net";
import * as tls from "node:tls";
import type { ConnectionLimits } from "../config.js";
import type { Exchange } from "./exchange.js";
import { type ClosedReason, createH1Connections, REQUEST_GRACE_MS } from "./h1-connections.js";
import { createH2Sessions } from "./h2-sessions.js";

/** Every HTTP/2 connection with prior knowledge (h2c) starts with these bytes. */
const HTTP2_PREFACE = Buffer.from("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", "latin1");

/** Idle TCP connections are probed after this long, so a peer that vanished without a FIN is noticed. */
const TCP_KEEPALIVE_MS = 30_000;

/** The limits when none are given (tests that build a bare server). */
export const DEFAULT_CONNECTION_LIMITS: ConnectionLimits = {
  idleTimeoutMs: 65_000,
  headersTimeoutMs: 10_000,
  maxConcurrentStreams: 100,
  maxResetsPer10s: 200,
};

/** Options for {@link createSinglePortServer}. */
export interface SinglePortOptions {
  /** Answers every request, HTTP/1.1 and HTTP/2, cleartext and TLS alike. */
  dispatch: (exchange: Exchange) => void;
  /** PEM certificate chain and key: serve TLS, with ALPN choosing h2 or http/1.1. */
  tls?: { cert: Buffer; key: Buffer } | undefined;
  /** Larger request headers get 431 (HTTP/1) or a refused stream (HTTP/2). Node's default is 16 KiB. */
  maxHeaderBytes?: number | undefined;
  limits?: ConnectionLimits;
  /** Each connection we close for a limit (idle, slow head, reset flood...), for metrics. */
  onConnectionClosed?: (reason: ClosedReason) => void;
}

/** HTTP/1.1 and HTTP/2 on one port. */
export interface SinglePortServer {
  listen(port: number, host?: string): Promise<AddressInfo>;
  /**
   * Graceful stop. For `drainMs` it serves as before (accepting, keep-alive),
   * while readiness says no and load balancers move clients away. Then it
   * stops accepting (keep-alive clients are not reconnecting, so the
   * kernel's accept backlog, which a listener's close resets, is empty),
   * sends GOAWAY to HTTP/2 sessions, answers HTTP/1 requests with
   * `Connection: close`, and closes HTTP/1 connections once they have been
   * idle for REQUEST_GRACE_MS (an active client's next request is answered,
   * not reset). Whatever is still open at `deadlineMs` is destroyed.
   */
  close(deadlineMs?: number, drainMs?: number): Promise<void>;
}

/**
 * One port for HTTP/1.1 and HTTP/2, cleartext or TLS, with one path from a
 * connection to {@link SinglePortOptions.dispatch}: a listener picks the
 * protocol of each connection (the HTTP/2 preface in cleartext, ALPN under
 * TLS) and hands the connection to one HTTP/1.1 server or one HTTP/2 server
 * by emitting `connection`, which Node documents for injecting any Duplex
 * into either (http and http2 docs, Event: 'connection'). HTTP/2 streams are
 * served raw (`stream` event), never through Node's compatibility layer.
 * Every connection gets TCP_NODELAY, TCP keepalive, and the limits of
 * h1-connections.ts and h2-sessions.ts.
 */
export function createSinglePortServer(options: SinglePortOptions): SinglePortServer {
  const limits = options.limits ?? DEFAULT_CONNECTION_LIMITS;
  const maxHeaderBytes = options.maxHeaderBytes ?? 32 * 1024;
  const onClosed = options.onConnectionClosed ?? (() => {});
  /** Every accepted connection, with when it was accepted. */
  const sockets = new Map<net.Socket, number>();
  const h1 = createH1Connections({ dispatch: options.dispatch, limits, maxHeaderBytes, onClosed });
  const h2 = createH2Sessions({ dispatch: options.dispatch, limits, maxHeaderBytes, onClosed });
  const h2Sockets = new WeakSet<net.Socket>();
  const h1Sockets = new WeakSet<net.Socket>();
  const toH1 = (socket: net.Socket) => {
    h1Sockets.add(socket);
    h1.accept(socket);
  };

  const track = (socket: net.Socket) => {
    // Responses are several small writes (HTTP/2 HEADERS, DATA, trailers): without
    // TCP_NODELAY, Nagle holds the later ones for the peer's delayed ACK (~40 ms).
    socket.setNoDelay(true);
    socket.setKeepAlive(true, TCP_KEEPALIVE_MS);
    sockets.set(socket, Date.now());
    socket.once("close", () => sockets.delete(socket));
    socket.on("error", () => socket.destroy());
  };
  const toH2 = (socket: net.Socket) => {
    h2Sockets.add(socket);
    h2.accept(socket);
  };

  let listener: net.Server;
  if (options.tls !== undefined) {
    listener = tls.createServer(
      { cert: options.tls.cert, key: options.tls.key, ALPNProtocols: ["h2", "http/1.1"], handshakeTimeout: limits.headersTimeoutMs },
      (socket) => {
        track(socket);
        if (socket.alpnProtocol === "h2") toH2(socket);
        else toH1(socket); // http/1.1, or a client that offered no ALPN
      },
    );
    listener.on("tlsClientError", (_err, socket) => socket.destroy());
  } else {
    listener = net.createServer((socket) => {
      track(socket);
      // The first bytes pick the protocol, and must come within the head timeout.
      socket.setTimeout(limits.headersTimeoutMs, () => {
        onClosed("headers_timeout");
        socket.destroy();
      });
      let received: Buffer = Buffer.alloc(0);
      const onData = (chunk: Buffer) => {
        received = received.length === 0 ? chunk : Buffer.concat([received, chunk]);
        const n = Math.min(received.length, HTTP2_PREFACE.length);
        const http2Prefix = received.subarray(0, n).equals(HTTP2_PREFACE.subarray(0, n));
        if (http2Prefix && n < HTTP2_PREFACE.length) return; // wait for the rest of the preface
        socket.removeListener("data", onData);
        socket.removeAllListeners("timeout");
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
      const tick = () => new Promise((resolve) => setTimeout(resolve, 10));
      while (Date.now() - started < Math.min(drainMs, deadlineMs / 2)) await tick();
      const stopped = new Promise<void>((resolve) => listener.close(() => resolve()));
      const closingSince = Date.now();
      h1.startClosing();
      h2.closeAll();
      while (sockets.size > 0 && Date.now() - started < deadlineMs) {
        for (const socket of h1.idle()) socket.destroy();
        // A connection with no protocol yet (sniffing, or mid-handshake) that has sent nothing within the grace goes too.
        const now = Date.now();
        for (const [socket, acceptedAt] of sockets) {
          const quietFor = now - Math.max(acceptedAt, closingSince);
          if (!h1Sockets.has(socket) && !h2Sockets.has(socket) && socket.bytesRead === 0 && quietFor >= REQUEST_GRACE_MS) socket.destroy();
        }
        await tick();
      }
      for (const socket of sockets.keys()) socket.destroy();
      await stopped;
    },
  };
}
