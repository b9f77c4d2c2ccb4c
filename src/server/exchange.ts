import type { IncomingHttpHeaders, OutgoingHttpHeaders } from "node:http";

/**
 * One HTTP request and its response, whatever carried it: an HTTP/1.1
 * request on Node's http.Server, or a raw HTTP/2 stream, over cleartext or
 * TLS alike. Every transport (gRPC, Connect, REST, probes) is written against
 * this, so a protocol is served by the same code on h1, h2c and TLS, and no
 * transport needs Node's HTTP/2 compatibility objects.
 */
export interface Exchange {
  readonly httpVersion: "1.1" | "2";
  /** Upper-case request method. */
  readonly method: string;
  /** The request target as sent: path and query. */
  readonly target: string;
  /** `:authority`, or the Host header. */
  readonly authority: string;
  /** True over TLS. */
  readonly encrypted: boolean;
  /** Request headers, lower-case names (HTTP/2 pseudo-headers included). */
  readonly headers: IncomingHttpHeaders;
  /**
   * Reads the request to its end and returns its body. Rejects with
   * `tooLarge()` past `maxBytes` (the rest is discarded unread), and with
   * {@link RequestCancelled} when the client cancels or goes away before the
   * request is complete: such a request must never be acted on.
   */
  readBody(maxBytes: number, tooLarge: () => Error): Promise<Buffer>;
  /** True when the request's head says it has no body and is already complete (a GET): no read needed. */
  readonly bodiless: boolean;
  /** The request body as it arrives, for streaming RPCs; ends with an error when the client cancels first. */
  bodyChunks(): AsyncIterable<Uint8Array>;
  /** Aborts when the client goes away before the response is complete (reason: {@link RequestCancelled}). */
  readonly signal: AbortSignal;
  /** True once response headers are on their way. */
  readonly responded: boolean;
  /**
   * The call's request id (see `requestIdOf`): made on first use, sent as
   * `x-request-id` on every response this exchange sends, whatever the protocol.
   */
  readonly requestId: string;
  /** Adds a header to whatever response this exchange sends (CORS). */
  setResponseHeader(name: string, value: string): void;
  /** Sends a whole response at once. `trailers` need HTTP/2 (gRPC). */
  respond(status: number, headers: OutgoingHttpHeaders, body?: Uint8Array | string, trailers?: OutgoingHttpHeaders): void;
  /** Starts a response whose body follows with {@link write}; {@link end} finishes it, with trailers on HTTP/2. */
  start(status: number, headers: OutgoingHttpHeaders, withTrailers: boolean): void;
  /** Writes a body chunk; resolves once the transport can take more (backpressure). */
  write(chunk: Uint8Array): Promise<void>;
  end(trailers?: OutgoingHttpHeaders): void;
  /** Gives up on the exchange: RST_STREAM on HTTP/2, the connection on HTTP/1.1. */
  reset(): void;
}

/** The client cancelled the request, or went away, before it was complete or answered. */
export class RequestCancelled extends Error {
  override name = "RequestCancelled";
}
